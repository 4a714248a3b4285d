// Filter: the metadata filter language, compiled once, evaluated per candidate document.
//
// A filter is a JSON object over the document's metadata object:
//
//   {"kind": "photo"}                          equality (string, number, bool, null)
//   {"year": {"$gte": 2000, "$lt": 2010}}      $gt $gte $lt $lte on numbers (all must hold)
//   {"tag": {"$in": ["cat", "dog"]}}           membership; also {"$eq": v}, {"$ne": v}, {"$nin":
//   [...]}
//   {"camera": {"$exists": true}}             the field is present (any value, null included);
//                                              false: it is absent
//   {"$and": [f, ...]}  {"$or": [f, ...]}  {"$not": f}
//   {"kind": "photo", "year": 2004}            several keys in one object: all must hold
//   {}                                         matches every document
//
// Semantics, fixed so results are predictable:
// - A field name is a path: "camera.model" looks up metadata["camera"]["model"]. A key that
//   itself contains a dot cannot be addressed.
// - Numbers compare by value (1 equals 1.0); strings, booleans and null only equal themselves.
// - A missing field equals nothing and is neither greater nor less than anything, so
//   {"x": {"$gt": 1}} does not match a document without x, while {"$not": {"x": 1}},
//   {"x": {"$ne": 1}} and {"x": {"$nin": [1]}} do.
// - When the field holds an array, equality and $in match if any element matches (tags).
//   Comparisons ($gt...) never match arrays.
// - Operands of $eq/$ne/$in/$nin must be scalars (string, number, bool, null); operands of
//   $gt/$gte/$lt/$lte must be numbers; $and/$or need a non-empty array of filters.
//
// - $exists takes true or false; a field holding null exists.
//
// docs/filters.md is the user-facing description, with an example of every operator.
//
// Errors name the place in the filter ("filter.$and[1].year: $gt expects a number, got
// string"). Thread-safety: a compiled Filter is immutable; copies share the compiled tree and
// matches() may be called from any number of threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace vista::engine {

class Filter {
 public:
  // A filter that matches everything (same as compiling {}).
  Filter();

  // Compiles a filter given as a JSON value. InvalidArgument when it is not an object, uses an
  // unknown $operator, or an operand has the wrong type.
  static Result<Filter> compile(const nlohmann::json& spec);
  // Parses JSON text, then compiles it. InvalidArgument for malformed JSON (with the position).
  static Result<Filter> parse(std::string_view json_text);

  // True when the metadata object satisfies the filter. A non-object metadata value is treated
  // as an empty object.
  bool matches(const nlohmann::json& metadata) const;

  // True for the filter that matches everything; lets callers skip the per-document check.
  bool matches_all() const;

  // The filter as given (canonical JSON text), for logs and error messages.
  std::string to_string() const;

  struct Node;

 private:
  explicit Filter(std::shared_ptr<const Node> root, std::string text);
  std::shared_ptr<const Node> root_;
  std::string text_;
};

}  // namespace vista::engine

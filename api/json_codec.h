// Request parsing and response formatting for the JSON API (internal to api/).
//
// Parsing helpers throw ApiError (api/http_errors.h); the route dispatcher catches it and writes
// the error response, so handlers read as straight-line code. Nothing here crosses api/'s
// public boundary (ApiServer), which reports Status.
//
// Shape rules, applied everywhere: a body must be a JSON object; unknown fields are refused
// (400, naming them: a typo such as "with_metdata" must not be silently ignored); a field of the
// wrong type is 400 naming the field and the expected type; JSON nested deeper than
// kMaxJsonDepth is 400.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http_errors.h"
#include "engine/collection.h"

namespace httplib {
struct Request;
}  // namespace httplib

namespace vista::api {

inline constexpr int kMaxJsonDepth = 64;

// Parses JSON text; ApiError 400 with the position for malformed or too deeply nested JSON.
nlohmann::json parse_json(std::string_view text, std::string_view what);

// The body of a JSON request: 415 unless Content-Type is application/json (or +json), then
// parse_json.
nlohmann::json parse_json_body(const httplib::Request& req);

// Reads the fields of one JSON object with type checks. `where` prefixes messages
// ("documents[3]"). finish() refuses fields that were never read.
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& value, std::string where);

  bool has(const char* key) const;
  std::optional<std::string> string(const char* key);
  // An id: a string, or an integer (written in decimal).
  std::optional<std::string> id(const char* key);
  std::optional<int64_t> integer(const char* key);
  std::optional<bool> boolean(const char* key);
  std::optional<nlohmann::json> object(const char* key);
  // Any JSON value (for filters, whose shape the engine checks).
  std::optional<nlohmann::json> any(const char* key);
  // An array of numbers, as floats (the query vector). `max` bounds its length.
  std::optional<std::vector<float>> floats(const char* key, size_t max);
  std::optional<nlohmann::json> array(const char* key);
  void finish() const;

  const std::string& where() const { return where_; }

 private:
  const nlohmann::json* get(const char* key);
  [[noreturn]] void wrong(const char* key, const char* expected) const;
  const nlohmann::json& value_;
  std::string where_;
  std::set<std::string> read_;
};

nlohmann::json collection_json(const engine::CollectionInfo& info);
// `image_url`: where the document's image can be fetched, or empty when it has none.
nlohmann::json document_json(const engine::Document& doc, bool with_vector,
                             const std::string& image_url);
nlohmann::json hit_json(const engine::SearchHit& hit, bool with_metadata, bool with_vector);

// Where the server returns a document's picture (".../documents/{id}/image"), or "" when the
// document has none: an uploaded image, or a source that names an image file that exists (the
// server checks, when asked, that the file still holds the bytes that were indexed). One rule
// for the server's responses and the CLI's --json output.
std::string document_image_url(const std::string& collection, const engine::Document& doc);

// Reads a file a document was indexed from: a regular file (symlinks followed: the user who
// indexed it chose it) of at most max_bytes. NotFound / InvalidArgument / ResourceExhausted.
Result<std::string> read_indexed_file(const std::string& path, uint64_t max_bytes);

// Lowercase hex of the bytes, and back (nullopt for odd length or a non-hex digit).
std::string hex_encode(std::string_view bytes);
std::optional<std::string> hex_decode(std::string_view hex);

// Percent-encodes one path segment (for URLs the server hands out).
std::string encode_path_segment(std::string_view segment);
// Decodes %XX escapes of one path segment. Returns false for a malformed escape.
bool decode_path_segment(std::string_view segment, std::string* out);

// Serialises for a response body: invalid UTF-8 in stored strings is replaced, never thrown.
std::string dump(const nlohmann::json& value);

}  // namespace vista::api

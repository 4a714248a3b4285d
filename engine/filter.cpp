#include "engine/filter.h"

#include <nlohmann/json.hpp>

#include <vector>

namespace vista::engine {

using nlohmann::json;

struct Filter::Node {
  enum class Kind { kAll, kAnd, kOr, kNot, kEq, kNe, kIn, kNin, kGt, kGte, kLt, kLte, kExists };
  Kind kind = Kind::kAll;
  std::vector<Node> children;     // kAnd, kOr, kNot (one)
  std::vector<std::string> path;  // field ops
  std::vector<json> values;       // kEq/kNe: one; kIn/kNin: the set
  double number = 0;              // comparisons
  bool exists = true;             // kExists: whether the field must be present
};

namespace {

using Node = Filter::Node;
using Kind = Filter::Node::Kind;

std::string type_name(const json& v) {
  return v.type_name();
}

bool is_scalar(const json& v) {
  return v.is_primitive() && !v.is_binary();
}

// Numbers compare by value whatever their JSON representation; other types only to themselves.
bool scalar_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_integer() && b.is_number_integer()) {
      if (a.is_number_unsigned() || b.is_number_unsigned()) {
        // Compare via signs to avoid overflow.
        if (a.is_number_unsigned() && b.is_number_unsigned())
          return a.get<uint64_t>() == b.get<uint64_t>();
        const json& s = a.is_number_unsigned() ? b : a;
        const json& u = a.is_number_unsigned() ? a : b;
        return s.get<int64_t>() >= 0 &&
               static_cast<uint64_t>(s.get<int64_t>()) == u.get<uint64_t>();
      }
      return a.get<int64_t>() == b.get<int64_t>();
    }
    return a.get<double>() == b.get<double>();
  }
  if (a.type() != b.type()) return false;
  return a == b;
}

const json* lookup(const json& metadata, const std::vector<std::string>& path) {
  const json* cur = &metadata;
  for (const auto& part : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

bool any_equal(const json& field, const std::vector<json>& values) {
  auto one = [&](const json& v) {
    for (const auto& candidate : values) {
      if (scalar_equal(v, candidate)) return true;
    }
    return false;
  };
  if (field.is_array()) {
    for (const auto& el : field) {
      if (one(el)) return true;
    }
    return false;
  }
  return one(field);
}

bool eval(const Node& n, const json& metadata) {
  switch (n.kind) {
    case Kind::kAll: return true;
    case Kind::kAnd:
      for (const auto& c : n.children) {
        if (!eval(c, metadata)) return false;
      }
      return true;
    case Kind::kOr:
      for (const auto& c : n.children) {
        if (eval(c, metadata)) return true;
      }
      return false;
    case Kind::kNot: return !eval(n.children[0], metadata);
    default: break;
  }
  const json* field = lookup(metadata, n.path);
  switch (n.kind) {
    case Kind::kExists: return (field != nullptr) == n.exists;
    case Kind::kEq:
    case Kind::kIn: return field != nullptr && any_equal(*field, n.values);
    case Kind::kNe:
    case Kind::kNin: return field == nullptr || !any_equal(*field, n.values);
    default: break;
  }
  if (field == nullptr || !field->is_number()) return false;
  const double v = field->get<double>();
  switch (n.kind) {
    case Kind::kGt: return v > n.number;
    case Kind::kGte: return v >= n.number;
    case Kind::kLt: return v < n.number;
    case Kind::kLte: return v <= n.number;
    default: return false;
  }
}

std::vector<std::string> split_path(const std::string& field) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = field.find('.', start);
    parts.push_back(
        field.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Status compile_object(const json& spec, const std::string& where, Node* out);

Status compile_list(const json& v, const std::string& where, const std::string& op, Node* out) {
  if (!v.is_array() || v.empty()) {
    return Status::invalid_argument(where + ": " + op +
                                    " expects a non-empty array of filters, got " +
                                    (v.is_array() ? "an empty array" : type_name(v)));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    Node child;
    VISTA_RETURN_IF_ERROR(
        compile_object(v[i], where + "." + op + "[" + std::to_string(i) + "]", &child));
    out->children.push_back(std::move(child));
  }
  return Status::ok();
}

Status compile_field_op(const std::vector<std::string>& path, const std::string& op,
                        const json& operand, const std::string& where, Node* out) {
  out->path = path;
  if (op == "$eq" || op == "$ne") {
    if (!is_scalar(operand)) {
      return Status::invalid_argument(where + ": " + op +
                                      " expects a string, number, boolean or null, got " +
                                      type_name(operand));
    }
    out->kind = op == "$eq" ? Kind::kEq : Kind::kNe;
    out->values = {operand};
    return Status::ok();
  }
  if (op == "$in" || op == "$nin") {
    if (!operand.is_array()) {
      return Status::invalid_argument(where + ": " + op + " expects an array, got " +
                                      type_name(operand));
    }
    for (size_t i = 0; i < operand.size(); ++i) {
      if (!is_scalar(operand[i])) {
        return Status::invalid_argument(where + "[" + std::to_string(i) +
                                        "]: expected a string, number, boolean or null, got " +
                                        type_name(operand[i]));
      }
    }
    out->kind = op == "$in" ? Kind::kIn : Kind::kNin;
    out->values.assign(operand.begin(), operand.end());
    return Status::ok();
  }
  if (op == "$gt" || op == "$gte" || op == "$lt" || op == "$lte") {
    if (!operand.is_number()) {
      return Status::invalid_argument(where + ": " + op + " expects a number, got " +
                                      type_name(operand));
    }
    out->kind = op == "$gt"    ? Kind::kGt
                : op == "$gte" ? Kind::kGte
                : op == "$lt"  ? Kind::kLt
                               : Kind::kLte;
    out->number = operand.get<double>();
    return Status::ok();
  }
  if (op == "$exists") {
    if (!operand.is_boolean()) {
      return Status::invalid_argument(where + ": $exists expects true or false, got " +
                                      type_name(operand));
    }
    out->kind = Kind::kExists;
    out->exists = operand.get<bool>();
    return Status::ok();
  }
  return Status::invalid_argument(where + ": unknown operator " + op +
                                  " (known: $eq $ne $in $nin $gt $gte $lt $lte $exists)");
}

Status compile_field(const std::string& field, const json& value, const std::string& where,
                     Node* out) {
  if (field.empty() || field.front() == '.' || field.back() == '.' ||
      field.find("..") != std::string::npos) {
    return Status::invalid_argument(where + ": invalid field name '" + field + "'");
  }
  const auto path = split_path(field);
  if (is_scalar(value)) return compile_field_op(path, "$eq", value, where + ".$eq", out);
  if (value.is_array()) {
    return Status::invalid_argument(
        where + ": an array cannot be compared for equality; use {\"$in\": [...]}");
  }
  if (!value.is_object() || value.empty()) {
    return Status::invalid_argument(
        where + ": expected a value or an operator object like {\"$gt\": 1}, got " +
        (value.is_object() ? "an empty object" : type_name(value)));
  }
  std::vector<Node> ops;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (it.key().empty() || it.key()[0] != '$') {
      return Status::invalid_argument(where + ": '" + it.key() +
                                      "' is not an operator; nested objects are addressed as \"" +
                                      field + "." + it.key() + "\"");
    }
    Node n;
    VISTA_RETURN_IF_ERROR(compile_field_op(path, it.key(), it.value(), where + "." + it.key(), &n));
    ops.push_back(std::move(n));
  }
  if (ops.size() == 1) {
    *out = std::move(ops[0]);
  } else {
    out->kind = Kind::kAnd;
    out->children = std::move(ops);
  }
  return Status::ok();
}

Status compile_object(const json& spec, const std::string& where, Node* out) {
  if (!spec.is_object()) {
    return Status::invalid_argument(where + ": a filter must be a JSON object, got " +
                                    type_name(spec));
  }
  std::vector<Node> parts;
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    const std::string& key = it.key();
    Node n;
    if (!key.empty() && key[0] == '$') {
      if (key == "$and" || key == "$or") {
        n.kind = key == "$and" ? Kind::kAnd : Kind::kOr;
        VISTA_RETURN_IF_ERROR(compile_list(it.value(), where, key, &n));
      } else if (key == "$not") {
        n.kind = Kind::kNot;
        Node child;
        VISTA_RETURN_IF_ERROR(compile_object(it.value(), where + ".$not", &child));
        n.children.push_back(std::move(child));
      } else {
        return Status::invalid_argument(where + ": unknown operator " + key +
                                        " (top-level operators: $and $or $not)");
      }
    } else {
      VISTA_RETURN_IF_ERROR(compile_field(key, it.value(), where + "." + key, &n));
    }
    parts.push_back(std::move(n));
  }
  if (parts.empty()) {
    out->kind = Kind::kAll;
  } else if (parts.size() == 1) {
    *out = std::move(parts[0]);
  } else {
    out->kind = Kind::kAnd;
    out->children = std::move(parts);
  }
  return Status::ok();
}

const json& empty_object() {
  static const json kEmpty = json::object();
  return kEmpty;
}

}  // namespace

Filter::Filter() : root_(std::make_shared<Node>()), text_("{}") {}

Filter::Filter(std::shared_ptr<const Node> root, std::string text)
    : root_(std::move(root)), text_(std::move(text)) {}

Result<Filter> Filter::compile(const json& spec) {
  auto root = std::make_shared<Node>();
  VISTA_RETURN_IF_ERROR(compile_object(spec, "filter", root.get()));
  return Filter(std::move(root), spec.dump());
}

Result<Filter> Filter::parse(std::string_view json_text) {
  json spec;
  try {
    spec = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return Status::invalid_argument("filter is not valid JSON (at byte " + std::to_string(e.byte) +
                                    "): " + e.what());
  } catch (const json::exception& e) {
    // e.g. out_of_range for a number beyond double (1E666): found by the request fuzzer.
    return Status::invalid_argument(std::string("filter is not valid JSON: ") + e.what());
  }
  return compile(spec);
}

bool Filter::matches(const json& metadata) const {
  return eval(*root_, metadata.is_object() ? metadata : empty_object());
}

bool Filter::matches_all() const {
  return root_->kind == Node::Kind::kAll;
}

std::string Filter::to_string() const {
  return text_;
}

}  // namespace vista::engine

#include "api/json_codec.h"

#include <filesystem>
#include <fstream>

#include "engine/image_store.h"

#include <httplib.h>

#include <cctype>
#include <cmath>
#include <limits>

namespace vista::api {

using nlohmann::json;

namespace {

struct TooDeep {};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

json parse_json(std::string_view text, std::string_view what) {
  if (text.empty())
    throw ApiError::malformed(std::string(what) + " is empty; a JSON object is expected");
  try {
    return json::parse(text, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw TooDeep{};
      return true;
    });
  } catch (const TooDeep&) {
    throw ApiError::malformed(std::string(what) + " is nested more than " +
                              std::to_string(kMaxJsonDepth) + " levels deep");
  } catch (const json::exception& e) {
    throw ApiError::malformed(std::string(what) + " is not valid JSON: " + e.what());
  }
}

json parse_json_body(const httplib::Request& req) {
  const std::string type = lower(req.get_header_value("Content-Type"));
  const std::string base = type.substr(0, type.find(';'));
  auto trimmed = base;
  while (!trimmed.empty() && trimmed.back() == ' ') trimmed.pop_back();
  const bool is_json = trimmed == "application/json" ||
                       (trimmed.size() > 5 && trimmed.compare(trimmed.size() - 5, 5, "+json") == 0);
  if (!is_json)
    throw ApiError::unsupported_media_type(
        "this endpoint takes a JSON body: send Content-Type: application/json (got '" +
        req.get_header_value("Content-Type") + "')");
  return parse_json(req.body, "the request body");
}

ObjectReader::ObjectReader(const json& value, std::string where)
    : value_(value), where_(std::move(where)) {
  if (!value_.is_object())
    throw ApiError::malformed(where_ + " must be a JSON object, got " +
                              std::string(value_.type_name()));
}

bool ObjectReader::has(const char* key) const {
  auto it = value_.find(key);
  return it != value_.end() && !it->is_null();
}

const json* ObjectReader::get(const char* key) {
  read_.insert(key);
  auto it = value_.find(key);
  if (it == value_.end() || it->is_null()) return nullptr;
  return &*it;
}

void ObjectReader::wrong(const char* key, const char* expected) const {
  const json& v = value_.at(key);
  throw ApiError::malformed(where_ + "." + key + " must be " + expected + ", got " +
                            std::string(v.type_name()));
}

std::optional<std::string> ObjectReader::string(const char* key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong(key, "a string");
  return v->get<std::string>();
}

std::optional<std::string> ObjectReader::id(const char* key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return v->dump();
  wrong(key, "a string or an integer");
}

std::optional<int64_t> ObjectReader::integer(const char* key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return std::numeric_limits<int64_t>::max();
    return static_cast<int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
      return static_cast<int64_t>(d);
  }
  wrong(key, "an integer");
}

std::optional<bool> ObjectReader::boolean(const char* key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong(key, "true or false");
  return v->get<bool>();
}

std::optional<json> ObjectReader::object(const char* key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_object()) wrong(key, "a JSON object");
  return *v;
}

std::optional<json> ObjectReader::any(const char* key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  return *v;
}

std::optional<json> ObjectReader::array(const char* key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) wrong(key, "an array");
  return *v;
}

std::optional<std::vector<float>> ObjectReader::floats(const char* key, size_t max) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) wrong(key, "an array of numbers");
  if (v->size() > max)
    throw ApiError::too_large(where_ + "." + key + " has " + std::to_string(v->size()) +
                              " components; at most " + std::to_string(max) + " are accepted");
  std::vector<float> out;
  out.reserve(v->size());
  for (const auto& x : *v) {
    if (!x.is_number()) wrong(key, "an array of numbers");
    out.push_back(x.get<float>());
  }
  return out;
}

void ObjectReader::finish() const {
  std::string unknown;
  for (const auto& [key, v] : value_.items()) {
    if (read_.count(key)) continue;
    if (!unknown.empty()) unknown += ", ";
    unknown += "'" + key + "'";
  }
  if (!unknown.empty())
    throw ApiError::malformed(where_ + " has unknown field(s) " + unknown +
                              " (docs/api.md lists the fields)");
}

json collection_json(const engine::CollectionInfo& info) {
  return {{"name", info.name},
          {"state", "ready"},
          {"count", info.count},
          {"dim", info.dimension},
          {"index", info.index_spec},
          {"metric", info.metric},
          {"model", {{"name", info.model.name}, {"checkpoint_hash", info.model.checkpoint_hash}}},
          {"created_at_ms", info.created_at_ms}};
}

std::string hex_encode(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string document_image_url(const std::string& collection, const engine::Document& doc) {
  bool has = engine::ImageStore::blob_of(doc.source).has_value();
  if (!has && doc.source && !doc.source->empty() && doc.source->front() == '/') {
    std::error_code ec;
    has = std::filesystem::is_regular_file(*doc.source, ec);
  }
  if (!has) return "";
  return "/v1/collections/" + encode_path_segment(collection) + "/documents/" +
         encode_path_segment(doc.id) + "/image";
}

Result<std::string> read_indexed_file(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  if (path.empty() || path.front() != '/') return Status::not_found("not an absolute path");
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return Status::not_found(path + " does not exist");
  if (!std::filesystem::is_regular_file(status))
    return Status::invalid_argument(path + " is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot open " + path);
  std::string bytes;
  bytes.resize(max_bytes + 1);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > max_bytes)
    return Status::resource_exhausted(path + " is larger than " + std::to_string(max_bytes) +
                                      " bytes");
  return bytes;
}

json document_json(const engine::Document& doc, bool with_vector, const std::string& image_url) {
  json j = {{"id", doc.id},
            {"metadata", doc.metadata.is_null() ? json::object() : doc.metadata},
            {"created_at_ms", doc.created_at_ms},
            {"updated_at_ms", doc.updated_at_ms}};
  j["text"] = doc.text ? json(*doc.text) : json(nullptr);
  j["image"] = image_url.empty() ? json(nullptr) : json(image_url);
  if (with_vector) j["vector"] = doc.vector;
  return j;
}

json hit_json(const engine::SearchHit& hit, bool with_metadata, bool with_vector) {
  json j = {{"id", hit.document.id}, {"score", hit.score}};
  if (with_metadata)
    j["metadata"] = hit.document.metadata.is_null() ? json::object() : hit.document.metadata;
  if (with_vector) j["vector"] = hit.document.vector;
  return j;
}

std::string encode_path_segment(std::string_view segment) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool decode_path_segment(std::string_view segment, std::string* out) {
  out->clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out->push_back(segment[i]);
      continue;
    }
    if (i + 2 >= segment.size()) return false;
    const int hi = hex(segment[i + 1]), lo = hex(segment[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace vista::api

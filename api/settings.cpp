#include "api/settings.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "encoder/model/compute_mode.h"

#include "encoder/model/device.h"

namespace vista::api {

namespace {

using nlohmann::json;

enum class Kind { kInt, kU64, kString, kBool, kPaths, kStrings };

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kInt:
    case Kind::kU64: return "an integer";
    case Kind::kString: return "a string";
    case Kind::kBool: return "true or false";
    case Kind::kPaths: return "an array of folder paths";
    case Kind::kStrings: return "an array of strings";
  }
  return "a value";
}

// One settable key. `apply` receives a value already checked against `kind`.
struct Field {
  Kind kind;
  int64_t min = 0;
  uint64_t max = 0;
  std::function<void(ServerSettings&, const json&)> apply;
};

template <typename Get>
Field int_field(Get get, int64_t min, int64_t max) {
  return {Kind::kInt, min, static_cast<uint64_t>(max),
          [get](ServerSettings& s, const json& v) { get(s) = static_cast<int>(v.get<int64_t>()); }};
}
template <typename Get>
Field u64_field(Get get, uint64_t min, uint64_t max) {
  return {Kind::kU64, static_cast<int64_t>(min), max,
          [get](ServerSettings& s, const json& v) { get(s) = v.get<uint64_t>(); }};
}
template <typename Get>
Field string_field(Get get) {
  return {Kind::kString, 0, 0,
          [get](ServerSettings& s, const json& v) { get(s) = v.get<std::string>(); }};
}
template <typename Get>
Field bool_field(Get get) {
  return {Kind::kBool, 0, 0, [get](ServerSettings& s, const json& v) { get(s) = v.get<bool>(); }};
}

constexpr int64_t kMaxInt = std::numeric_limits<int>::max();

// Every key of the config file, as "section.key". Env overrides name the same keys.
const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> table = [] {
    std::map<std::string, Field> t;
    t["server.host"] = string_field([](ServerSettings& s) -> std::string& { return s.host; });
    t["server.port"] = int_field([](ServerSettings& s) -> int& { return s.port; }, 0, 65535);
    t["server.http_threads"] =
        int_field([](ServerSettings& s) -> int& { return s.http_threads; }, 1, 1024);
    t["server.max_pending_connections"] =
        int_field([](ServerSettings& s) -> int& { return s.max_pending_connections; }, 1, 100000);
    t["server.read_timeout_s"] =
        int_field([](ServerSettings& s) -> int& { return s.read_timeout_s; }, 1, 3600);
    t["server.write_timeout_s"] =
        int_field([](ServerSettings& s) -> int& { return s.write_timeout_s; }, 1, 3600);
    t["server.keep_alive_timeout_s"] =
        int_field([](ServerSettings& s) -> int& { return s.keep_alive_timeout_s; }, 1, 3600);
    t["server.keep_alive_max_requests"] =
        int_field([](ServerSettings& s) -> int& { return s.keep_alive_max_requests; }, 1, kMaxInt);
    t["server.request_header_timeout_s"] =
        int_field([](ServerSettings& s) -> int& { return s.request_header_timeout_s; }, 1, 3600);
    t["server.request_body_timeout_s"] =
        int_field([](ServerSettings& s) -> int& { return s.request_body_timeout_s; }, 1, 86400);
    t["server.busy_header_timeout_ms"] =
        int_field([](ServerSettings& s) -> int& { return s.busy_header_timeout_ms; }, 100, 3600000);
    t["server.shutdown_timeout_s"] =
        int_field([](ServerSettings& s) -> int& { return s.shutdown_timeout_s; }, 0, 3600);
    t["server.retry_after_s"] =
        int_field([](ServerSettings& s) -> int& { return s.retry_after_s; }, 1, 3600);

    t["limits.max_body_bytes"] = u64_field(
        [](ServerSettings& s) -> uint64_t& { return s.limits.max_body_bytes; }, 1024, 1ull << 34);
    t["limits.max_image_bytes"] = u64_field(
        [](ServerSettings& s) -> uint64_t& { return s.limits.max_image_bytes; }, 1, 1ull << 32);
    t["limits.max_image_pixels"] = u64_field(
        [](ServerSettings& s) -> uint64_t& { return s.limits.max_image_pixels; }, 1, 1ull << 32);
    t["limits.max_batch_documents"] = int_field(
        [](ServerSettings& s) -> int& { return s.limits.max_batch_documents; }, 1, 100000);
    t["limits.max_k"] =
        int_field([](ServerSettings& s) -> int& { return s.limits.max_k; }, 1, 1000);
    t["limits.max_text_bytes"] =
        int_field([](ServerSettings& s) -> int& { return s.limits.max_text_bytes; }, 1, 1 << 26);
    t["limits.max_thumbnail_size"] =
        int_field([](ServerSettings& s) -> int& { return s.limits.max_thumbnail_size; }, 16, 8192);

    t["security.api_key"] =
        string_field([](ServerSettings& s) -> std::string& { return s.api_key; });
    t["security.read_only_api_key"] =
        string_field([](ServerSettings& s) -> std::string& { return s.read_only_api_key; });
    t["security.image_roots"] = {Kind::kPaths, 0, 0, [](ServerSettings& s, const json& v) {
                                   s.image_roots.clear();
                                   for (const auto& p : v)
                                     s.image_roots.emplace_back(p.get<std::string>());
                                 }};

    t["security.allowed_hosts"] = {Kind::kStrings, 0, 0, [](ServerSettings& s, const json& v) {
                                     s.allowed_hosts = v.get<std::vector<std::string>>();
                                   }};
    t["security.allowed_origins"] = {Kind::kStrings, 0, 0, [](ServerSettings& s, const json& v) {
                                       s.allowed_origins = v.get<std::vector<std::string>>();
                                     }};

    t["encoder.threads"] =
        int_field([](ServerSettings& s) -> int& { return s.encoder_threads; }, 0, 1024);
    t["encoder.dtype"] =
        string_field([](ServerSettings& s) -> std::string& { return s.encoder_dtype; });
    t["encoder.device"] =
        string_field([](ServerSettings& s) -> std::string& { return s.encoder_device; });
    t["encoder.max_batch"] =
        int_field([](ServerSettings& s) -> int& { return s.encoder_max_batch; }, 0, 1024);
    t["encoder.max_wait_ms"] =
        int_field([](ServerSettings& s) -> int& { return s.encoder_max_wait_ms; }, 0, 10000);
    t["encoder.max_queued"] =
        int_field([](ServerSettings& s) -> int& { return s.encoder_max_queued; }, 1, 1000000);

    t["storage.default_index"] =
        string_field([](ServerSettings& s) -> std::string& { return s.default_index; });
    t["storage.sync_writes"] = bool_field([](ServerSettings& s) -> bool& { return s.sync_writes; });
    t["storage.thumbnail_cache_bytes"] = u64_field(
        [](ServerSettings& s) -> uint64_t& { return s.thumbnail_cache_bytes; }, 0, 1ull << 34);
    return t;
  }();
  return table;
}

Status check_and_apply(const std::string& key, const json& value, const std::string& origin,
                       ServerSettings* settings) {
  auto it = fields().find(key);
  if (it == fields().end())
    return Status::invalid_argument(origin + ": unknown setting '" + key +
                                    "' (docs/api.md lists the settings)");
  const Field& f = it->second;
  auto wrong = [&](const std::string& extra = "") {
    return Status::invalid_argument(origin + ": '" + key + "' must be " +
                                    std::string(kind_name(f.kind)) + extra + ", got " +
                                    value.dump());
  };
  switch (f.kind) {
    case Kind::kInt:
    case Kind::kU64: {
      if (!value.is_number_integer()) return wrong();
      const bool negative =
          value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() < 0;
      const std::string range =
          " between " + std::to_string(f.min) + " and " + std::to_string(f.max);
      if (negative) {
        if (value.get<int64_t>() < f.min) return wrong(range);
      } else {
        const uint64_t u = value.get<uint64_t>();
        if (u > f.max || static_cast<int64_t>(u) < f.min) return wrong(range);
      }
      break;
    }
    case Kind::kString:
      if (!value.is_string()) return wrong();
      break;
    case Kind::kBool:
      if (!value.is_boolean()) return wrong();
      break;
    case Kind::kPaths:
    case Kind::kStrings:
      if (!value.is_array()) return wrong();
      for (const auto& p : value)
        if (!p.is_string() || p.get<std::string>().empty()) return wrong();
      break;
  }
  f.apply(*settings, value);
  return Status::ok();
}

// Turns an environment string into the JSON value its key expects.
Result<json> parse_env_value(const std::string& key, const std::string& text) {
  const Field& f = fields().at(key);
  switch (f.kind) {
    case Kind::kInt:
    case Kind::kU64: {
      if (text.empty() || text.size() > 20) break;
      errno = 0;
      char* end = nullptr;
      if (text[0] == '-') {
        long long v = std::strtoll(text.c_str(), &end, 10);
        if (errno || *end) break;
        return json(static_cast<int64_t>(v));
      }
      unsigned long long v = std::strtoull(text.c_str(), &end, 10);
      if (errno || *end) break;
      return json(static_cast<uint64_t>(v));
    }
    case Kind::kString: return json(text);
    case Kind::kBool:
      if (text == "true" || text == "1") return json(true);
      if (text == "false" || text == "0") return json(false);
      break;
    case Kind::kStrings: {
      json list = json::array();
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ','))
        if (!item.empty()) list.push_back(item);
      return list;
    }
    case Kind::kPaths: {
      json list = json::array();
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ':'))
        if (!item.empty()) list.push_back(item);
      return list;
    }
  }
  return Status::invalid_argument("'" + text + "' is not " + std::string(kind_name(f.kind)));
}

}  // namespace

const std::vector<EnvironmentOverride> kEnvironmentOverrides = {
    {"VISTA_HOST", "server.host"},
    {"VISTA_PORT", "server.port"},
    {"VISTA_HTTP_THREADS", "server.http_threads"},
    {"VISTA_MAX_PENDING_CONNECTIONS", "server.max_pending_connections"},
    {"VISTA_API_KEY", "security.api_key"},
    {"VISTA_READ_ONLY_API_KEY", "security.read_only_api_key"},
    {"VISTA_IMAGE_ROOTS", "security.image_roots"},
    {"VISTA_ALLOWED_HOSTS", "security.allowed_hosts"},
    {"VISTA_ALLOWED_ORIGINS", "security.allowed_origins"},
    {"VISTA_SHUTDOWN_TIMEOUT_S", "server.shutdown_timeout_s"},
    {"VISTA_MAX_BODY_BYTES", "limits.max_body_bytes"},
    {"VISTA_MAX_IMAGE_BYTES", "limits.max_image_bytes"},
    {"VISTA_MAX_IMAGE_PIXELS", "limits.max_image_pixels"},
    {"VISTA_MAX_BATCH_DOCUMENTS", "limits.max_batch_documents"},
    {"VISTA_MAX_K", "limits.max_k"},
    {"VISTA_MAX_TEXT_BYTES", "limits.max_text_bytes"},
    {"VISTA_ENCODER_THREADS", "encoder.threads"},
    {"VISTA_ENCODER_DTYPE", "encoder.dtype"},
    {"VISTA_ENCODER_DEVICE", "encoder.device"},
    {"VISTA_ENCODER_MAX_BATCH", "encoder.max_batch"},
    {"VISTA_ENCODER_MAX_WAIT_MS", "encoder.max_wait_ms"},
    {"VISTA_ENCODER_MAX_QUEUED", "encoder.max_queued"},
    {"VISTA_DEFAULT_INDEX", "storage.default_index"},
    {"VISTA_SYNC_WRITES", "storage.sync_writes"},
};

Status apply_config_json(std::string_view text, std::string_view origin_view,
                         ServerSettings* settings) {
  const std::string origin(origin_view);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    return Status::invalid_argument(origin + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object())
    return Status::invalid_argument(origin + ": the config must be a JSON object of sections");
  // Apply onto a copy so that a failing file changes nothing.
  ServerSettings next = *settings;
  for (const auto& [section, body] : doc.items()) {
    if (section == "$comment") continue;
    if (!body.is_object())
      return Status::invalid_argument(origin + ": section '" + section +
                                      "' must be an object of settings");
    for (const auto& [key, value] : body.items()) {
      if (key == "$comment") continue;
      VISTA_RETURN_IF_ERROR(check_and_apply(section + "." + key, value, origin, &next));
    }
  }
  *settings = std::move(next);
  return Status::ok();
}

Status apply_config_file(const std::filesystem::path& path, ServerSettings* settings) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return Status::not_found("config file " + path.string() + " does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read config file " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return apply_config_json(ss.str(), path.string(), settings);
}

Status apply_environment(ServerSettings* settings, const char* (*getenv_fn)(const char*)) {
  ServerSettings next = *settings;
  for (const auto& o : kEnvironmentOverrides) {
    const char* value = getenv_fn ? getenv_fn(std::string(o.variable).c_str())
                                  : std::getenv(std::string(o.variable).c_str());
    if (!value) continue;
    const std::string key(o.key);
    const std::string origin = "environment variable " + std::string(o.variable);
    auto parsed = parse_env_value(key, value);
    if (!parsed.is_ok()) return Status::invalid_argument(origin + ": " + parsed.status().message());
    VISTA_RETURN_IF_ERROR(check_and_apply(key, *parsed, origin, &next));
  }
  *settings = std::move(next);
  return Status::ok();
}

Status validate_settings(const ServerSettings& s) {
  if (s.host.empty()) return Status::invalid_argument("server.host must not be empty");
  if (s.data_dir.empty())
    return Status::invalid_argument("the data directory (--data) is required");
  VISTA_RETURN_IF_ERROR(encoder::validate_dtype(s.encoder_dtype, "encoder.dtype"));
  if (auto device = encoder::parse_device(s.encoder_device); !device.is_ok())
    return Status::invalid_argument("encoder.device: " + device.status().message());
  if (!s.read_only_api_key.empty() && s.api_key.empty())
    return Status::invalid_argument(
        "security.read_only_api_key is set but security.api_key is not: writes would need no "
        "key while reads need one; set both or neither");
  if (!s.api_key.empty() && s.api_key == s.read_only_api_key)
    return Status::invalid_argument("security.api_key and security.read_only_api_key are equal");
  if (s.limits.max_image_bytes > s.limits.max_body_bytes)
    return Status::invalid_argument(
        "limits.max_image_bytes (" + std::to_string(s.limits.max_image_bytes) +
        ") exceeds limits.max_body_bytes (" + std::to_string(s.limits.max_body_bytes) + ")");
  for (const auto& root : s.image_roots) {
    std::error_code ec;
    if (!root.is_absolute())
      return Status::invalid_argument("security.image_roots: '" + root.string() +
                                      "' is not an absolute path");
    if (!std::filesystem::is_directory(root, ec))
      return Status::invalid_argument("security.image_roots: '" + root.string() +
                                      "' is not an existing folder");
  }
  if (s.default_index.empty())
    return Status::invalid_argument("storage.default_index must not be empty");
  return Status::ok();
}

}  // namespace vista::api

#include "cli/data_client.h"

#include <httplib.h>

#include "api/json_codec.h"
#include "common/limits.h"
#include "common/logging.h"

namespace vista::cli {

using nlohmann::json;

namespace {

std::string query_string(const QueryParams& query) {
  std::string out;
  for (const auto& [k, v] : query) {
    out += out.empty() ? "?" : "&";
    out += api::encode_path_segment(k) + "=" + api::encode_path_segment(v);
  }
  return out;
}

Status error_from_body(int http_status, const std::string& body) {
  std::string message = "HTTP " + std::to_string(http_status);
  try {
    const json j = json::parse(body);
    message = j.at("error").at("message").get<std::string>();
  } catch (const json::exception&) {
  }
  return status_for_http(http_status, message);
}

Result<json> parse_reply(int http_status, const std::string& body) {
  if (http_status < 200 || http_status >= 300) return error_from_body(http_status, body);
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    return Status::corruption(std::string("the server's answer is not JSON: ") + e.what());
  }
}

}  // namespace

Status status_for_http(int http_status, const std::string& message) {
  switch (http_status) {
    case 400:
    case 415:
    case 422: return Status::invalid_argument(message);
    case 401: return Status::unauthenticated(message);
    case 403: return Status::permission_denied(message);
    case 404: return Status::not_found(message);
    case 409: return Status::failed_precondition(message);
    case 413:
    case 429:
    case 503: return Status::resource_exhausted(message);
    default: return Status::internal(message);
  }
}

std::string collection_path(const std::string& name, const std::string& rest) {
  return "/v1/collections/" + api::encode_path_segment(name) + rest;
}

Result<std::unique_ptr<DataClient>> DataClient::open(const EngineArgs& args, bool with_model,
                                                     bool must_exist) {
  std::unique_ptr<DataClient> client(new DataClient());
  if (auto advert = api::read_server_advert(args.data_dir)) {
    httplib::Client http(advert->url);
    http.set_connection_timeout(2);
    http.set_read_timeout(5);
    auto health = http.Get("/health");
    if (health && health->status == 200) {
      spdlog::info("a server holds {}: sending this to {}", args.data_dir, advert->url);
      client->advert_ = std::move(advert);
      client->server_url_ = client->advert_->url;
      return client;
    }
    spdlog::debug("{} names a server that does not answer; opening {} directly",
                  api::kServerAdvertFile, args.data_dir);
  }
  std::error_code ec;
  if (must_exist && !std::filesystem::is_directory(args.data_dir, ec))
    return Status::not_found("data directory " + args.data_dir + " does not exist");
  api::ServerSettings settings;
  settings.data_dir = args.data_dir;
  if (with_model) {
    settings.model_dir = args.model_path();
    settings.encoder_threads = args.threads;
    settings.encoder_dtype = args.dtype;
    settings.encoder_device = args.device;
  }
  settings.limits.max_k = vista::kMaxSearchK;  // the command line's own bound (--k)
  VISTA_ASSIGN_OR_RETURN(client->local_, api::InProcessApi::open(settings));
  return client;
}

DataClient::~DataClient() {
  (void)close();
}

Result<json> DataClient::call(const std::string& method, const std::string& path,
                              const QueryParams& query, const std::optional<json>& body) {
  const std::string text = body ? api::dump(*body) : std::string();
  if (local_) {
    api::HttpReply reply = local_->call(method, path, query, text);
    return parse_reply(reply.status, reply.body);
  }
  httplib::Client http(advert_->url);
  http.set_connection_timeout(5);
  http.set_read_timeout(600);
  http.set_write_timeout(600);
  httplib::Headers headers = {{api::kLocalTokenHeader, advert_->token}};
  const std::string target = path + query_string(query);
  httplib::Result res = method == "GET"      ? http.Get(target.c_str(), headers)
                        : method == "DELETE" ? http.Delete(target.c_str(), headers)
                                             : http.Post(target.c_str(), headers, text,
                                                         "application/json");
  if (!res)
    return Status::io_error("the server at " + advert_->url + " did not answer (" +
                            httplib::to_string(res.error()) + ")");
  return parse_reply(res->status, res->body);
}

Status DataClient::stream(const std::string& path, const json& body,
                          const std::function<void(const json&)>& on_line,
                          const std::function<bool()>& keep_going) {
  std::string pending;
  Status failure;
  auto feed = [&](std::string_view chunk) {
    pending.append(chunk);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.empty()) continue;
      try {
        on_line(json::parse(line));
      } catch (const json::exception& e) {
        failure = Status::corruption(std::string("malformed progress line: ") + e.what());
      }
    }
  };
  const std::string text = api::dump(body);
  if (local_) {
    api::HttpReply reply = local_->call("POST", path, {}, text, feed, keep_going);
    if (reply.status < 200 || reply.status >= 300) return error_from_body(reply.status, reply.body);
    return failure;
  }
  httplib::Client http(advert_->url);
  http.set_connection_timeout(5);
  http.set_read_timeout(600);
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = {{api::kLocalTokenHeader, advert_->token}, {"Content-Type", "application/json"}};
  req.body = text;
  int http_status = 0;
  std::string error_body;
  req.response_handler = [&](const httplib::Response& r) {
    http_status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (http_status < 200 || http_status >= 300) {
      error_body.append(data, size);
      return true;
    }
    feed(std::string_view(data, size));
    return keep_going();
  };
  auto res = http.send(req);
  if (http_status != 0 && (http_status < 200 || http_status >= 300))
    return error_from_body(http_status, error_body);
  if (!res && res.error() == httplib::Error::Canceled) return failure;
  if (!res)
    return Status::io_error("the server at " + advert_->url + " did not answer (" +
                            httplib::to_string(res.error()) + ")");
  return failure;
}

Status DataClient::close() {
  if (!local_) return Status::ok();
  Status s = local_->close();
  return s;
}

Result<nlohmann::json> call_once(const EngineArgs& args, bool with_model, bool must_exist,
                                 const std::string& method, const std::string& path,
                                 const QueryParams& query,
                                 const std::optional<nlohmann::json>& body) {
  VISTA_ASSIGN_OR_RETURN(std::unique_ptr<DataClient> client,
                         DataClient::open(args, with_model, must_exist));
  auto answer = client->call(method, path, query, body);
  Status closed = client->close();
  if (!answer.is_ok()) return answer.status();
  VISTA_RETURN_IF_ERROR(closed);
  return answer;
}

Result<std::optional<nlohmann::json>> filter_option(const std::string& text) {
  if (text.empty()) return std::optional<nlohmann::json>();
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded()) return Status::invalid_argument("--filter is not valid JSON: " + text);
  return std::optional<nlohmann::json>(std::move(parsed));
}

}  // namespace vista::cli

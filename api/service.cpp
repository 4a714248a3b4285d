#include "api/service.h"

#include <algorithm>

#include "api/base64.h"
#include "api/json_codec.h"
#include "api/server_advert.h"
#include "api/task_queue.h"
#include "common/logging.h"

namespace vista::api {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// What pre_route() learned about the request on this worker thread, for dispatch() and log().
struct RequestState {
  bool active = false;
  Clock::time_point start;
  const Route* route = nullptr;
  std::vector<std::string> params;
  std::string label = "unmatched";
  std::string allowed;            // methods of the path, for 405
  std::optional<ApiError> early;  // the answer, when the handler must not run
};
thread_local RequestState tl_request;

// Splits the raw request target into decoded path segments. Decoding per segment keeps an
// encoded '/' (%2F) inside a document id instead of splitting on it.
bool split_target(const std::string& target, std::vector<std::string>* segments) {
  std::string path = target.substr(0, target.find('?'));
  segments->clear();
  if (path.empty() || path[0] != '/') return false;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string decoded;
    if (!decode_path_segment(std::string_view(path).substr(start, end - start), &decoded))
      return false;
    segments->push_back(std::move(decoded));
    start = end + 1;
  }
  // "/" -> [""]; "/v1/collections/" -> [..., ""]: a trailing slash is ignored.
  if (segments->size() > 1 && segments->back().empty()) segments->pop_back();
  if (segments->size() == 1 && segments->front().empty()) segments->clear();
  return true;
}

bool match(const Route& route, const std::vector<std::string>& segments,
           std::vector<std::string>* params) {
  if (route.segments.size() != segments.size()) return false;
  params->clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& pattern = route.segments[i];
    if (!pattern.empty() && pattern.front() == '{') {
      if (segments[i].empty()) return false;
      params->push_back(segments[i]);
    } else if (pattern != segments[i]) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> split_pattern(const std::string& pattern) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start < pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string::npos) end = pattern.size();
    out.push_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string method_label(const std::string& method) {
  static const char* kKnown[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  for (const char* m : kKnown)
    if (method == m) return method;
  return "OTHER";
}

}  // namespace

Service::Service(ServerSettings settings, std::unique_ptr<engine::Engine> engine, PathGuard guard,
                 std::string local_token)
    : settings_(std::move(settings)),
      engine_(std::move(engine)),
      guard_(std::move(guard)),
      keys_(settings_.api_key, settings_.read_only_api_key),
      local_token_(local_token),
      thumbnails_(settings_.thumbnail_cache_bytes),
      browser_guard_(settings_.allowed_hosts, settings_.allowed_origins),
      watch_(ConnectionWatch::Options{
          std::chrono::seconds(settings_.request_header_timeout_s),
          std::chrono::seconds(settings_.request_body_timeout_s),
          std::chrono::milliseconds(settings_.busy_header_timeout_ms),
          std::chrono::milliseconds(100),
          [this] { return metrics_.waiting_connections().load(std::memory_order_relaxed) > 0; }}) {
  error_context_.retry_after_s = settings_.retry_after_s;
  struct Spec {
    const char* method;
    const char* pattern;
    Access access;
    RouteHandler handler;
  };
  const Spec specs[] = {
      {"GET", "/", Access::kPublic, &Service::get_web_page},
      {"GET", "/index.html", Access::kPublic, &Service::get_web_page},
      {"GET", "/openapi.yaml", Access::kPublic, &Service::get_openapi},
      {"GET", "/health", Access::kPublic, &Service::get_health},
      {"GET", "/ready", Access::kPublic, &Service::get_ready},
      {"GET", "/metrics", Access::kRead, &Service::get_metrics},
      {"GET", "/v1/collections", Access::kRead, &Service::list_collections},
      {"POST", "/v1/collections", Access::kWrite, &Service::create_collection},
      {"GET", "/v1/collections/{name}", Access::kRead, &Service::get_collection},
      {"DELETE", "/v1/collections/{name}", Access::kWrite, &Service::delete_collection},
      {"POST", "/v1/collections/{name}/documents", Access::kWrite, &Service::add_documents},
      {"GET", "/v1/collections/{name}/documents", Access::kRead, &Service::list_documents},
      {"POST", "/v1/collections/{name}/documents/delete", Access::kWrite,
       &Service::delete_documents},
      {"POST", "/v1/collections/{name}/count", Access::kRead, &Service::count_documents},
      {"POST", "/v1/collections/{name}/search/batch", Access::kRead, &Service::search_batch},
      {"POST", "/v1/collections/{name}/ingest", Access::kLocal, &Service::ingest},
      {"GET", "/v1/collections/{name}/documents/{id}", Access::kRead, &Service::get_document},
      {"DELETE", "/v1/collections/{name}/documents/{id}", Access::kWrite,
       &Service::delete_document},
      {"GET", "/v1/collections/{name}/documents/{id}/image", Access::kRead,
       &Service::get_document_image},
      {"POST", "/v1/collections/{name}/search", Access::kRead, &Service::search},
      {"POST", "/v1/collections/{name}/import", Access::kWrite, &Service::import_segment},
      {"POST", "/v1/embed", Access::kRead, &Service::embed},
  };
  for (const auto& s : specs)
    routes_.push_back({s.method, split_pattern(s.pattern), s.pattern, s.access, s.handler});
}

httplib::Server::HandlerResponse Service::pre_route(const httplib::Request& req,
                                                    httplib::Response&) {
  RequestState& st = tl_request;
  st = RequestState{};
  st.active = true;
  st.start = Clock::now();
  watch_.headers_read(req.remote_addr, req.remote_port);
  // Decisions only: every answer is written by dispatch(), after httplib has read the body. A
  // connection closed with unread input is reset by the kernel, and the reset can destroy the
  // answer before the client reads it.
  if (BoundedTaskQueue::is_shedding()) {
    st.label = "shed";
    st.early = ApiError::overloaded("too many connections are waiting; retry later",
                                    settings_.retry_after_s);
    return httplib::Server::HandlerResponse::Unhandled;
  }
  std::vector<std::string> segments;
  if (!split_target(req.target, &segments)) {
    st.early = ApiError::malformed("the request path is not valid");
    return httplib::Server::HandlerResponse::Unhandled;
  }
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  std::vector<std::string> params;
  for (const auto& route : routes_) {
    if (!match(route, segments, &params)) continue;
    if (route.method == method) {
      st.route = &route;
      st.params = std::move(params);
      st.label = route.label;
      break;
    }
    if (!st.allowed.empty()) st.allowed += ", ";
    st.allowed += route.method;
    st.label = route.label;
  }
  if (!st.route) {
    if (st.allowed.empty()) {
      st.early = ApiError::not_found("no route " + req.method + " " + req.path);
    } else {
      st.early = ApiError{405,
                          "method_not_allowed",
                          req.method + " is not allowed here; allowed: " + st.allowed,
                          {}};
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }
  // The public routes (page, probes) reveal nothing and change nothing; probes may use any Host.
  if (auto refused = st.route->access == Access::kPublic
                         ? std::nullopt
                         : browser_guard_.refuse(req.method, req.get_header_value("Host"),
                                                 req.get_header_value("Origin"))) {
    st.early = ApiError::forbidden(*refused);
    return httplib::Server::HandlerResponse::Unhandled;
  }
  // While shutting down, only the probes answer: new work goes to another instance.
  if (draining_ && st.route->handler != &Service::get_ready &&
      st.route->handler != &Service::get_health) {
    st.early =
        ApiError::overloaded("the server is shutting down; retry later", settings_.retry_after_s);
    return httplib::Server::HandlerResponse::Unhandled;
  }
  if (is_local(req)) return httplib::Server::HandlerResponse::Unhandled;
  if (st.route->access == Access::kLocal) {
    st.early = ApiError::forbidden(st.route->method + " " + st.route->label +
                                   " reads files on the server's machine: only `vista` commands "
                                   "that share its data directory may call it");
    return httplib::Server::HandlerResponse::Unhandled;
  }
  const std::string key =
      presented_key(req.get_header_value("Authorization"), req.get_header_value("X-API-Key"));
  switch (keys_.check(st.route->access, key)) {
    case AuthResult::kAllowed: break;
    case AuthResult::kMissingOrWrongKey:
      st.early = ApiError::unauthenticated(
          key.empty() ? "this server needs an API key: send \"Authorization: Bearer <key>\" or "
                        "\"X-API-Key\""
                      : "the API key is not valid");
      break;
    case AuthResult::kReadOnlyKey:
      st.early = ApiError::forbidden("the read-only API key cannot call " + st.route->method + " " +
                                     st.route->label);
      break;
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

void Service::dispatch_with_body(const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& reader) {
  const uint64_t limit = settings_.limits.max_body_bytes;
  const bool chunked =
      req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
  const bool has_body = chunked || req.has_header("Content-Length");
  auto refuse = [&](const ApiError& error) {
    write_error(res, error);
    // The rest of the body is not read: the connection cannot carry another request.
    res.set_header("Connection", "close");
  };
  bool too_large = false;
  if (!has_body) {
    // No framing: no body (httplib would read until the client closes).
  } else if (req.is_multipart_form_data()) {
    // The form parser buffers part headers outside the receivers below; with Content-Length the
    // whole form is bounded before a byte is read (httplib answers 413 past the limit).
    if (chunked) {
      refuse({411,
              "length_required",
              "multipart bodies need a Content-Length (chunked forms are not accepted)",
              {}});
      return;
    }
  }
  httplib::Request full = req;
  bool read_ok = true;
  if (has_body && req.is_multipart_form_data()) {
    auto current = full.files.end();
    uint64_t total = 0;
    read_ok = reader(
        [&](const httplib::MultipartFormData& file) {
          current = full.files.emplace(file.name, file);
          return true;
        },
        [&](const char* data, size_t n) {
          total += n;
          too_large = too_large || total > limit;
          if (!too_large) current->second.content.append(data, n);
          return true;
        });
  } else if (has_body) {
    // Past the limit the rest is read and dropped (the request deadline bounds how long), so
    // that the client gets its 413 instead of a reset connection.
    read_ok = reader([&](const char* data, size_t n) {
      too_large = too_large || full.body.size() + n > limit;
      if (!too_large) full.body.append(data, n);
      return true;
    });
  }
  if (!read_ok || too_large) {
    if (too_large || res.status == 413) {
      refuse(ApiError::too_large("the request body exceeds limits.max_body_bytes (" +
                                 std::to_string(limit) + " bytes)"));
    } else {
      refuse(
          ApiError::malformed("the request body could not be read (bad framing or the "
                              "client stopped sending)"));
    }
    return;
  }
  dispatch(full, res);
}

void Service::dispatch(const httplib::Request& req, httplib::Response& res) {
  RequestState& st = tl_request;
  watch_.body_read(req.remote_addr, req.remote_port);
  if (st.early || !st.route) {
    const ApiError error =
        st.early ? *st.early : ApiError::not_found("no route " + req.method + " " + req.path);
    write_error(res, error);
    if (error.http_status == 405) res.set_header("Allow", st.allowed);
    if (error.http_status == 401) res.set_header("WWW-Authenticate", "Bearer");
    if (BoundedTaskQueue::is_shedding() || draining_) res.set_header("Connection", "close");
    return;
  }
  metrics_.request_started();
  struct Finish {
    Metrics& m;
    ~Finish() { m.request_finished(); }
  } finish{metrics_};
  try {
    (this->*(st.route->handler))(req, res, st.params);
  } catch (const ApiError& e) {
    write_error(res, e);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unexpected exception: {}", req.method, st.route->label, e.what());
    write_error(res, ApiError::internal());
  }
  // A worker serves one connection for as long as it is kept alive. While other connections
  // wait for a worker, ask this client to reconnect, so that workers rotate among clients
  // instead of the first ones keeping them.
  if (draining_ || metrics_.waiting_connections().load(std::memory_order_relaxed) > 0)
    res.set_header("Connection", "close");
}

void Service::log(const httplib::Request& req, const httplib::Response& res) {
  RequestState& st = tl_request;
  const double seconds =
      st.active ? std::chrono::duration<double>(Clock::now() - st.start).count() : 0.0;
  metrics_.observe_request(st.label, method_label(req.method), res.status, seconds);
  spdlog::debug("{} {} -> {} ({:.1f} ms)", req.method, req.path, res.status, seconds * 1000);
  watch_.response_sent(req.remote_addr, req.remote_port);
  st = RequestState{};
}

httplib::Server::HandlerResponse Service::on_error(const httplib::Request&,
                                                   httplib::Response& res) {
  if (res.body.empty()) write_error(res, error_for_http_status(res.status));
  return httplib::Server::HandlerResponse::Handled;
}

void Service::on_exception(const httplib::Request& req, httplib::Response& res,
                           std::exception_ptr ep) {
  try {
    if (ep) std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unexpected exception: {}", req.method, req.path, e.what());
  } catch (...) {
    spdlog::error("{} {}: unexpected exception", req.method, req.path);
  }
  write_error(res, ApiError::internal());
}

void Service::fail(const Status& status, bool client_image, const char* what) const {
  ErrorContext ctx = error_context_;
  ctx.client_image = client_image;
  throw status_to_error(status, ctx, what);
}

std::shared_ptr<engine::Collection> Service::collection(const std::string& name) const {
  auto got = engine_->catalog().get(name);
  if (!got.is_ok()) fail(got.status(), false, "opening a collection");
  return std::move(got).value();
}

std::string Service::image_from_base64(const std::string& text, const std::string& where) const {
  // 4 base64 characters carry 3 bytes: refuse before decoding what is too big anyway.
  if (text.size() / 4 * 3 > settings_.limits.max_image_bytes + 3)
    throw ApiError::too_large(where + " is larger than limits.max_image_bytes (" +
                              std::to_string(settings_.limits.max_image_bytes) + " bytes)");
  auto bytes = base64_decode(text);
  if (!bytes.is_ok()) throw ApiError::malformed(where + ": " + bytes.status().message());
  if (bytes->size() > settings_.limits.max_image_bytes)
    throw ApiError::too_large(where + " is " + std::to_string(bytes->size()) +
                              " bytes; limits.max_image_bytes is " +
                              std::to_string(settings_.limits.max_image_bytes));
  if (bytes->empty()) throw ApiError::invalid(where + " is empty");
  return std::move(bytes).value();
}

ConfinedFile Service::image_from_path(const std::string& path) const {
  auto file = guard_.read(path, settings_.limits.max_image_bytes);
  if (!file.is_ok()) fail(file.status(), true, "reading image_path");
  return std::move(file).value();
}

void Service::check_text(const std::optional<std::string>& text, const std::string& where) const {
  if (text && text->size() > static_cast<size_t>(settings_.limits.max_text_bytes))
    throw ApiError::too_large(where + " is " + std::to_string(text->size()) +
                              " bytes; limits.max_text_bytes is " +
                              std::to_string(settings_.limits.max_text_bytes));
}

std::string Service::image_url(const std::string& collection, const engine::Document& doc) const {
  return document_image_url(collection, doc);
}

engine::Filter Service::filter_from(const json& spec) const {
  auto compiled = engine::Filter::compile(spec);
  if (!compiled.is_ok()) fail(compiled.status(), false, "compiling a filter");
  return std::move(compiled).value();
}

bool Service::not_modified(const httplib::Request& req, httplib::Response& res,
                           const std::string& etag) {
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", "no-cache");
  if (req.get_header_value("If-None-Match") != etag) return false;
  res.status = 304;
  return true;
}

bool Service::is_local(const httplib::Request& req) const {
  return local_token_.matches(req.get_header_value(kLocalTokenHeader));
}

void Service::send_json(httplib::Response& res, int status, const json& body) const {
  res.status = status;
  res.set_content(dump(body) + "\n", "application/json");
}

Result<std::unique_ptr<Service>> Service::open(const ServerSettings& settings,
                                               std::string local_token) {
  VISTA_ASSIGN_OR_RETURN(PathGuard guard, PathGuard::create(settings.image_roots));
  VISTA_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> engine,
                         engine::Engine::open(engine_options(settings)));
  return std::make_unique<Service>(settings, std::move(engine), std::move(guard),
                                   std::move(local_token));
}

engine::EngineOptions engine_options(const ServerSettings& settings) {
  engine::EngineOptions options;
  options.data_dir = settings.data_dir;
  options.model_dir = settings.model_dir;
  options.encoder_threads = settings.encoder_threads;
  options.encoder_dtype = settings.encoder_dtype;
  options.encoder_device = settings.encoder_device;
  options.catalog.collection.sync_writes = settings.sync_writes;
  options.encode_queue.max_batch = settings.encoder_max_batch;
  options.encode_queue.max_wait_ms = settings.encoder_max_wait_ms;
  options.encode_queue.max_queued = settings.encoder_max_queued;
  options.decode_limits.max_bytes = settings.limits.max_image_bytes;
  options.decode_limits.max_pixels = settings.limits.max_image_pixels;
  options.default_index_spec = settings.default_index;
  return options;
}

void Service::open_collections() {
  // Opening each collection now logs a failure (Catalog::get) and reports it (list, /ready)
  // before the first request instead of at it.
  auto entries = engine_->catalog().list_entries();
  if (!entries.is_ok()) spdlog::warn("listing collections: {}", entries.status().message());
}

}  // namespace vista::api

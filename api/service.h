// Service: the routes of the HTTP API and everything they share (internal to api/; the public
// face is api/server.h).
//
// Request life cycle (httplib calls these in order on one worker thread):
//   pre_route()  start the clock, match the route, decide the early answers: 404/405, 503 for
//                a connection served in shedding mode (api/task_queue.h) or while shutting
//                down, 403 for a foreign Host or Origin (api/browser_guard.h), 401/403 for the
//                key.
//   dispatch_with_body()  for methods with a body: reads it, bounded by limits.max_body_bytes
//                whatever the framing (Content-Length, chunked, multipart), else 413.
//   dispatch()   writes the early answer, or runs the handler; an ApiError thrown by parsing or
//                by the handler becomes the error response, any other exception a generic 500.
//   log()        records the request in Metrics under the route *pattern*.
//
// Handlers only parse, validate, call the engine and format; Status -> HTTP happens in
// api/http_errors.cpp.
//
// Thread-safety: every member may be used from all worker threads at once; the engine and the
// stores it holds are thread-safe (engine/engine.h).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/browser_guard.h"
#include "api/connection_watch.h"
#include "api/http_errors.h"
#include "api/metrics.h"
#include "api/path_guard.h"
#include "api/settings.h"
#include "api/thumbnails.h"
#include "engine/engine.h"
#include "engine/segment.h"

namespace vista::api {

class Service;

// The engine a server (or the in-process API) opens for these settings.
engine::EngineOptions engine_options(const ServerSettings& settings);

using RouteHandler = void (Service::*)(const httplib::Request&, httplib::Response&,
                                       const std::vector<std::string>& params);

struct Route {
  std::string method;                 // "GET", "POST", "DELETE"
  std::vector<std::string> segments;  // "{name}"-style segments capture a parameter
  std::string label;                  // the pattern, for metrics and logs
  Access access;
  RouteHandler handler;
};

class Service {
 public:
  // `local_token`: the token advertised in the data directory (api/server_advert.h); empty:
  // no request is local.
  Service(ServerSettings settings, std::unique_ptr<engine::Engine> engine, PathGuard guard,
          std::string local_token = {});

  // Opens what the routes need for `settings`: the path guard and the engine (its model and
  // image store). The engine's Status on failure.
  static Result<std::unique_ptr<Service>> open(const ServerSettings& settings,
                                               std::string local_token);

  // httplib hooks.
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res);
  void dispatch(const httplib::Request& req, httplib::Response& res);
  void dispatch_with_body(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader);
  void log(const httplib::Request& req, const httplib::Response& res);
  httplib::Server::HandlerResponse on_error(const httplib::Request& req, httplib::Response& res);
  void on_exception(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep);

  // Marks the server as stopping: /ready answers 503 from now on.
  void set_draining() { draining_ = true; }

  engine::Engine& engine() { return *engine_; }
  Metrics& metrics() { return metrics_; }
  ConnectionWatch& connection_watch() { return watch_; }
  const ServerSettings& settings() const { return settings_; }
  const std::vector<Route>& routes() const { return routes_; }

  // Opens every collection at start, so that one that fails is logged and reported (listing,
  // /ready) before the first request instead of at it.
  void open_collections();

 private:
  // Routes (one function per endpoint).
  void get_web_page(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void get_health(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void get_ready(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void get_metrics(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void list_collections(const httplib::Request&, httplib::Response&,
                        const std::vector<std::string>&);
  void create_collection(const httplib::Request&, httplib::Response&,
                         const std::vector<std::string>&);
  void get_collection(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void delete_collection(const httplib::Request&, httplib::Response&,
                         const std::vector<std::string>&);
  void add_documents(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void get_document(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void delete_document(const httplib::Request&, httplib::Response&,
                       const std::vector<std::string>&);
  void get_document_image(const httplib::Request&, httplib::Response&,
                          const std::vector<std::string>&);
  void search(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void embed(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  // api/routes_bulk.cpp
  void get_openapi(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void list_documents(const httplib::Request&, httplib::Response&,
                      const std::vector<std::string>&);
  void delete_documents(const httplib::Request&, httplib::Response&,
                        const std::vector<std::string>&);
  void count_documents(const httplib::Request&, httplib::Response&,
                       const std::vector<std::string>&);
  void search_batch(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void ingest(const httplib::Request&, httplib::Response&, const std::vector<std::string>&);
  void import_segment(const httplib::Request&, httplib::Response&,
                      const std::vector<std::string>&);

  // Shared helpers (throw ApiError).
  [[noreturn]] void fail(const Status& status, bool client_image, const char* what) const;
  std::shared_ptr<engine::Collection> collection(const std::string& name) const;
  // Decodes a base64 image field, checking the byte limit.
  std::string image_from_base64(const std::string& text, const std::string& where) const;
  // True when the request carries the data directory's local token: it comes from a `vista`
  // command on this machine, which may read any file its user can.
  bool is_local(const httplib::Request& req) const;
  // Opens a segment folder: for a local request anywhere, otherwise inside the roots (every
  // file it lists checked too).
  engine::Segment segment_at(const std::string& path, bool local) const;
  // Reads an image_path inside the roots.
  ConfinedFile image_from_path(const std::string& path) const;
  void check_text(const std::optional<std::string>& text, const std::string& where) const;
  // Compiles a filter from a request (422 naming the place on failure).
  engine::Filter filter_from(const nlohmann::json& spec) const;
  // Answers 304 when the request already has `etag`; otherwise sets the caching headers.
  static bool not_modified(const httplib::Request& req, httplib::Response& res,
                           const std::string& etag);
  // Removes documents and their stored images. Returns how many were removed; the ids that did
  // not exist go to `missing`.
  int64_t remove_documents(const std::string& collection, const std::vector<std::string>& ids,
                           std::vector<std::string>* missing);
  // One search body ("searches[2]" as `where` in a batch) and its hits as JSON.
  struct SearchRequest {
    engine::Query query;
    engine::SearchOptions options;
    bool with_metadata = true;
    bool with_vector = false;
  };
  SearchRequest parse_search(const nlohmann::json& body, const std::string& where) const;
  nlohmann::json hits_json(const std::string& collection, const SearchRequest& request,
                           const engine::SearchResponse& response) const;

  // add_documents() steps (api/routes_documents.cpp).
  struct AddItem;
  std::vector<AddItem> parse_documents(const httplib::Request& req) const;
  // `files` / `used_parts`: the form and the parts used so far (nullptr for a JSON body).
  AddItem parse_document(const nlohmann::json& value, const std::string& where,
                         const httplib::MultipartFormDataMap* files,
                         std::set<std::string>* used_parts) const;
  std::string image_from_part(const httplib::MultipartFormDataMap& files,
                              const std::string& part_name, const std::string& where,
                              std::set<std::string>* used_parts) const;
  // Adds the items still standing (throws when the engine refuses the whole call).
  engine::AddResponse write_documents(const std::string& name, std::vector<AddItem>& items) const;
  nlohmann::json add_results(const std::vector<AddItem>& items,
                             const engine::AddResponse& added) const;
  // The URL of a document's image, or "" when it has none the server can serve.
  std::string image_url(const std::string& collection, const engine::Document& doc) const;
  void send_json(httplib::Response& res, int status, const nlohmann::json& body) const;

  ServerSettings settings_;
  std::unique_ptr<engine::Engine> engine_;
  PathGuard guard_;
  ApiKeys keys_;
  LocalToken local_token_;
  Metrics metrics_;
  ThumbnailCache thumbnails_;
  std::vector<Route> routes_;
  std::atomic<bool> draining_{false};
  ErrorContext error_context_;
  BrowserGuard browser_guard_;
  ConnectionWatch watch_;
};

}  // namespace vista::api

// InProcessApi: the REST API without a socket, for `vista` commands that find no server on
// their data directory.
//
// The CLI's data commands (collections, search, documents, delete, drop, ingest) are REST calls.
// When a server holds the data directory they go to it over HTTP (api/server_advert.h tells
// where); otherwise they go here: the same routes, validation, error mapping and JSON shapes,
// served by the same code over an engine this process opens. So a command behaves the same with
// and without a running server, and its --json output is the REST response.
//
// Thread-safety: call() from one thread at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "api/settings.h"
#include "common/status.h"

namespace vista::api {

class Service;

struct HttpReply {
  int status = 0;
  std::string body;
};

class InProcessApi {
 public:
  // Opens the engine for settings.data_dir (and the model when settings.model_dir is set).
  // The engine's Status on failure.
  static Result<std::unique_ptr<InProcessApi>> open(const ServerSettings& settings);
  ~InProcessApi();

  // Runs one request through the routes. `query`: decoded query parameters. A streamed
  // response (ingestion) is handed to `on_chunk` piece by piece and not kept in the reply;
  // `keep_going` is polled while it runs: false asks the handler to stop early (Ctrl-C).
  HttpReply call(const std::string& method, const std::string& path,
                 const std::multimap<std::string, std::string>& query, const std::string& body,
                 const std::function<void(std::string_view)>& on_chunk = {},
                 const std::function<bool()>& keep_going = {});

  // Closes the engine (index snapshots). Idempotent.
  Status close();

 private:
  explicit InProcessApi(std::unique_ptr<Service> service, std::string token);
  std::unique_ptr<Service> service_;
  std::string token_;
  bool closed_ = false;
};

}  // namespace vista::api

// ApiServer: Vista's REST API over HTTP/1.1 (cpp-httplib), as run by `vista serve`.
//
// Life cycle:
//   auto server = ApiServer::create(settings);   // opens the engine (data dir, model)
//   int port = *server->bind();                  // host:port; port 0 picks a free port;
//                                                // advertises it in DATA/server.json
//   server->serve();                             // blocks until stop()
//   server->close();                             // engine close: index snapshots; the
//                                                // advert is removed
// stop() may be called from any thread (a signal-watching thread, a test) at any time, also
// before serve() has started; serve() then returns at once. Graceful stop with a deadline: from
// stop() on, /ready answers 503 and new API requests get 503 (the listener stays open so that
// new connections see it); requests in flight get settings.shutdown_timeout_s to finish; then
// httplib stops accepting, every connection still open is cut (a client dripping its body cannot
// hold the process), and serve() returns.
//
// One server per data directory (DATA/.vista-serve.lock) and per port (no SO_REUSEPORT): a
// second one fails at create() or bind() with a message naming the directory or the port.
//
// The endpoints, request and response shapes, errors and limits are in docs/api.md
// (docs/openapi.yaml is the machine-readable form). Settings: api/settings.h.
//
// Thread-safety: bind/serve/close are called by one thread; stop() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "api/settings.h"
#include "common/status.h"

namespace vista::engine {
class Engine;
}  // namespace vista::engine

namespace vista::api {

class Service;
class HttpServer;

class ApiServer {
 public:
  // Validates the settings, opens the engine (and the model when settings.model_dir is set),
  // the image store and the path guard. FailedPrecondition when another server holds the data
  // directory. Sets SIGPIPE to be ignored, process-wide (a client
  // closing its connection early must not end the process). Errors: InvalidArgument for bad
  // settings, the engine's Status for the data directory or the model.
  static Result<std::unique_ptr<ApiServer>> create(const ServerSettings& settings);
  ~ApiServer();  // stop(), close()

  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket. Returns the port (the chosen one for port 0). IOError when the
  // address cannot be bound (naming the port when another process uses it; permission).
  Result<int> bind();
  // Serves until stop(). Failed precondition when not bound.
  Status serve();
  // Stops the server (see above); returns once httplib has been told to stop. Idempotent.
  void stop();
  // Closes the engine (writes index snapshots). Idempotent; call after serve() returned.
  Status close();

  int port() const { return port_; }
  // "http://host:port"
  std::string url() const;
  engine::Engine& engine();

 private:
  explicit ApiServer(std::unique_ptr<Service> service);
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> http_;
  int port_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> serving_{false};
  bool closed_ = false;
  std::string local_token_;  // advertised in DATA/server.json (api/server_advert.h)
  bool advertised_ = false;
  int lock_fd_ = -1;  // DATA/.vista-serve.lock, held while the server exists
};

// Runs a server until SIGINT or SIGTERM, then stops gracefully and closes the engine. Prints
// "listening on http://HOST:PORT" to stdout once bound (and logs it). Used by `vista serve`.
// Blocks SIGINT/SIGTERM in the calling thread first, so call it before other threads exist.
Status run_until_signalled(const ServerSettings& settings);

}  // namespace vista::api

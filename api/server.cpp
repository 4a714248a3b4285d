#include "api/server.h"

#include <unistd.h>

#include "api/server_advert.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <iostream>
#include <thread>

#include "api/service.h"
#include "api/task_queue.h"
#include "common/logging.h"
#include "engine/engine.h"

namespace vista::api {

// httplib::Server with a deeper listen backlog. httplib listens with a backlog of 5 (fixed when
// the library was compiled); a burst of new connections beyond it has its handshakes dropped,
// and clients see resets instead of answers (or 503s). listen() again on the bound socket only
// changes the backlog.
class HttpServer : public httplib::Server {
 public:
  bool set_backlog(int backlog) {
    const auto sock = svr_sock_.load();
    return sock != INVALID_SOCKET && ::listen(sock, backlog) == 0;
  }
};

ApiServer::ApiServer(std::unique_ptr<Service> service)
    : service_(std::move(service)), http_(std::make_unique<HttpServer>()) {
  const ServerSettings& s = service_->settings();
  Service* svc = service_.get();
  const size_t threads = static_cast<size_t>(s.http_threads);
  const size_t pending = static_cast<size_t>(s.max_pending_connections);
  http_->new_task_queue = [svc, threads, pending]() -> httplib::TaskQueue* {
    return new BoundedTaskQueue(
        threads, pending, [svc] { svc->metrics().connection_rejected(); },
        &svc->metrics().waiting_connections());
  };
  http_->set_payload_max_length(s.limits.max_body_bytes);
  http_->set_read_timeout(s.read_timeout_s, 0);
  http_->set_write_timeout(s.write_timeout_s, 0);
  http_->set_keep_alive_timeout(s.keep_alive_timeout_s);
  http_->set_keep_alive_max_count(static_cast<size_t>(s.keep_alive_max_requests));
  http_->set_tcp_nodelay(true);
  http_->set_pre_routing_handler([svc](const httplib::Request& req, httplib::Response& res) {
    return svc->pre_route(req, res);
  });
  auto dispatch = [svc](const httplib::Request& req, httplib::Response& res) {
    svc->dispatch(req, res);
  };
  // Routing is the Service's (it needs the raw target to keep %2F inside ids): httplib sends
  // every request that passed pre_route here, after reading the body.
  http_->Get(".*", dispatch);
  http_->Post(".*", dispatch);
  http_->Put(".*", dispatch);
  http_->Patch(".*", dispatch);
  http_->Delete(".*", dispatch);
  http_->Options(".*", dispatch);
  http_->set_logger(
      [svc](const httplib::Request& req, const httplib::Response& res) { svc->log(req, res); });
  http_->set_error_handler(httplib::Server::HandlerWithResponse(
      [svc](const httplib::Request& req, httplib::Response& res) {
        return svc->on_error(req, res);
      }));
  http_->set_exception_handler([svc](const httplib::Request& req, httplib::Response& res,
                                     std::exception_ptr ep) { svc->on_exception(req, res, ep); });
}

ApiServer::~ApiServer() {
  stop();
  Status s = close();
  if (!s.is_ok()) spdlog::error("closing the server: {}", s.message());
}

Result<std::unique_ptr<ApiServer>> ApiServer::create(const ServerSettings& settings) {
  VISTA_RETURN_IF_ERROR(validate_settings(settings));
  // A client that goes away mid-response must not kill the process: writes to its socket fail
  // with EPIPE instead.
  signal(SIGPIPE, SIG_IGN);
  VISTA_ASSIGN_OR_RETURN(std::string token, make_local_token());
  VISTA_ASSIGN_OR_RETURN(std::unique_ptr<Service> service, Service::open(settings, token));
  service->sweep_images();
  if (settings.api_key.empty())
    spdlog::warn("no API key configured: every client that can reach {} may read and write",
                 settings.host);
  auto server = std::unique_ptr<ApiServer>(new ApiServer(std::move(service)));
  server->local_token_ = std::move(token);
  return server;
}

Result<int> ApiServer::bind() {
  const ServerSettings& s = service_->settings();
  if (port_ >= 0) return port_;
  int port = -1;
  if (s.port == 0) {
    port = http_->bind_to_any_port(s.host);
  } else if (http_->bind_to_port(s.host, s.port)) {
    port = s.port;
  }
  if (port <= 0)
    return Status::io_error("cannot listen on " + s.host + ":" + std::to_string(s.port) +
                            " (address in use, not local, or not permitted)");
  // Room for every connection the server may hold (workers, both queues) plus a burst.
  const int backlog = std::max(128, s.http_threads + 2 * s.max_pending_connections);
  if (!http_->set_backlog(backlog)) spdlog::warn("cannot raise the listen backlog to {}", backlog);
  port_ = port;
  // From now on the other `vista` commands on this data directory come here (server_advert.h).
  if (Status st = write_server_advert(s.data_dir, {local_url(s.host, port_),
                                                   static_cast<int64_t>(::getpid()), local_token_});
      st.is_ok()) {
    advertised_ = true;
  } else {
    spdlog::warn("{}: other vista commands on {} cannot reach this server", st.message(),
                 s.data_dir.string());
  }
  return port_;
}

std::string ApiServer::url() const {
  const std::string& host = service_->settings().host;
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port_);
}

engine::Engine& ApiServer::engine() {
  return service_->engine();
}

Status ApiServer::serve() {
  if (port_ < 0) return Status::failed_precondition("serve() before bind()");
  serving_ = true;
  bool ok = true;
  if (!stop_requested_) ok = http_->listen_after_bind();
  serving_ = false;
  service_->set_draining();
  if (!ok) return Status::io_error("the listening socket failed");
  return Status::ok();
}

void ApiServer::stop() {
  stop_requested_ = true;
  service_->set_draining();
  // serve() may be between its check of stop_requested_ and listening: wait until httplib runs
  // (so its stop() takes effect) or serve() has returned.
  while (serving_ && !http_->is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

Status ApiServer::close() {
  if (closed_) return Status::ok();
  closed_ = true;
  if (advertised_) remove_server_advert(service_->settings().data_dir, local_token_);
  return service_->engine().close();
}

Status run_until_signalled(const ServerSettings& settings) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // Every thread started from here on (encoder, HTTP workers) inherits the mask, so the signals
  // are only ever taken by the watcher below.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  VISTA_ASSIGN_OR_RETURN(std::unique_ptr<ApiServer> server, ApiServer::create(settings));
  VISTA_RETURN_IF_ERROR(server->bind().status());
  spdlog::info("listening on {}", server->url());
  std::cout << "listening on " << server->url() << std::endl;

  std::atomic<bool> done{false};
  std::thread watcher([&] {
    bool stopping = false;
    while (!done) {
      timespec wait{0, 200 * 1000 * 1000};
      const int sig = sigtimedwait(&signals, nullptr, &wait);
      if (sig <= 0) continue;
      if (stopping) {
        // Acknowledged writes are already durable (WAL); only the snapshot is skipped.
        spdlog::warn("second {}: exiting without waiting", strsignal(sig));
        std::_Exit(1);
      }
      stopping = true;
      spdlog::info("{}: stopping (finishing requests in flight)", strsignal(sig));
      server->stop();
    }
  });
  Status served = server->serve();
  done = true;
  watcher.join();
  Status closed = server->close();
  if (closed.is_ok()) spdlog::info("stopped; indexes saved");
  return served.is_ok() ? closed : served;
}

}  // namespace vista::api

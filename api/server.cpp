#include "api/server.h"

#include <fcntl.h>
#include <unistd.h>

#include "api/server_advert.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <thread>

#include "api/service.h"
#include "api/task_queue.h"
#include "common/logging.h"
#include "engine/engine.h"
#include "index/index_spec.h"

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
  int listen_fd() const { return static_cast<int>(svr_sock_.load()); }
};

namespace {

// httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and take
// half of the connections. SO_REUSEADDR alone only allows a restart while old connections linger
// in TIME_WAIT; a port another process listens on stays an error.
void exclusive_socket_options(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

// An exclusive lock on DATA/.vista-serve.lock for the server's lifetime: a second server on the
// same data directory stops at start instead of reporting ready and failing every call on
// RocksDB's lock. The file holds the owner's pid, for the message.
Result<int> lock_data_dir(const std::filesystem::path& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  const auto path = data_dir / ".vista-serve.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io_error("cannot open " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    return Status::failed_precondition(
        "data directory " + data_dir.string() + " is already served by another vista serve" +
        (n > 0 ? " (pid " + std::string(pid, static_cast<size_t>(n)) + ")" : std::string()) +
        "; stop it first or use another --data");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0)
    spdlog::warn("cannot write the pid into {}", path.string());
  return fd;
}

}  // namespace

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
  http_->set_socket_options(exclusive_socket_options);
  http_->set_pre_routing_handler([svc](const httplib::Request& req, httplib::Response& res) {
    return svc->pre_route(req, res);
  });
  auto dispatch = [svc](const httplib::Request& req, httplib::Response& res) {
    svc->dispatch(req, res);
  };
  // Routing is the Service's (it needs the raw target to keep %2F inside ids): httplib sends
  // every request that passed pre_route here, after reading the body.
  // Methods with a body read it through the Service (dispatch_with_body), which bounds it
  // whatever its framing: httplib's own limit covers Content-Length only, not chunked bodies.
  auto with_body = [svc](const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) {
    svc->dispatch_with_body(req, res, reader);
  };
  http_->Get(".*", dispatch);
  http_->Post(".*", with_body);
  http_->Put(".*", with_body);
  http_->Patch(".*", with_body);
  http_->Delete(".*", with_body);
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
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<ApiServer>> ApiServer::create(const ServerSettings& settings) {
  VISTA_RETURN_IF_ERROR(validate_settings(settings));
  // A client that goes away mid-response must not kill the process: writes to its socket fail
  // with EPIPE instead.
  signal(SIGPIPE, SIG_IGN);
  VISTA_ASSIGN_OR_RETURN(const int lock_fd, lock_data_dir(settings.data_dir));
  struct LockCloser {
    int fd;
    ~LockCloser() {
      if (fd >= 0) ::close(fd);
    }
  } lock{lock_fd};
  VISTA_ASSIGN_OR_RETURN(std::string token, make_local_token());
  VISTA_ASSIGN_OR_RETURN(std::unique_ptr<Service> service, Service::open(settings, token));
  // A default spec the rules refuse would fail every collection created on first use.
  if (auto dimension = service->engine().dimension(); dimension.is_ok()) {
    VISTA_RETURN_IF_ERROR(index::parse_index_spec(settings.default_index, *dimension)
                              .status()
                              .with_context("storage.default_index"));
  }
  service->open_collections();
  if (settings.api_key.empty())
    spdlog::warn("no API key configured: every client that can reach {} may read and write",
                 settings.host);
  std::unique_ptr<ApiServer> server(new ApiServer(std::move(service)));
  server->lock_fd_ = std::exchange(lock.fd, -1);
  server->local_token_ = std::move(token);
  return server;
}

Result<int> ApiServer::bind() {
  const ServerSettings& s = service_->settings();
  if (port_ >= 0) return port_;
  int port = -1;
  errno = 0;
  if (s.port == 0) {
    port = http_->bind_to_any_port(s.host);
  } else if (http_->bind_to_port(s.host, s.port)) {
    port = s.port;
  }
  if (port <= 0) {
    if (errno == EADDRINUSE)
      return Status::io_error("port " + std::to_string(s.port) + " on " + s.host +
                              " is already in use by another process; pick another with --port");
    return Status::io_error("cannot listen on " + s.host + ":" + std::to_string(s.port) + " (" +
                            (errno ? std::strerror(errno) : "address not local or not permitted") +
                            ")");
  }
  // Room for every connection the server may hold (workers, both queues) plus a burst.
  const int backlog = std::max(128, s.http_threads + 2 * s.max_pending_connections);
  if (!http_->set_backlog(backlog)) spdlog::warn("cannot raise the listen backlog to {}", backlog);
  port_ = port;
  service_->connection_watch().start(port_, http_->listen_fd());
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
  if (stop_requested_.exchange(true)) return;
  service_->set_draining();
  // Requests in flight get until the shutdown deadline to finish; the server keeps accepting
  // meanwhile, so that new connections see /ready answer 503.
  ConnectionWatch& watch = service_->connection_watch();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(service_->settings().shutdown_timeout_s);
  while (serving_ && watch.requests_in_progress() > 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (watch.requests_in_progress() > 0)
    spdlog::warn("shutdown deadline ({} s) reached: cutting {} unfinished request(s)",
                 service_->settings().shutdown_timeout_s, watch.requests_in_progress());
  // serve() may be between its check of stop_requested_ and listening: wait until httplib runs
  // (so its stop() takes effect) or serve() has returned.
  while (serving_ && !http_->is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
  // Whatever still holds a worker (a client dripping its body, a client not reading its answer)
  // is cut, so serve() returns now.
  watch.cut_all();
}

Status ApiServer::close() {
  if (closed_) return Status::ok();
  closed_ = true;
  service_->connection_watch().stop();
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

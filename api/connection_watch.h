// ConnectionWatch: deadlines for the server's client connections, so that no client can hold a
// worker thread for as long as it likes.
//
// cpp-httplib 0.11.4 has only a per-read timeout: a client that sends one header line or one body
// byte every few seconds never trips it, and each such client holds one of the server's workers
// (20 of them made /health wait 14 s; 100 made it answer 503). httplib does not expose the
// connection's socket to the request hooks, so the watch finds the server's connected sockets
// itself (/proc/self/fd: sockets whose local port is the server's), learns from the request hooks
// (by peer address) which phase each connection is in, and closes (shutdown(2)) those past their
// deadline; httplib's blocked read then fails and the worker moves on.
//
// Phases and their deadlines:
//   waiting  no request in progress: connection just accepted, or its last response sent. Its
//            request line and headers must arrive within header_timeout. While connections wait
//            for a worker (under_pressure()), one that has waited busy_header_timeout with no
//            unread input (a worker is reading it byte by byte, or it is idle) is closed too.
//            Connections with unread input are left alone: they are queued, not slow.
//   body     headers read (pre-routing hook): the body must arrive within body_timeout.
//   handling the handler runs; no deadline (handlers bound their own work).
// cut_all() closes every connection at once (the end of the shutdown deadline).
//
// Thread-safety: the hooks are called from worker threads, the rest from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace vista::api {

class ConnectionWatch {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds header_timeout{10000};
    std::chrono::milliseconds body_timeout{60000};
    std::chrono::milliseconds busy_header_timeout{1000};
    std::chrono::milliseconds scan_interval{100};
    std::function<bool()> under_pressure;  // connections are waiting for a worker
  };

  explicit ConnectionWatch(Options options);
  ~ConnectionWatch();  // stop()

  // Starts watching the connections accepted on `port` (the listening socket `listen_fd` is not
  // one of them).
  void start(int port, int listen_fd);
  void stop();

  // Request hooks, by the client's address as httplib reports it.
  void headers_read(const std::string& peer_ip, int peer_port);
  void body_read(const std::string& peer_ip, int peer_port);
  void response_sent(const std::string& peer_ip, int peer_port);

  // Connections with a request past its headers (reading its body or being handled).
  int64_t requests_in_progress() const;
  // Closes every client connection now.
  void cut_all();
  // Connections closed for missing a deadline so far.
  int64_t cut_count() const { return cut_count_.load(); }

 private:
  enum class Phase { kWaiting, kBody, kHandling };
  struct PeerState {
    Phase phase = Phase::kWaiting;
    Clock::time_point since;
  };
  struct Connection {
    int fd = -1;
    std::string peer;
    Clock::time_point first_seen;
  };
  void set_phase(const std::string& peer_ip, int peer_port, Phase phase);
  void run();
  void scan(bool cut_everything);

  Options options_;
  int port_ = -1;
  int listen_fd_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, PeerState> peers_;     // by "ip:port"
  std::map<unsigned long, Connection> conns_;  // by socket inode (fd numbers are reused)
  std::thread thread_;
  std::atomic<int64_t> cut_count_{0};
};

}  // namespace vista::api

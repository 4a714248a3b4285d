#include "api/connection_watch.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <vector>

#include "common/logging.h"

namespace vista::api {

namespace {

std::string peer_key(const std::string& ip, int port) {
  return ip + ":" + std::to_string(port);
}

// The port of an AF_INET/AF_INET6 address, and its numeric host.
bool describe(const sockaddr_storage& addr, std::string* host, int* port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    if (!inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf)) return false;
    *port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (!inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf)) return false;
    *port = ntohs(a->sin6_port);
  } else {
    return false;
  }
  *host = buf;
  return true;
}

unsigned long socket_inode(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return static_cast<unsigned long>(st.st_ino);
}

}  // namespace

ConnectionWatch::ConnectionWatch(Options options) : options_(std::move(options)) {}

ConnectionWatch::~ConnectionWatch() {
  stop();
}

void ConnectionWatch::start(int port, int listen_fd) {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  port_ = port;
  listen_fd_ = listen_fd;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void ConnectionWatch::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ConnectionWatch::set_phase(const std::string& ip, int port, Phase phase) {
  std::lock_guard lock(mutex_);
  peers_[peer_key(ip, port)] = {phase, Clock::now()};
}

void ConnectionWatch::headers_read(const std::string& ip, int port) {
  set_phase(ip, port, Phase::kBody);
}
void ConnectionWatch::body_read(const std::string& ip, int port) {
  set_phase(ip, port, Phase::kHandling);
}
void ConnectionWatch::response_sent(const std::string& ip, int port) {
  set_phase(ip, port, Phase::kWaiting);
}

int64_t ConnectionWatch::requests_in_progress() const {
  std::lock_guard lock(mutex_);
  int64_t n = 0;
  for (const auto& [peer, state] : peers_) n += state.phase != Phase::kWaiting;
  return n;
}

void ConnectionWatch::cut_all() {
  scan(/*cut_everything=*/true);
}

void ConnectionWatch::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.scan_interval);
    if (stopping_) break;
    lock.unlock();
    scan(/*cut_everything=*/false);
    lock.lock();
  }
}

void ConnectionWatch::scan(bool cut_everything) {
  // The sockets first, without the lock: the hooks must never wait for /proc.
  struct Found {
    int fd;
    unsigned long inode;
    std::string peer;
  };
  std::vector<Found> found;
  if (port_ < 0) return;
  const auto scan_start = Clock::now();
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    while (dirent* e = ::readdir(dir)) {
      char* end = nullptr;
      const long fd = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || fd == own || fd == listen_fd_) continue;
      const unsigned long inode = socket_inode(static_cast<int>(fd));
      if (inode == 0) continue;
      sockaddr_storage local{}, remote{};
      socklen_t len = sizeof local;
      std::string host;
      int port = -1;
      if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
          !describe(local, &host, &port) || port != port_)
        continue;
      len = sizeof remote;
      if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&remote), &len) != 0 ||
          !describe(remote, &host, &port))
        continue;
      found.push_back({static_cast<int>(fd), inode, peer_key(host, port)});
    }
    ::closedir(dir);
  }

  const auto now = Clock::now();
  const bool pressure = !cut_everything && options_.under_pressure && options_.under_pressure();
  std::vector<Found> to_cut;
  {
    std::lock_guard lock(mutex_);
    std::map<unsigned long, Connection> alive;
    std::set<std::string> peers;
    for (const auto& f : found) {
      auto it = conns_.find(f.inode);
      Connection c = it != conns_.end() && it->second.peer == f.peer
                         ? it->second
                         : Connection{f.fd, f.peer, now};
      c.fd = f.fd;
      alive[f.inode] = c;
      peers.insert(f.peer);
      if (cut_everything) {
        to_cut.push_back(f);
        continue;
      }
      auto p = peers_.find(f.peer);
      const Phase phase = p == peers_.end() ? Phase::kWaiting : p->second.phase;
      const Clock::time_point since = p == peers_.end() ? c.first_seen : p->second.since;
      const auto waited = now - since;
      bool cut = false;
      if (phase == Phase::kBody) {
        cut = waited > options_.body_timeout;
      } else if (phase == Phase::kWaiting) {
        int unread = 0;
        if (::ioctl(f.fd, FIONREAD, &unread) != 0) unread = 0;
        // Unread input means the connection is queued for a worker, not slow.
        cut = unread == 0 && (waited > options_.header_timeout ||
                              (pressure && waited > options_.busy_header_timeout));
      }
      if (cut) to_cut.push_back(f);
    }
    conns_ = std::move(alive);
    // Phases of connections gone since; a phase set during this scan may belong to a
    // connection accepted after the listing, and stays.
    for (auto it = peers_.begin(); it != peers_.end();)
      it = peers.count(it->first) || it->second.since >= scan_start ? std::next(it)
                                                                    : peers_.erase(it);
  }
  for (const auto& f : to_cut) {
    // The fd may have been closed and reused since the scan: cut only the same socket.
    if (socket_inode(f.fd) != f.inode) continue;
    ::shutdown(f.fd, SHUT_RDWR);
    if (!cut_everything) {
      cut_count_.fetch_add(1);
      spdlog::info("closed connection from {}: its request missed its deadline", f.peer);
    }
  }
}

}  // namespace vista::api

// Helpers for the HTTP API tests: an in-process server on an ephemeral port, a `vista serve`
// child process, raw sockets and golden images.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/base64.h"
#include "api/server.h"
#include "tests/test_support.h"

extern char** environ;

namespace vista::testing {

inline std::filesystem::path tiny_model() {
  return golden_dir() / "tiny-model";
}

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string golden_image(const std::string& name) {
  return read_bytes(golden_dir() / "images" / name);
}

inline std::string golden_image_b64(const std::string& name) {
  return api::base64_encode(golden_image(name));
}

// Settings for a test server: tiny model, a fresh data directory, ephemeral port.
inline api::ServerSettings test_settings(const std::filesystem::path& data_dir) {
  api::ServerSettings s;
  s.data_dir = data_dir;
  s.model_dir = tiny_model();
  s.port = 0;
  s.http_threads = 8;
  s.encoder_threads = 2;
  return s;
}

// An ApiServer serving on its own thread until the object dies.
class TestServer {
 public:
  explicit TestServer(const api::ServerSettings& settings) {
    auto created = api::ApiServer::create(settings);
    if (!created.is_ok()) {
      ADD_FAILURE() << "server: " << created.status();
      return;
    }
    server_ = std::move(created).value();
    auto port = server_->bind();
    if (!port.is_ok()) {
      ADD_FAILURE() << "bind: " << port.status();
      server_.reset();
      return;
    }
    port_ = *port;
    thread_ = std::thread([this] { served_ = server_->serve(); });
  }
  ~TestServer() { shutdown(); }

  void shutdown() {
    if (!server_) return;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(served_.is_ok()) << served_;
    EXPECT_TRUE(server_->close().is_ok());
    server_.reset();
  }

  bool ok() const { return server_ != nullptr; }
  int port() const { return port_; }
  api::ApiServer& server() { return *server_; }

  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(120, 0);
    c->set_write_timeout(120, 0);
    c->set_connection_timeout(10, 0);
    return c;
  }

 private:
  std::unique_ptr<api::ApiServer> server_;
  std::thread thread_;
  Status served_;
  int port_ = -1;
};

inline nlohmann::json body_json(const httplib::Result& r) {
  if (!r) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
}

// The error code of an error response ("" when the body is not one).
inline std::string error_code(const httplib::Result& r) {
  auto j = body_json(r);
  if (!j.is_object() || !j.contains("error") || !j["error"].contains("code")) return "";
  return j["error"]["code"].get<std::string>();
}

inline httplib::Result post_json(httplib::Client& c, const std::string& path,
                                 const nlohmann::json& body, const httplib::Headers& h = {}) {
  return c.Post(path.c_str(), h, body.dump(), "application/json");
}

// Connects to 127.0.0.1:port; -1 on failure.
inline int connect_local(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends raw bytes and reads one response: until it is complete, the server closes, or
// `timeout_ms` passes without data.
// `half_close`: shut the sending side afterwards, so the server sees the end of the input.
inline std::string raw_exchange(int port, const std::string& bytes, int timeout_ms = 5000,
                                bool half_close = false) {
  int fd = connect_local(port);
  if (fd < 0) return "";
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (;;) {
    // Done once one whole response (head and Content-Length body) is in.
    const size_t head = out.find("\r\n\r\n");
    if (head != std::string::npos) {
      size_t length = 0;
      const size_t cl = out.find("Content-Length: ");
      if (cl != std::string::npos && cl < head) length = std::stoul(out.substr(cl + 16));
      if (out.size() >= head + 4 + length) break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// `vista serve` as a child process, stdout read for the "listening on" line.
class ServeProcess {
 public:
  ServeProcess(const std::vector<std::string>& args, const std::filesystem::path& log) {
    int out[2];
    if (::pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<std::string> argv_s = {vista_binary().string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    stdout_fd_ = out[0];
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
  }

  // Waits for "listening on http://HOST:PORT"; returns the port, or -1 (exit or timeout).
  int wait_for_port(int timeout_s = 120) {
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    char buf[256];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) return -1;
      seen.append(buf, static_cast<size_t>(n));
      const auto pos = seen.find("listening on http://");
      const auto nl = pos == std::string::npos ? pos : seen.find('\n', pos);
      if (nl != std::string::npos) {
        const auto colon = seen.rfind(':', nl);
        return std::stoi(seen.substr(colon + 1, nl - colon - 1));
      }
    }
    return -1;
  }

  // Sends `sig` and waits for the exit; returns the exit status (or 128+signal).
  int signal_and_wait(int sig, int timeout_s = 60) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int st = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

}  // namespace vista::testing

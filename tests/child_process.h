// Child processes for integration tests: start a program with extra environment variables and
// its output in files, wait for it, or stop it by PID (SIGTERM, then SIGKILL).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vista::testing {

struct ChildProcess {
  pid_t pid = -1;
  std::filesystem::path out, err;  // where its stdout and stderr go
};

struct ChildExit {
  int exit_code = -1;  // the exit status, or 128 + the signal that ended it
  bool killed_by_signal = false;
  int signal = 0;
  std::string out, err;
};

inline std::string read_text_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Environment changes for a child: a value sets the variable, std::nullopt removes it.
using ChildEnv = std::vector<std::pair<std::string, std::optional<std::string>>>;

// argv[0] is looked up on PATH; stdout and stderr go to the files `out` and `err`.
inline ChildProcess start_child_with_files(const std::vector<std::string>& argv,
                                           const std::filesystem::path& out_path,
                                           const std::filesystem::path& err_path,
                                           const ChildEnv& env = {},
                                           const std::filesystem::path& cwd = {}) {
  ChildProcess c;
  c.out = out_path;
  c.err = err_path;
  const std::string out = c.out.string(), err = c.err.string();
  c.pid = fork();
  if (c.pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(o, 1);
    dup2(e, 2);
    dup2(in, 0);
    for (const auto& [k, v] : env) v ? setenv(k.c_str(), v->c_str(), 1) : unsetenv(k.c_str());
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return c;
}

// As above, with <name>.out and <name>.err in `io_dir`.
inline ChildProcess start_child(const std::vector<std::string>& argv,
                                const std::filesystem::path& io_dir, const std::string& name,
                                const ChildEnv& env = {}, const std::filesystem::path& cwd = {}) {
  std::filesystem::create_directories(io_dir);
  return start_child_with_files(argv, io_dir / (name + ".out"), io_dir / (name + ".err"), env,
                                cwd);
}

inline ChildExit wait_child(ChildProcess& c) {
  ChildExit r;
  int status = 0;
  if (c.pid > 0 && waitpid(c.pid, &status, 0) == c.pid) {
    r.killed_by_signal = WIFSIGNALED(status);
    r.signal = r.killed_by_signal ? WTERMSIG(status) : 0;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + r.signal;
  }
  c.pid = -1;
  r.out = read_text_file(c.out);
  r.err = read_text_file(c.err);
  return r;
}

// Runs to completion.
inline ChildExit run_child(const std::vector<std::string>& argv,
                           const std::filesystem::path& io_dir, const std::string& name,
                           const ChildEnv& env = {}, const std::filesystem::path& cwd = {}) {
  ChildProcess c = start_child(argv, io_dir, name, env, cwd);
  return wait_child(c);
}

// SIGTERM, up to `grace` to exit, then SIGKILL; reaps it. True when it is gone.
inline bool stop_child(ChildProcess& c,
                       std::chrono::milliseconds grace = std::chrono::seconds(10)) {
  if (c.pid <= 0) return true;
  kill(c.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid || r < 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const bool gone = kill(c.pid, 0) != 0;
  c.pid = -1;
  return gone;
}

// Polls `done` every 100 ms for up to `limit`.
template <typename Fn>
bool wait_until(Fn done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

}  // namespace vista::testing

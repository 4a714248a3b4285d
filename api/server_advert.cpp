#include "api/server_advert.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/json_codec.h"
#include "common/logging.h"

namespace vista::api {

namespace fs = std::filesystem;
using nlohmann::json;

Result<std::string> make_local_token() {
  std::string bytes(32, '\0');
  std::ifstream random("/dev/urandom", std::ios::binary);
  if (!random.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    return Status::io_error("cannot read /dev/urandom for the local access token");
  return hex_encode(bytes);
}

std::string local_url(const std::string& host, int port) {
  std::string h = host;
  if (h.empty() || h == "0.0.0.0") h = "127.0.0.1";
  if (h == "::" || h == "[::]") h = "::1";
  const bool v6 = h.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + h + "]" : h) + ":" + std::to_string(port);
}

Status write_server_advert(const fs::path& data_dir, const ServerAdvert& advert) {
  const fs::path path = data_dir / kServerAdvertFile;
  const fs::path tmp = path.string() + ".tmp";
  const std::string text =
      json{{"url", advert.url}, {"pid", advert.pid}, {"token", advert.token}}.dump() + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  std::error_code ec;
  if (written) fs::rename(tmp, path, ec);
  if (!written || ec) {
    fs::remove(tmp, ec);
    return Status::io_error("cannot write " + path.string());
  }
  return Status::ok();
}

std::optional<ServerAdvert> read_server_advert(const fs::path& data_dir) {
  std::ifstream in(data_dir / kServerAdvertFile);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  ServerAdvert advert;
  try {
    const json j = json::parse(text.str());
    advert.url = j.at("url").get<std::string>();
    advert.pid = j.at("pid").get<int64_t>();
    advert.token = j.at("token").get<std::string>();
  } catch (const json::exception&) {
    spdlog::debug("{} is not a server advert; ignored", (data_dir / kServerAdvertFile).string());
    return std::nullopt;
  }
  // kill(pid, 0) checks existence; EPERM means alive but another user's.
  if (advert.pid <= 0 || (::kill(static_cast<pid_t>(advert.pid), 0) != 0 && errno != EPERM))
    return std::nullopt;
  return advert;
}

void remove_server_advert(const fs::path& data_dir, const std::string& token) {
  auto current = read_server_advert(data_dir);
  if (!current || current->token != token) {
    // A dead server's advert is ours too when the pid is this process (read skips it only if
    // the process is gone, which cannot be us).
    return;
  }
  std::error_code ec;
  fs::remove(data_dir / kServerAdvertFile, ec);
}

}  // namespace vista::api

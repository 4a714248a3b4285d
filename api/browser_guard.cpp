#include "api/browser_guard.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace vista::api {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "name:port" -> "name"; "[::1]:8080" -> "::1".
std::string host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return std::string(host.substr(1, close == host.npos ? host.npos : close - 1));
  }
  const size_t colon = host.find(':');
  if (colon != host.npos && host.find(':', colon + 1) == host.npos) host = host.substr(0, colon);
  return std::string(host);
}

bool is_ip_address(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

bool changes_state(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

}  // namespace

BrowserGuard::BrowserGuard(std::vector<std::string> allowed_hosts,
                           std::vector<std::string> allowed_origins) {
  for (const auto& h : allowed_hosts) {
    if (h == "*") any_host_ = true;
    hosts_.push_back(lower(h));
  }
  for (const auto& o : allowed_origins) {
    if (o == "*") any_origin_ = true;
    std::string origin = lower(o);
    while (!origin.empty() && origin.back() == '/') origin.pop_back();
    origins_.push_back(origin);
  }
}

bool BrowserGuard::host_allowed(std::string_view host) const {
  if (any_host_ || host.empty()) return true;  // HTTP/1.0 clients send no Host; browsers do
  const std::string full = lower(host);
  const std::string name = host_name(full);
  if (name == "localhost" || is_ip_address(name)) return true;
  return std::find(hosts_.begin(), hosts_.end(), full) != hosts_.end() ||
         std::find(hosts_.begin(), hosts_.end(), name) != hosts_.end();
}

std::optional<std::string> BrowserGuard::refuse(std::string_view method, std::string_view host,
                                                std::string_view origin) const {
  if (!host_allowed(host))
    return "Host '" + std::string(host) +
           "' is not this server's address; add it to security.allowed_hosts if a proxy or a "
           "DNS name serves this server";
  if (origin.empty() || any_origin_ || !changes_state(method)) return std::nullopt;
  const std::string o = lower(origin);
  if (!host.empty() && (o == "http://" + lower(host) || o == "https://" + lower(host)))
    return std::nullopt;
  if (std::find(origins_.begin(), origins_.end(), o) != origins_.end()) return std::nullopt;
  return "cross-origin " + std::string(method) + " from '" + std::string(origin) +
         "' refused; add the origin to security.allowed_origins to allow it";
}

}  // namespace vista::api

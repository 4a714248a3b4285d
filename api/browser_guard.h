// BrowserGuard: keeps web pages of other sites away from the API, which by default needs no key.
//
// Two browser attacks reach a server on 127.0.0.1 without a key:
//   - cross-origin writes: any page may POST a multipart form (or DELETE with fetch in no-cors
//     mode) to http://127.0.0.1:8080 without a preflight; the browser sends it with the page's
//     Origin. Requests that change state (every method but GET, HEAD and OPTIONS) whose Origin is
//     not the server's own (scheme://Host of the request) nor in security.allowed_origins are
//     refused.
//   - DNS rebinding: a name the attacker controls is made to resolve to 127.0.0.1, so its page
//     becomes same-origin with the server; the request then carries the attacker's name in Host.
//     Requests whose Host is not an IP address, "localhost" (any port) or a name in
//     security.allowed_hosts are refused.
// The public routes (the page, /health, /ready) are exempt: they reveal and change nothing.
// Clients outside a browser (curl, SDKs) send no Origin and connect by address or localhost, so
// they are unaffected. Behind a reverse proxy, list the public name in security.allowed_hosts
// (and the page origins allowed to write in security.allowed_origins); "*" turns a check off.
//
// Thread-safety: immutable after construction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vista::api {

class BrowserGuard {
 public:
  BrowserGuard(std::vector<std::string> allowed_hosts, std::vector<std::string> allowed_origins);

  // The reason to refuse a request (403), or nothing. `host` and `origin` are the header values
  // ("" when absent).
  std::optional<std::string> refuse(std::string_view method, std::string_view host,
                                    std::string_view origin) const;

 private:
  bool host_allowed(std::string_view host) const;
  std::vector<std::string> hosts_;
  std::vector<std::string> origins_;
  bool any_host_ = false;
  bool any_origin_ = false;
};

}  // namespace vista::api

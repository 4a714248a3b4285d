#include "api/in_process.h"

#include <httplib.h>

#include "api/server_advert.h"
#include "api/service.h"

namespace vista::api {

InProcessApi::InProcessApi(std::unique_ptr<Service> service, std::string token)
    : service_(std::move(service)), token_(std::move(token)) {}

InProcessApi::~InProcessApi() {
  (void)close();
}

Result<std::unique_ptr<InProcessApi>> InProcessApi::open(const ServerSettings& settings) {
  VISTA_ASSIGN_OR_RETURN(std::string token, make_local_token());
  VISTA_ASSIGN_OR_RETURN(std::unique_ptr<Service> service, Service::open(settings, token));
  return std::unique_ptr<InProcessApi>(new InProcessApi(std::move(service), std::move(token)));
}

HttpReply InProcessApi::call(const std::string& method, const std::string& path,
                             const std::multimap<std::string, std::string>& query,
                             const std::string& body,
                             const std::function<void(std::string_view)>& on_chunk,
                             const std::function<bool()>& keep_going) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.target = path;
  for (const auto& [k, v] : query) req.params.emplace(k, v);
  req.body = body;
  if (!body.empty()) req.headers.emplace("Content-Type", "application/json");
  req.headers.emplace(kLocalTokenHeader, token_);
  httplib::Response res;
  service_->pre_route(req, res);
  service_->dispatch(req, res);
  service_->log(req, res);
  HttpReply reply{res.status, res.body};
  if (res.content_provider_) {
    // A streamed response: drive its provider the way the HTTP server would.
    httplib::DataSink sink;
    bool done = false;
    sink.write = [&](const char* data, size_t size) {
      if (on_chunk) on_chunk(std::string_view(data, size));
      return true;
    };
    sink.is_writable = [&] { return !keep_going || keep_going(); };
    sink.done = [&] { done = true; };
    size_t offset = 0;
    while (!done && res.content_provider_(offset, 0, sink)) {
    }
  }
  return reply;
}

Status InProcessApi::close() {
  if (closed_) return Status::ok();
  closed_ = true;
  return service_->engine().close();
}

}  // namespace vista::api

// GET /, /health, /ready, /metrics.
#include "api/json_codec.h"
#include "api/service.h"

#if __has_include("api/web_assets.h")
#include "api/web_assets.h"
#define VISTA_HAS_WEB_ASSETS 1
#endif

namespace vista::api {

using nlohmann::json;

namespace {

#ifndef VISTA_HAS_WEB_ASSETS
// Served until the web page (api/web/) is part of the build.
constexpr std::string_view kPlaceholderPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vista</title></head>
<body><h1>Vista</h1><p>The search API is at <code>/v1</code>; see docs/api.md.</p></body></html>
)";
#endif

}  // namespace

void Service::get_web_page(const httplib::Request& req, httplib::Response& res,
                           const std::vector<std::string>&) {
#ifdef VISTA_HAS_WEB_ASSETS
  if (not_modified(req, res, std::string(web_index_etag()))) return;
  const std::string_view page = web_index_html();
#else
  const std::string_view page = kPlaceholderPage;
#endif
  res.status = 200;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
}

void Service::get_health(const httplib::Request&, httplib::Response& res,
                         const std::vector<std::string>&) {
  send_json(res, 200, {{"status", "ok"}});
}

void Service::get_ready(const httplib::Request&, httplib::Response& res,
                        const std::vector<std::string>&) {
  if (draining_) {
    write_error(res, ApiError::overloaded("the server is shutting down", settings_.retry_after_s));
    return;
  }
  // Failed collections do not make the server unready (the others are served); they are listed
  // so that monitoring sees them.
  json failed = json::array();
  if (auto entries = engine_->catalog().list_entries(); entries.is_ok()) {
    for (const auto& e : *entries)
      if (!e.info) failed.push_back({{"name", e.name}, {"error", public_reason(e.error)}});
  }
  json body = {{"status", failed.empty() ? "ready" : "degraded"},
               {"model", nullptr},
               {"dim", nullptr},
               {"failed_collections", failed}};
  if (auto id = engine_->model_identity(); id.is_ok()) {
    body["model"] = {{"name", id->name}, {"checkpoint_hash", id->checkpoint_hash}};
    body["dim"] = *engine_->dimension();
  }
  send_json(res, 200, body);
}

void Service::get_metrics(const httplib::Request&, httplib::Response& res,
                          const std::vector<std::string>&) {
  std::vector<std::pair<std::string, int64_t>> documents;
  if (auto names = engine_->catalog().list(); names.is_ok()) {
    for (const auto& name : *names) {
      auto coll = engine_->catalog().get(name);
      if (coll.is_ok()) documents.emplace_back(name, (*coll)->count());
    }
  }
  std::optional<engine::EncodeQueueStats> stats;
  if (auto* queue = engine_->encode_queue()) stats = queue->stats();
  res.status = 200;
  res.set_content(metrics_.render(stats ? &*stats : nullptr, documents),
                  "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace vista::api

// /v1/collections and /v1/collections/{name}.
#include "api/json_codec.h"
#include "api/service.h"
#include "common/logging.h"

namespace vista::api {

using nlohmann::json;

void Service::list_collections(const httplib::Request&, httplib::Response& res,
                               const std::vector<std::string>&) {
  auto entries = engine_->catalog().list_entries();
  if (!entries.is_ok()) fail(entries.status(), false, "listing collections");
  json list = json::array();
  for (const auto& e : *entries) {
    if (e.info) {
      list.push_back(collection_json(*e.info));
    } else {
      list.push_back({{"name", e.name}, {"state", "failed"}, {"error", public_reason(e.error)}});
    }
  }
  send_json(res, 200, {{"collections", list}});
}

void Service::create_collection(const httplib::Request& req, httplib::Response& res,
                                const std::vector<std::string>&) {
  const json body = parse_json_body(req);
  ObjectReader r(body, "the request body");
  const auto name = r.string("name");
  const auto index = r.string("index");
  r.finish();
  if (!name) throw ApiError::malformed("the request body needs \"name\"");
  auto created = engine_->create_collection(*name, index.value_or(""));
  if (!created.is_ok()) fail(created.status(), false, "creating a collection");
  res.set_header("Location", "/v1/collections/" + encode_path_segment(*name));
  send_json(res, 201, collection_json((*created)->info()));
}

void Service::get_collection(const httplib::Request&, httplib::Response& res,
                             const std::vector<std::string>& params) {
  auto coll = collection(params[0]);
  send_json(res, 200, collection_json(coll->info()));
}

void Service::delete_collection(const httplib::Request&, httplib::Response& res,
                                const std::vector<std::string>& params) {
  const std::string& name = params[0];
  Status dropped = engine_->drop_collection(name);
  if (!dropped.is_ok()) fail(dropped, false, "deleting a collection");
  send_json(res, 200, {{"name", name}, {"deleted", true}});
}

}  // namespace vista::api

// POST /v1/collections/{name}/search and POST /v1/embed.
#include "api/json_codec.h"
#include "api/service.h"
#include "common/limits.h"
#include "engine/filter.h"

namespace vista::api {

using nlohmann::json;

Service::SearchRequest Service::parse_search(const json& body, const std::string& where) const {
  ObjectReader r(body, where);
  SearchRequest out;
  engine::Query& query = out.query;
  query.text = r.string("text");
  const auto image = r.string("image");
  const auto image_path = r.string("image_path");
  query.id = r.id("id");
  query.vector = r.floats("vector", kMaxDimension);
  const auto k = r.integer("k");
  const auto offset = r.integer("offset");
  const auto filter = r.any("filter");
  const auto search_params = r.object("params");
  out.with_metadata = r.boolean("with_metadata").value_or(true);
  out.with_vector = r.boolean("with_vector").value_or(false);
  r.finish();

  const std::string prefix = where == "the request body" ? "" : where + ".";
  engine::SearchOptions& options = out.options;
  options.k = k.value_or(10);
  if (options.k < 1 || options.k > settings_.limits.max_k)
    throw ApiError::invalid(prefix + "k must be between 1 and " +
                            std::to_string(settings_.limits.max_k) + ", got " +
                            std::to_string(options.k));
  options.offset = offset.value_or(0);
  if (options.offset < 0 || options.offset > settings_.limits.max_k - options.k)
    throw ApiError::invalid(prefix + "offset must be between 0 and limits.max_k - k (" +
                            std::to_string(settings_.limits.max_k - options.k) + "), got " +
                            std::to_string(options.offset));
  if (search_params) {
    ObjectReader p(*search_params, prefix + "params");
    const auto ef = p.integer("ef_search");
    const auto nprobe = p.integer("nprobe");
    p.finish();
    auto check = [&](const char* name, const std::optional<int64_t>& v) -> int {
      if (!v) return 0;
      if (*v < 1 || *v > 100000)
        throw ApiError::invalid(prefix + "params." + name + " must be between 1 and 100000, got " +
                                std::to_string(*v));
      return static_cast<int>(*v);
    };
    options.params.ef_search = check("ef_search", ef);
    options.params.nprobe = check("nprobe", nprobe);
  }
  if (filter) options.filter = filter_from(*filter);
  options.include_metadata = out.with_metadata;
  options.include_vectors = out.with_vector;

  if (image && image_path) throw ApiError::invalid(prefix + "give the image once: image or image_path");
  check_text(query.text, prefix + "text");
  if (image) query.image_bytes = image_from_base64(*image, prefix + "image");
  if (image_path) query.image_bytes = image_from_path(*image_path).bytes;
  return out;
}

json Service::hits_json(const std::string& collection, const SearchRequest& request,
                        const engine::SearchResponse& response) const {
  json hits = json::array();
  for (const auto& hit : response.hits) {
    json h = hit_json(hit, request.with_metadata, request.with_vector);
    if (request.with_metadata) {
      // What a result list shows besides the metadata: the caption and whether there is a
      // picture to fetch (saves a request that would answer 404).
      h["text"] = hit.document.text ? json(*hit.document.text) : json(nullptr);
      const std::string url = image_url(collection, hit.document);
      h["image"] = url.empty() ? json(nullptr) : json(url);
    }
    hits.push_back(std::move(h));
  }
  return hits;
}

void Service::search(const httplib::Request& req, httplib::Response& res,
                     const std::vector<std::string>& params) {
  const SearchRequest request = parse_search(parse_json_body(req), "the request body");
  auto found = engine_->search(params[0], request.query, request.options);
  if (!found.is_ok()) fail(found.status(), request.query.image_bytes.has_value(), "searching");
  send_json(res, 200,
            {{"hits", hits_json(params[0], request, *found)},
             {"took_ms", found->took_ms},
             {"truncated", found->truncated}});
}

void Service::embed(const httplib::Request& req, httplib::Response& res,
                    const std::vector<std::string>&) {
  const json body = parse_json_body(req);
  ObjectReader r(body, "the request body");
  engine::Content content;
  content.text = r.string("text");
  const auto image = r.string("image");
  const auto image_path = r.string("image_path");
  r.finish();
  if (image && image_path) throw ApiError::invalid("give the image once: image or image_path");
  if (!content.text && !image && !image_path)
    throw ApiError::invalid("give a text, an image or both");
  check_text(content.text, "text");
  if (image) content.image_bytes = image_from_base64(*image, "image");
  if (image_path) content.image_bytes = image_from_path(*image_path).bytes;
  auto embedded = engine_->embed(content);
  if (!embedded.is_ok()) fail(embedded.status(), content.image_bytes.has_value(), "embedding");
  send_json(res, 200,
            {{"vector", embedded->vector},
             {"dim", embedded->vector.size()},
             {"truncated", embedded->truncated}});
}

}  // namespace vista::api

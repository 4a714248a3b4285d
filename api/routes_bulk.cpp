// GET /openapi.yaml; paging, counting and bulk deletion of documents; batch search; ingestion of
// server-side folders and manifests for local `vista` commands (api/server_advert.h).
#include <atomic>
#include <mutex>

#include "api/json_codec.h"
#include "api/service.h"
#include "api/web_assets.h"
#include "common/limits.h"
#include "common/logging.h"
#include "engine/filter.h"
#include "engine/ingest_report.h"
#include "engine/ingestor.h"

namespace vista::api {

using nlohmann::json;

namespace {

// Cursors are opaque to clients: the last id of a page, hex-encoded so that they travel in a
// query string without escaping.
std::string encode_cursor(const std::string& id) {
  return hex_encode(id);
}

std::optional<std::string> decode_cursor(const std::string& text) {
  if (text.empty() || text.size() > 2 * kMaxDocumentIdBytes) return std::nullopt;
  return hex_decode(text);
}

}  // namespace

void Service::get_openapi(const httplib::Request& req, httplib::Response& res,
                          const std::vector<std::string>&) {
  if (not_modified(req, res, std::string(openapi_yaml_etag()))) return;
  const std::string_view text = openapi_yaml();
  res.status = 200;
  res.set_content(text.data(), text.size(), "application/yaml; charset=utf-8");
}

void Service::list_documents(const httplib::Request& req, httplib::Response& res,
                             const std::vector<std::string>& params) {
  engine::ListOptions options;
  if (req.has_param("limit")) {
    const std::string text = req.get_param_value("limit");
    int64_t value = -1;
    if (!text.empty() && text.size() <= 6 &&
        text.find_first_not_of("0123456789") == std::string::npos)
      value = std::stoll(text);
    if (value < 1 || value > engine::kMaxListLimit)
      throw ApiError::invalid("limit must be an integer between 1 and " +
                              std::to_string(engine::kMaxListLimit) + ", got '" + text + "'");
    options.limit = value;
  }
  if (req.has_param("cursor")) {
    options.after = decode_cursor(req.get_param_value("cursor"));
    if (!options.after)
      throw ApiError::malformed("cursor is not one this server handed out (next_cursor)");
  }
  if (req.has_param("filter")) {
    auto filter = engine::Filter::parse(req.get_param_value("filter"));
    if (!filter.is_ok()) fail(filter.status(), false, "compiling a filter");
    options.filter = std::move(filter).value();
  }
  bool with_vector = false;
  if (req.has_param("with_vector")) {
    const std::string v = req.get_param_value("with_vector");
    if (v != "true" && v != "false" && v != "1" && v != "0" && !v.empty())
      throw ApiError::malformed("query parameter with_vector must be true or false");
    with_vector = v != "false" && v != "0";
  }
  options.include_vectors = with_vector;
  auto coll = collection(params[0]);
  auto page = coll->list(options);
  if (!page.is_ok()) fail(page.status(), false, "listing documents");
  json documents = json::array();
  for (const auto& doc : page->documents)
    documents.push_back(document_json(doc, with_vector, image_url(params[0], doc)));
  send_json(res, 200,
            {{"documents", documents},
             {"next_cursor",
              page->next_after ? json(encode_cursor(*page->next_after)) : json(nullptr)}});
}

int64_t Service::remove_documents(const std::string& name, const std::vector<std::string>& ids,
                                  std::vector<std::string>* missing) {
  // The engine removes each document's stored image with it (engine/image_store.h).
  auto removed = engine_->delete_documents(name, ids);
  if (!removed.is_ok()) fail(removed.status(), false, "deleting documents");
  missing->insert(missing->end(), removed->missing.begin(), removed->missing.end());
  return removed->removed;
}

void Service::delete_documents(const httplib::Request& req, httplib::Response& res,
                               const std::vector<std::string>& params) {
  const json body = parse_json_body(req);
  ObjectReader r(body, "the request body");
  const auto ids_json = r.array("ids");
  const auto filter_json = r.any("filter");
  r.finish();
  if (ids_json.has_value() == filter_json.has_value())
    throw ApiError::malformed("give either \"ids\" or \"filter\"");
  const std::string& name = params[0];
  int64_t deleted = 0;
  std::vector<std::string> missing;
  if (ids_json) {
    if (ids_json->size() > kMaxIdsPerRequest)
      throw ApiError::too_large("the request names " + std::to_string(ids_json->size()) +
                                " ids; at most " + std::to_string(kMaxIdsPerRequest) +
                                " per request");
    std::vector<std::string> ids;
    for (size_t i = 0; i < ids_json->size(); ++i) {
      const json& v = (*ids_json)[i];
      if (v.is_string()) {
        ids.push_back(v.get<std::string>());
      } else if (v.is_number_integer()) {
        ids.push_back(v.dump());
      } else {
        throw ApiError::malformed("ids[" + std::to_string(i) + "] must be a string or an integer");
      }
    }
    deleted = remove_documents(name, ids, &missing);
  } else {
    auto ids = collection(name)->ids_matching(filter_from(*filter_json));
    if (!ids.is_ok()) fail(ids.status(), false, "finding documents");
    // In slices, so that one slice's write and id locks stay short.
    for (size_t start = 0; start < ids->size(); start += kMaxIdsPerRequest) {
      const size_t end = std::min(ids->size(), start + kMaxIdsPerRequest);
      std::vector<std::string> slice(ids->begin() + start, ids->begin() + end);
      deleted += remove_documents(name, slice, &missing);
    }
    missing.clear();  // deleted meanwhile by someone else: not the caller's concern
  }
  json body_out = {{"deleted", deleted}};
  if (ids_json) body_out["missing"] = missing;
  send_json(res, 200, body_out);
}

void Service::count_documents(const httplib::Request& req, httplib::Response& res,
                              const std::vector<std::string>& params) {
  std::optional<json> filter_json;
  if (!req.body.empty()) {
    const json body = parse_json_body(req);
    ObjectReader r(body, "the request body");
    filter_json = r.any("filter");
    r.finish();
  }
  const engine::Filter filter = filter_json ? filter_from(*filter_json) : engine::Filter();
  auto counted = collection(params[0])->count(filter);
  if (!counted.is_ok()) fail(counted.status(), false, "counting documents");
  send_json(res, 200, {{"count", *counted}});
}

void Service::search_batch(const httplib::Request& req, httplib::Response& res,
                           const std::vector<std::string>& params) {
  const json body = parse_json_body(req);
  ObjectReader r(body, "the request body");
  const auto searches = r.array("searches");
  r.finish();
  if (!searches || searches->empty())
    throw ApiError::malformed("the request body needs \"searches\": a non-empty array");
  const size_t max = static_cast<size_t>(settings_.limits.max_batch_documents);
  if (searches->size() > max)
    throw ApiError::too_large("the batch has " + std::to_string(searches->size()) +
                              " searches; limits.max_batch_documents is " + std::to_string(max));
  std::vector<SearchRequest> requests;
  std::vector<engine::Query> queries;
  std::vector<engine::SearchOptions> options;
  bool any_image = false;
  for (size_t i = 0; i < searches->size(); ++i) {
    requests.push_back(parse_search((*searches)[i], "searches[" + std::to_string(i) + "]"));
    queries.push_back(requests.back().query);
    options.push_back(requests.back().options);
    any_image |= requests.back().query.image_bytes.has_value();
  }
  auto found = engine_->search_batch(params[0], queries, options);
  if (!found.is_ok()) fail(found.status(), any_image, "searching");
  json results = json::array();
  for (size_t i = 0; i < found->size(); ++i)
    results.push_back({{"hits", hits_json(params[0], requests[i], (*found)[i])},
                       {"truncated", (*found)[i].truncated}});
  send_json(res, 200,
            {{"results", results}, {"took_ms", found->empty() ? 0.0 : found->front().took_ms}});
}

void Service::ingest(const httplib::Request& req, httplib::Response& res,
                     const std::vector<std::string>& params) {
  const json body = parse_json_body(req);
  ObjectReader r(body, "the request body");
  const auto sources = r.array("sources");
  const auto index = r.string("index");
  const auto errors = r.string("errors");
  const auto batch = r.integer("batch");
  const auto write_batch = r.integer("write_batch");
  const auto decode_threads = r.integer("decode_threads");
  r.finish();
  if (!sources || sources->empty())
    throw ApiError::malformed("the request body needs \"sources\": a non-empty array of paths");
  auto options = std::make_shared<engine::IngestOptions>();
  options->collection = params[0];
  for (const auto& s : *sources) {
    if (!s.is_string()) throw ApiError::malformed("sources must be paths (strings)");
    options->sources.emplace_back(s.get<std::string>());
  }
  if (index) options->index_spec = *index;
  if (errors) options->errors_path = *errors;
  if (batch) {
    if (*batch < 1 || *batch > 1024) throw ApiError::invalid("batch must be between 1 and 1024");
    options->batch_size = static_cast<int>(*batch);
  }
  if (write_batch) {
    if (*write_batch < 1 || *write_batch > kMaxIngestWriteBatch)
      throw ApiError::invalid("write_batch must be between 1 and " +
                              std::to_string(kMaxIngestWriteBatch));
    options->write_batch = static_cast<int>(*write_batch);
  }
  if (decode_threads) {
    if (*decode_threads < 0 || *decode_threads > 1024)
      throw ApiError::invalid("decode_threads must be between 0 and 1024");
    options->prepare_threads = static_cast<int>(*decode_threads);
  }
  if (!options->errors_path) {
    auto fallback = engine::default_errors_report(settings_.data_dir, options->collection);
    if (!fallback.is_ok()) fail(fallback.status(), false, "preparing the errors report");
    options->fallback_errors_path = *fallback;
  }
  // The run streams one JSON object per line: {"progress": ...} four times a second, then
  // {"summary": ...} or {"error": ..., "http_status": n}. A client that goes away cancels it
  // after the current batch, like Ctrl-C on a local run; so does the server stopping.
  res.status = 200;
  res.set_chunked_content_provider(
      "application/x-ndjson", [this, options](size_t, httplib::DataSink& sink) {
        std::atomic<bool> cancel{false};
        engine::IngestOptions o = *options;
        o.cancel = &cancel;
        std::mutex write_mutex;
        auto write_line = [&](const json& j) {
          std::lock_guard<std::mutex> lock(write_mutex);
          const std::string line = dump(j) + "\n";
          if (!sink.write(line.data(), line.size())) cancel = true;
        };
        engine::Ingestor ingestor(*engine_);
        ingestor.set_progress_callback(
            [&](const engine::IngestProgress& p) {
              if (draining_ || (sink.is_writable && !sink.is_writable())) cancel = true;
              write_line({{"progress", engine::ingest_progress_json(p)}});
            },
            std::chrono::milliseconds(250));
        auto result = ingestor.run(o);
        if (result.is_ok()) {
          write_line({{"summary", engine::ingest_summary_json(*result)}});
        } else {
          ErrorContext ctx = error_context_;
          const ApiError e = status_to_error(result.status(), ctx, "ingesting");
          write_line({{"error", error_object(e)}, {"http_status", e.http_status}});
        }
        sink.done();
        return true;
      });
}

}  // namespace vista::api

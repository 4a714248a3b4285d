// POST /v1/collections/{name}/import: a segment (engine/segment.h) into a collection, by a path
// under security.image_roots (JSON {"segment": "/path/to/segment"}; `vista import`, which
// carries the local token, may name any path) or uploaded as multipart/form-data with one part
// per segment file, each named after its file.
#include <chrono>
#include <fstream>
#include <random>

#include "api/json_codec.h"
#include "api/service.h"
#include "common/logging.h"
#include "engine/segment.h"

namespace vista::api {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A private folder under the system's temp directory for an uploaded segment; removed with
// everything in it when it goes out of scope.
class UploadDir {
 public:
  UploadDir() {
    std::mt19937_64 rng(std::random_device{}());
    for (;;) {
      path_ = fs::temp_directory_path() / ("vista-import-" + std::to_string(rng()));
      std::error_code ec;
      if (fs::create_directory(path_, ec)) break;
      if (ec) throw ApiError::internal();
    }
  }
  ~UploadDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

engine::Segment Service::segment_at(const std::string& path, bool local) const {
  if (local) {
    auto segment = engine::Segment::open(path);
    if (!segment.is_ok()) fail(segment.status(), true, "reading a segment");
    return std::move(segment).value();
  }
  if (!guard_.enabled())
    throw ApiError::forbidden(
        "importing a segment by path needs security.image_roots; upload it instead");
  // The manifest and every file it lists must lie inside a root (api/path_guard.h).
  auto manifest = guard_.resolve((fs::path(path) / engine::kSegmentManifestFile).string());
  if (!manifest.is_ok()) fail(manifest.status(), true, "reading a segment");
  auto segment = engine::Segment::open(manifest->parent_path());
  if (!segment.is_ok()) fail(segment.status(), true, "reading a segment");
  for (const auto& f : segment->manifest().files) {
    auto file = guard_.resolve((manifest->parent_path() / f.name).string());
    if (!file.is_ok()) fail(file.status(), true, "reading a segment");
  }
  return std::move(segment).value();
}

void Service::import_segment(const httplib::Request& req, httplib::Response& res,
                             const std::vector<std::string>& params) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& name = params[0];
  if (Status s = engine::Catalog::validate_name(name); !s.is_ok()) fail(s, false, "importing");
  std::optional<UploadDir> upload;
  std::optional<engine::Segment> segment;
  engine::SegmentImportOptions options;
  if (!req.is_multipart_form_data()) {
    const json body = parse_json_body(req);
    ObjectReader r(body, "the request body");
    const auto path = r.string("segment");
    const auto index = r.string("index");
    r.finish();
    if (!path) throw ApiError::malformed("the request body needs \"segment\": a folder path");
    options.index_spec = index.value_or("");
    segment = segment_at(*path, is_local(req));
  } else {
    upload.emplace();
    for (const auto& [part, data] : req.files) {
      if (req.files.count(part) > 1)
        throw ApiError::malformed("the form has more than one part named '" + part + "'");
      if (part == "index") {
        options.index_spec = data.content;
        continue;
      }
      const bool known = part == engine::kSegmentManifestFile ||
                         part == engine::kSegmentDocumentsFile ||
                         part == engine::kSegmentVectorsFile || part == engine::kSegmentErrorsFile;
      if (!known)
        throw ApiError::malformed("unexpected part '" + part + "'; a segment upload has " +
                                  engine::kSegmentManifestFile + ", " +
                                  engine::kSegmentDocumentsFile + ", " +
                                  engine::kSegmentVectorsFile + " and " +
                                  engine::kSegmentErrorsFile);
      std::ofstream out(upload->path() / part, std::ios::binary);
      out.write(data.content.data(), static_cast<std::streamsize>(data.content.size()));
      if (!out) fail(Status::io_error("cannot store the uploaded " + part), false, "importing");
    }
    auto opened = engine::Segment::open(upload->path());
    if (!opened.is_ok()) fail(opened.status(), true, "reading an uploaded segment");
    segment = std::move(opened).value();
  }

  // The server searches with its own model: vectors of other weights would be unsearchable.
  if (auto served = engine_->model_identity();
      served.is_ok() && !served->same_model(segment->manifest().model)) {
    fail(Status::failed_precondition("the segment holds vectors of model " +
                                     segment->manifest().model.to_string() +
                                     ", but this server encodes with model " +
                                     served->to_string()),
         false, "importing a segment");
  }
  auto r = engine::import_segment(engine_->catalog(), name, *segment, options);
  if (!r.is_ok()) fail(r.status(), true, "importing a segment");
  const auto& m = segment->manifest();
  send_json(res, 200,
            {{"collection", name},
             {"segment_id", r->segment_id},
             {"shard", m.shard ? json(m.shard->to_string()) : json(nullptr)},
             {"already_imported", r->already_imported},
             {"inserted", r->inserted},
             {"updated", r->updated},
             {"unchanged", r->unchanged},
             {"count", r->collection_count},
             {"took_ms", std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - start)
                             .count()}});
}

}  // namespace vista::api

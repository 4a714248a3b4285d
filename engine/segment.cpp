#include "engine/segment.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "engine/durable_file.h"
#include "engine/sha256.h"

namespace vista::engine {

namespace fs = std::filesystem;
using nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "vectors.f32 is little-endian; this build writes native floats");

namespace {

constexpr size_t kExportChunk = 1024;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A file written front to back while its SHA-256 is computed; close() flushes and fsyncs.
class HashedWriter {
 public:
  Status open(const fs::path& path) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) return Status::io_error("cannot write " + path.string());
    return Status::ok();
  }
  ~HashedWriter() {
    if (file_) std::fclose(file_);
  }
  Status write(const void* data, size_t size) {
    if (size && std::fwrite(data, 1, size, file_) != size)
      return Status::io_error("cannot write " + path_.string() + " (disk full?)");
    sha_.update(data, size);
    bytes_ += size;
    return Status::ok();
  }
  Result<SegmentFile> close() {
    const bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || !closed) return Status::io_error("cannot write " + path_.string());
    return SegmentFile{path_.filename().string(), bytes_, sha_.hex_digest()};
  }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
  Sha256 sha_;
  uint64_t bytes_ = 0;
};

Result<std::string> read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) return Status::io_error("cannot read " + path.string());
  return bytes;
}

json manifest_json(const SegmentManifest& m) {
  json files = json::object();
  for (const auto& f : m.files) files[f.name] = {{"bytes", f.bytes}, {"sha256", f.sha256}};
  return {{"format", kSegmentFormat},
          {"format_version", m.format_version},
          {"model", {{"name", m.model.name}, {"checkpoint_hash", m.model.checkpoint_hash}}},
          {"dimension", m.dimension},
          {"count", m.count},
          {"errors", m.errors},
          {"shard", m.shard ? json(m.shard->to_string()) : json(nullptr)},
          {"sources", m.sources},
          {"created_at_ms", m.created_at_ms},
          {"files", files}};
}

Result<SegmentManifest> parse_manifest(const std::string& text, const fs::path& where) {
  auto bad = [&](const std::string& why) {
    return Status::corruption("segment manifest " + where.string() + ": " + why);
  };
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return bad(std::string("not JSON (") + e.what() + ")");
  }
  if (!j.is_object() || j.value("format", "") != kSegmentFormat)
    return Status::unsupported(where.string() + " is not a Vista segment manifest (format \"" +
                               std::string(kSegmentFormat) + "\" expected)");
  SegmentManifest m;
  try {
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version > kSegmentFormatVersion || m.format_version < 1) {
      return Status::unsupported("segment " + where.parent_path().string() +
                                 " has format version " + std::to_string(m.format_version) +
                                 "; this build reads 1.." +
                                 std::to_string(kSegmentFormatVersion));
    }
    m.model.name = j.at("model").at("name").get<std::string>();
    m.model.checkpoint_hash = j.at("model").at("checkpoint_hash").get<std::string>();
    m.dimension = j.at("dimension").get<int>();
    m.count = j.at("count").get<int64_t>();
    m.errors = j.at("errors").get<int64_t>();
    if (!j.at("shard").is_null()) {
      auto shard = ShardSpec::parse(j.at("shard").get<std::string>());
      if (!shard.is_ok()) return bad(shard.status().message());
      m.shard = *shard;
    }
    m.sources = j.at("sources").get<std::vector<std::string>>();
    m.created_at_ms = j.at("created_at_ms").get<int64_t>();
    for (const auto& [name, f] : j.at("files").items()) {
      m.files.push_back({name, f.at("bytes").get<uint64_t>(), f.at("sha256").get<std::string>()});
    }
  } catch (const json::exception& e) {
    return bad(std::string("missing or mistyped field (") + e.what() + ")");
  }
  if (m.dimension < 1 || m.count < 0 || m.errors < 0) return bad("negative or zero sizes");
  for (const char* required : {kSegmentDocumentsFile, kSegmentVectorsFile, kSegmentErrorsFile}) {
    if (std::none_of(m.files.begin(), m.files.end(),
                     [&](const SegmentFile& f) { return f.name == required; }))
      return bad(std::string("does not list ") + required);
  }
  for (const auto& f : m.files) {
    if (f.name.empty() || f.name.find('/') != std::string::npos || f.name[0] == '.')
      return bad("file name '" + f.name + "' is not a plain file name");
  }
  const uint64_t vector_bytes = static_cast<uint64_t>(m.count) * m.dimension * sizeof(float);
  for (const auto& f : m.files) {
    if (f.name == kSegmentVectorsFile && f.bytes != vector_bytes)
      return bad(std::string(kSegmentVectorsFile) + " is listed with " + std::to_string(f.bytes) +
                 " bytes; count x dimension x 4 is " + std::to_string(vector_bytes));
  }
  return m;
}

// Test-only pause points. When the environment variable `name` is "N:FILE", the N-th pass of
// this process through the point creates FILE and waits there forever, so that a test can kill
// the process with the work provably at that point:
//   VISTA_TEST_IMPORT_PAUSE   before a segment's commit (import_segment)
//   VISTA_TEST_SEGMENT_PAUSE  before a shard's segment is written (write_segment)
void test_pause_point(const char* name, std::atomic<int>& passes) {
  const int n = ++passes;
  const char* spec = std::getenv(name);
  if (!spec) return;
  const std::string s(spec);
  const size_t colon = s.find(':');
  if (colon == std::string::npos || std::atoi(s.substr(0, colon).c_str()) != n) return;
  std::ofstream(s.substr(colon + 1)) << ::getpid() << "\n";
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
std::atomic<int> import_commits{0};
std::atomic<int> segment_writes{0};

bool same_stored_content(const Document& stored, const Document& incoming) {
  return stored.content_hash && incoming.content_hash &&
         *stored.content_hash == *incoming.content_hash && stored.metadata == incoming.metadata &&
         stored.text == incoming.text && stored.source == incoming.source;
}

}  // namespace

fs::path segment_staging_dir(const fs::path& segment_dir) { return segment_dir / ".staging"; }

Result<SegmentManifest> write_segment(const Collection& collection,
                                      const std::optional<fs::path>& errors_report,
                                      SegmentManifest m, const fs::path& dir) {
  test_pause_point("VISTA_TEST_SEGMENT_PAUSE", segment_writes);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create segment folder " + dir.string() + ": " + ec.message());
  // An earlier, complete segment here is replaced only once the new one is written.
  fs::remove(dir / kSegmentManifestFile, ec);

  const CollectionInfo info = collection.info();
  m.format_version = kSegmentFormatVersion;
  m.model = info.model;
  m.dimension = info.dimension;
  m.files.clear();

  HashedWriter docs_out, vectors_out;
  VISTA_RETURN_IF_ERROR(docs_out.open(dir / kSegmentDocumentsFile));
  VISTA_RETURN_IF_ERROR(vectors_out.open(dir / kSegmentVectorsFile));
  const std::vector<std::string> ids = collection.document_ids();
  for (size_t start = 0; start < ids.size(); start += kExportChunk) {
    const std::vector<std::string> chunk(ids.begin() + start,
                                         ids.begin() + std::min(ids.size(), start + kExportChunk));
    VISTA_ASSIGN_OR_RETURN(auto found, collection.get(chunk, /*include_vectors=*/true));
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (!found[i])
        return Status::internal("document " + chunk[i] + " vanished while writing the segment");
      const Document& d = *found[i];
      json line = {{"id", d.id}, {"metadata", d.metadata}};
      if (d.text) line["text"] = *d.text;
      if (d.source) line["source"] = *d.source;
      if (d.content_hash) line["content_hash"] = *d.content_hash;
      const std::string text = line.dump() + "\n";
      VISTA_RETURN_IF_ERROR(docs_out.write(text.data(), text.size()));
      VISTA_RETURN_IF_ERROR(
          vectors_out.write(d.vector.data(), d.vector.size() * sizeof(float)));
    }
  }
  VISTA_ASSIGN_OR_RETURN(auto docs_file, docs_out.close());
  VISTA_ASSIGN_OR_RETURN(auto vectors_file, vectors_out.close());

  std::string errors;
  if (errors_report && fs::exists(*errors_report, ec)) {
    VISTA_ASSIGN_OR_RETURN(errors, read_whole(*errors_report));
  }
  HashedWriter errors_out;
  VISTA_RETURN_IF_ERROR(errors_out.open(dir / kSegmentErrorsFile));
  VISTA_RETURN_IF_ERROR(errors_out.write(errors.data(), errors.size()));
  VISTA_ASSIGN_OR_RETURN(auto errors_file, errors_out.close());

  m.count = static_cast<int64_t>(ids.size());
  m.errors = std::count(errors.begin(), errors.end(), '\n');
  m.created_at_ms = now_ms();
  m.files = {docs_file, vectors_file, errors_file};
  VISTA_RETURN_IF_ERROR(
      write_file_atomically(dir / kSegmentManifestFile, manifest_json(m).dump(2) + "\n"));
  return m;
}

Result<Segment> Segment::open(const fs::path& dir) {
  const fs::path manifest_path = dir / kSegmentManifestFile;
  std::error_code ec;
  if (!fs::is_regular_file(manifest_path, ec)) {
    return Status::not_found("not a segment: " + dir.string() + " has no " +
                             kSegmentManifestFile +
                             (fs::exists(segment_staging_dir(dir), ec)
                                  ? " (its shard has not finished: run the same ingest again)"
                                  : ""));
  }
  VISTA_ASSIGN_OR_RETURN(std::string text, read_whole(manifest_path));
  VISTA_ASSIGN_OR_RETURN(SegmentManifest m, parse_manifest(text, manifest_path));
  for (const auto& f : m.files) {
    const uint64_t size = fs::file_size(dir / f.name, ec);
    if (ec)
      return Status::corruption("segment " + dir.string() + ": " + f.name + " is missing");
    if (size != f.bytes)
      return Status::corruption("segment " + dir.string() + ": " + f.name + " has " +
                                std::to_string(size) + " bytes, the manifest says " +
                                std::to_string(f.bytes));
  }
  Segment s;
  s.dir_ = dir;
  Sha256 sha;
  sha.update(text);
  s.id_ = sha.hex_digest();
  s.manifest_ = std::move(m);
  return s;
}

Result<std::vector<Document>> Segment::read() const {
  auto load = [&](const char* name) -> Result<std::string> {
    const auto it = std::find_if(manifest_.files.begin(), manifest_.files.end(),
                                 [&](const SegmentFile& f) { return f.name == name; });
    VISTA_ASSIGN_OR_RETURN(std::string bytes, read_whole(dir_ / name));
    Sha256 sha;
    sha.update(bytes);
    if (bytes.size() != it->bytes || sha.hex_digest() != it->sha256) {
      return Status::corruption("segment " + dir_.string() + ": " + name +
                                " does not match its checksum in " + kSegmentManifestFile +
                                " (damaged or changed after the segment was written)");
    }
    return bytes;
  };
  VISTA_ASSIGN_OR_RETURN(std::string vectors, load(kSegmentVectorsFile));
  VISTA_ASSIGN_OR_RETURN(std::string lines, load(kSegmentDocumentsFile));

  std::vector<Document> docs;
  docs.reserve(static_cast<size_t>(manifest_.count));
  const size_t dim = static_cast<size_t>(manifest_.dimension);
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < lines.size()) {
    size_t end = lines.find('\n', pos);
    if (end == std::string::npos) end = lines.size();
    ++line_no;
    const std::string where = dir_.string() + "/" + kSegmentDocumentsFile + ":" +
                              std::to_string(line_no);
    if (line_no > manifest_.count)
      return Status::corruption(where + ": more documents than the manifest's count " +
                                std::to_string(manifest_.count));
    Document d;
    try {
      const json j = json::parse(lines.begin() + pos, lines.begin() + end);
      d.id = j.at("id").get<std::string>();
      d.metadata = j.at("metadata");
      if (j.contains("text")) d.text = j.at("text").get<std::string>();
      if (j.contains("source")) d.source = j.at("source").get<std::string>();
      if (j.contains("content_hash")) d.content_hash = j.at("content_hash").get<std::string>();
    } catch (const json::exception& e) {
      return Status::corruption(where + ": " + e.what());
    }
    const auto* row = reinterpret_cast<const float*>(vectors.data()) + (line_no - 1) * dim;
    d.vector.assign(row, row + dim);
    docs.push_back(std::move(d));
    pos = end + 1;
  }
  if (static_cast<int64_t>(docs.size()) != manifest_.count)
    return Status::corruption("segment " + dir_.string() + ": " + kSegmentDocumentsFile + " has " +
                              std::to_string(docs.size()) + " documents, the manifest says " +
                              std::to_string(manifest_.count));
  return docs;
}

Result<SegmentImportResult> import_segment(Catalog& catalog, const std::string& name,
                                           const Segment& segment,
                                           const SegmentImportOptions& options) {
  static std::mutex import_mutex;  // one import at a time: the mark check and the commit pair up
  const auto start = std::chrono::steady_clock::now();
  const SegmentManifest& m = segment.manifest();
  VISTA_RETURN_IF_ERROR(Catalog::validate_name(name));
  std::lock_guard lock(import_mutex);

  auto existing = catalog.get(name);
  std::shared_ptr<Collection> coll;
  if (existing.is_ok()) {
    coll = std::move(existing).value();
    const CollectionInfo info = coll->info();
    if (info.model.checkpoint_hash != m.model.checkpoint_hash) {
      return Status::failed_precondition(
          "segment " + segment.dir().string() + " holds vectors of model " + m.model.to_string() +
          ", but collection '" + name + "' holds vectors of model " + info.model.to_string() +
          "; import it into a collection of that model");
    }
    if (info.dimension != m.dimension) {
      return Status::failed_precondition(
          "segment " + segment.dir().string() + " has dimension " + std::to_string(m.dimension) +
          ", collection '" + name + "' has dimension " + std::to_string(info.dimension));
    }
  } else if (existing.status().code() != StatusCode::kNotFound) {
    return existing.status();
  }

  SegmentImportResult result;
  result.segment_id = segment.id();
  if (coll) {
    VISTA_ASSIGN_OR_RETURN(auto mark, coll->import_mark(segment.id()));
    if (mark) {
      result.already_imported = true;
      result.collection_count = coll->count();
      result.elapsed_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return result;
    }
  }

  VISTA_ASSIGN_OR_RETURN(std::vector<Document> docs, segment.read());
  if (!coll) {
    CollectionConfig config;
    config.dimension = m.dimension;
    config.index_spec = options.index_spec.empty() ? "Flat" : options.index_spec;
    config.model = m.model;
    VISTA_ASSIGN_OR_RETURN(coll, catalog.create(name, config));
  }

  // Keep only what differs from the stored documents.
  std::vector<Document> changed;
  for (size_t begin = 0; begin < docs.size(); begin += kExportChunk) {
    const size_t end = std::min(docs.size(), begin + kExportChunk);
    std::vector<std::string> ids;
    for (size_t i = begin; i < end; ++i) ids.push_back(docs[i].id);
    VISTA_ASSIGN_OR_RETURN(auto stored, coll->get(ids));
    for (size_t i = begin; i < end; ++i) {
      const auto& old = stored[i - begin];
      if (old && same_stored_content(*old, docs[i])) {
        ++result.unchanged;
        continue;
      }
      ++(old ? result.updated : result.inserted);
      changed.push_back(std::move(docs[i]));
    }
  }
  docs.clear();

  json record = {{"imported_at_ms", now_ms()},
                 {"shard", m.shard ? json(m.shard->to_string()) : json(nullptr)},
                 {"count", m.count},
                 {"inserted", result.inserted},
                 {"updated", result.updated},
                 {"unchanged", result.unchanged},
                 {"segment_created_at_ms", m.created_at_ms}};
  const ImportMark mark{segment.id(), record.dump()};
  test_pause_point("VISTA_TEST_IMPORT_PAUSE", import_commits);
  // The collection's own identity: the checkpoint hash was compared above; names may differ.
  VISTA_RETURN_IF_ERROR(coll->upsert(coll->info().model, changed, &mark).status());
  spdlog::info("imported segment {} into '{}': {} inserted, {} updated, {} unchanged",
               segment.dir().string(), name, result.inserted, result.updated, result.unchanged);
  result.collection_count = coll->count();
  result.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace vista::engine

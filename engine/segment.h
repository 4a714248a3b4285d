// Segments: the portable output of one shard of a distributed ingestion, and their import.
//
// `vista ingest --shard K/N --segment-out DIR` encodes its share of the sources into a staging
// collection (DIR/.staging, so an interrupted shard resumes like any ingestion) and, once every
// item is done, writes the segment next to it and removes the staging folder. A segment is a
// directory (docs/segments.md describes it for other programs):
//
//   segment.json     the manifest, written last (atomic rename): format "vista-segment",
//                    format_version, model {name, checkpoint_hash}, dimension, count, errors,
//                    shard "K/N" (or null), sources, created_at_ms, and for every other file
//                    its size in bytes and SHA-256
//   documents.jsonl  one JSON object per document, sorted by id:
//                    {"id", "metadata", "text"?, "source"?, "content_hash"?}
//   vectors.f32      count x dimension float32, little-endian, row i = line i of documents.jsonl
//   errors.jsonl     the shard's errors report (engine/ingestor.h), possibly empty
//
// Nothing in it needs the model: importing only compares the model identity. A directory
// without segment.json is not a segment (an unfinished shard).
//
// Import (import_segment) is atomic per segment and idempotent. The segment's id is the SHA-256
// of its segment.json. All documents of a segment that differ from what the collection holds
// are written in ONE collection batch together with an import mark keyed by the segment id
// (engine/collection.h, ImportMark); a segment whose mark is present is not imported again. So
// a kill at any moment leaves the segment either wholly in or wholly out, and running the same
// import again finishes the job without duplicates. Documents equal to the stored ones (same
// content hash, metadata, text and source) are counted unchanged and not rewritten, as in
// ingestion. A whole segment is held in memory while it is imported (about 1.5 x its size on
// disk): size shards accordingly (docs/segments.md).
//
// Thread-safety: Segment is immutable after open() and may be shared. import_segment() may be
// called from several threads; imports are serialised within the process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/catalog.h"
#include "engine/collection.h"
#include "engine/shard.h"

namespace vista::engine {

inline constexpr const char* kSegmentFormat = "vista-segment";
inline constexpr int kSegmentFormatVersion = 1;
inline constexpr const char* kSegmentManifestFile = "segment.json";
inline constexpr const char* kSegmentDocumentsFile = "documents.jsonl";
inline constexpr const char* kSegmentVectorsFile = "vectors.f32";
inline constexpr const char* kSegmentErrorsFile = "errors.jsonl";

struct SegmentFile {
  std::string name;  // relative to the segment directory
  uint64_t bytes = 0;
  std::string sha256;  // 64 lowercase hex digits
};

struct SegmentManifest {
  int format_version = kSegmentFormatVersion;
  ModelIdentity model;
  int dimension = 0;
  int64_t count = 0;   // documents (lines of documents.jsonl, rows of vectors.f32)
  int64_t errors = 0;  // lines of errors.jsonl
  std::optional<ShardSpec> shard;
  std::vector<std::string> sources;  // absolute paths as the shard saw them
  int64_t created_at_ms = 0;
  std::vector<SegmentFile> files;
};

// The staging data directory of `vista ingest --segment-out DIR`: DIR/.staging.
std::filesystem::path segment_staging_dir(const std::filesystem::path& segment_dir);

// Writes every document of `collection` (with its vector) and a copy of `errors_report` (absent:
// an empty report) as a segment in `dir` (created if missing; files of an earlier attempt are
// replaced). `header` supplies shard and sources; model, dimension, count, errors,
// created_at_ms and files are filled in. segment.json is written last, atomically and
// fsynced: until it exists, `dir` is not a segment. IOError naming the file on failure.
Result<SegmentManifest> write_segment(const Collection& collection,
                                      const std::optional<std::filesystem::path>& errors_report,
                                      SegmentManifest header, const std::filesystem::path& dir);

class Segment {
 public:
  // Reads and checks DIR/segment.json: NotFound when there is none ("not a segment: ..."),
  // Unsupported for another format or a newer version, Corruption for a damaged manifest or a
  // listed file that is missing or of another size. File contents are checked by read().
  static Result<Segment> open(const std::filesystem::path& dir);

  // Reads the documents and vectors, verifying each file's SHA-256 against the manifest on the
  // bytes it parses. Corruption naming the file (checksum mismatch, bad line, count mismatch).
  // The documents come in file order, each with its vector.
  Result<std::vector<Document>> read() const;

  const SegmentManifest& manifest() const { return manifest_; }
  const std::string& id() const { return id_; }  // SHA-256 of segment.json
  const std::filesystem::path& dir() const { return dir_; }

 private:
  Segment() = default;
  std::filesystem::path dir_;
  std::string id_;
  SegmentManifest manifest_;
};

struct SegmentImportOptions {
  // Index spec when the import creates the collection; empty: "Flat".
  std::string index_spec;
};

struct SegmentImportResult {
  std::string segment_id;
  bool already_imported = false;  // the mark was there: nothing was written
  int64_t inserted = 0, updated = 0, unchanged = 0;
  int64_t collection_count = 0;
  double elapsed_seconds = 0;
};

// Imports `segment` into collection `name` of `catalog`, creating the collection (segment's
// dimension and model, options.index_spec) when it does not exist. Fails, writing nothing:
// FailedPrecondition naming both models when the segment's model (checkpoint hash) differs from
// the collection's, or both dimensions; the Status of Segment::read(); the collection's Status.
Result<SegmentImportResult> import_segment(Catalog& catalog, const std::string& name,
                                           const Segment& segment,
                                           const SegmentImportOptions& options = {});

}  // namespace vista::engine

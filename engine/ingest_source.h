// Ingestion sources: what `vista ingest SOURCE...` turns into documents.
//
// A source is
//   - a folder: every image below it, recursively, in sorted order. A file is an image when its
//     leading bytes are a known image signature, or when its extension says it should be one
//     (.jpg .jpeg .png .webp .bmp .tif .tiff .gif): such a file that does not decode is reported
//     as a failure rather than skipped silently. Other files are skipped, and so are hidden files
//     and folders (names starting with '.') and symbolic links to folders. id = the path relative
//     to the folder, with '/' separators ("cats/tom.jpg").
//   - a JSONL manifest (*.jsonl, *.ndjson): one JSON object per line,
//       {"id": "a1", "image": "photos/a.jpg", "text": "a caption", "metadata": {...}}
//     every field optional, but image or text must be there; "id" may be a string or an integer.
//     Unknown fields are an error for that line (they are usually typos). Blank lines are
//     skipped.
//   - a CSV manifest (*.csv, RFC 4180): a header naming the columns image, text, id (any subset
//     with image or text, any order) and any other columns, which become metadata: an empty cell
//     is left out, "true"/"false" become booleans, a cell that is entirely a finite number
//     becomes a number, everything else stays a string.
//   - any other file: one image, id = its file name.
// In manifests, relative image paths resolve against the manifest's folder; the id defaults to
// the image path as written (normalised: "./a.jpg" -> "a.jpg") and, for text-only rows, to
// content_id(text): rows with the same text are one document.
//
// Ids must be 1..256 bytes of valid UTF-8 (kMaxExternalIdBytes); an id seen twice in one run is
// an error for the second occurrence (it names the first). Texts must be valid UTF-8.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace vista::engine {

// One document to ingest, before any file is read.
struct SourceItem {
  std::string id;
  // Where it came from, for the errors report: the image's path for folder items,
  // "<manifest>:<line>" for manifest rows. (Stored documents keep the image's absolute path
  // when there is one; see Ingestor.)
  std::string source;
  std::optional<std::filesystem::path> image_path;
  std::optional<std::string> text;
  nlohmann::json metadata = nlohmann::json::object();
};

// A source entry that could not become an item (bad manifest row, duplicate id, unreadable
// folder). It is reported and the walk continues.
struct SourceError {
  std::string source;
  std::optional<std::string> id;
  Status error;
};

// The id of content that has no natural one: the first 32 hex digits of SHA-256 over the
// length-prefixed text and image bytes.
std::string content_id(const std::optional<std::string>& text,
                       const std::optional<std::string>& image_bytes);

// Reads a whole file. NotFound when it does not exist, ResourceExhausted (before reading) when
// it is larger than `max_bytes`, IOError otherwise; every message names the file.
Result<std::string> read_file_bytes(const std::filesystem::path& path, uint64_t max_bytes);

// True when the first bytes of a file (16 are enough) are an image signature the decoder knows.
bool looks_like_image(const uint8_t* data, size_t size);
// True for extensions that promise an image (see the file comment); case-insensitive.
bool has_image_extension(const std::filesystem::path& path);

class SourceWalker {
 public:
  // Checks that every source exists and is a folder or a regular file. NotFound / InvalidArgument
  // naming the source otherwise; nothing is walked then.
  static Result<SourceWalker> create(std::vector<std::filesystem::path> sources);

  // How many items walk() will visit at most (folder files that are candidates by name or any
  // non-hidden file, manifest rows that are not blank). Cheap: no image is read.
  int64_t count_candidates() const;

  // Visits every item in order. `on_item` returns false to stop the walk early (cancellation);
  // `on_error` receives entries that cannot become items; `on_skip` (optional) non-image files.
  // Returns OK, or the first error that prevents walking a whole source (a manifest that cannot
  // be opened, a CSV without a usable header); in that case `on_error` was called for it too and
  // the other sources are still walked.
  Status walk(const std::function<bool(SourceItem&&)>& on_item,
              const std::function<void(SourceError&&)>& on_error,
              const std::function<void(const std::filesystem::path&)>& on_skip = {}) const;

  const std::vector<std::filesystem::path>& sources() const { return sources_; }

 private:
  explicit SourceWalker(std::vector<std::filesystem::path> sources)
      : sources_(std::move(sources)) {}
  std::vector<std::filesystem::path> sources_;
};

// Checks a new id: 1..256 bytes of valid UTF-8, no control characters (C0, DEL, C1), not "." or
// "..", so that every stored id can be addressed in a URL. InvalidArgument saying what is wrong.
Status validate_document_id(const std::string& id);
// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text);

}  // namespace vista::engine

// ImageStore: the bytes of images added as bytes (uploads through the API), so that
// GET .../documents/{id}/image can return them. A collection keeps vectors, metadata and a
// `source` string per document, not the image itself; documents added with
// NewDocument::store_image record source "blob:<name>" and the bytes live here, in the data
// directory:
//
//   DATA/_images/<collection>@<created_at_ms>/<name[0..1]>/<name>
//
// "_images" can never be a collection name (names start with a letter or digit). The folder is
// keyed by the collection's creation time, so a collection dropped and re-created under the
// same name (through the CLI, say) never sees the old images. <name> is the SHA-256 of the
// document id and the image bytes: an update with a new image writes a new file, so the old
// file stays valid until the document that names it is gone.
//
// Ordering rules (the Engine's part, engine/engine.h, on every path that adds, replaces or
// removes a document): a blob is written and fsynced before the document naming it is committed,
// and unlinked only after the document stops naming it. A crash in between leaves at most an
// unreferenced file, never a document whose image is missing; Engine::open() sweeps those files
// (sweep_unreferenced) and the folders of collections that no longer exist (drop).
//
// Thread-safety: all methods may be called concurrently. Writers of the same document must be
// serialised by the caller (IdLocks) so that "write, commit, unlink the old" sequences of two
// requests for one id do not interleave.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/status.h"

namespace vista::engine {

class ImageStore {
 public:
  // Creates DATA/_images if needed. IOError when it cannot.
  static Result<std::unique_ptr<ImageStore>> open(const std::filesystem::path& data_dir,
                                                  bool sync_writes);

  struct Bucket {
    std::string collection;
    int64_t created_at_ms = 0;
  };

  // SHA-256 hex of (id, bytes), length-prefixed.
  static std::string blob_name(std::string_view id, std::string_view bytes);
  static std::string source_for(const std::string& name) { return "blob:" + name; }
  // The blob name a document source refers to, if it refers to one.
  static std::optional<std::string> blob_of(const std::optional<std::string>& source);

  // Writes the blob (temp file, fsync, rename, fsync folder); a blob that exists is kept.
  Status put(const Bucket& bucket, const std::string& name, std::string_view bytes);
  // NotFound when missing.
  Result<std::string> get(const Bucket& bucket, const std::string& name) const;
  // Removing a missing blob is OK.
  Status remove(const Bucket& bucket, const std::string& name);
  bool exists(const Bucket& bucket, const std::string& name) const;
  // Removes the whole folder of a collection.
  Status drop(const Bucket& bucket);
  // The collection folders present (whatever their collections' state).
  std::vector<Bucket> buckets() const;
  // Removes the blobs of `bucket` whose names are not in `referenced`, and temp files of
  // interrupted writes. Returns how many files it removed. The caller guarantees that no writer
  // of the collection runs meanwhile.
  int64_t sweep_unreferenced(const Bucket& bucket,
                             const std::unordered_set<std::string>& referenced);

  const std::filesystem::path& root() const { return root_; }

 private:
  ImageStore(std::filesystem::path root, bool sync) : root_(std::move(root)), sync_(sync) {}
  std::filesystem::path folder(const Bucket& bucket) const;
  std::filesystem::path path(const Bucket& bucket, const std::string& name) const;
  std::filesystem::path root_;
  bool sync_;
};

// Striped locks over (collection, document id): a request locks the stripes of all ids it
// writes, always in ascending order, so two requests never deadlock.
class IdLocks {
 public:
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&&) = default;
    Guard& operator=(Guard&&) = default;

   private:
    friend class IdLocks;
    std::vector<std::unique_lock<std::mutex>> locks_;
  };
  Guard lock(const std::string& collection, const std::vector<std::string>& ids);

 private:
  static constexpr size_t kStripes = 64;
  std::array<std::mutex, kStripes> stripes_;
};

}  // namespace vista::engine

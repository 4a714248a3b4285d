// Catalog: the collections of one data directory.
//
// DATA/<name>/ is one collection (see engine/collection.h). Names are 1..64 characters from
// [A-Za-z0-9_-], not starting with '-' or '_' (they become folder names; anything else is
// refused, so a name can never escape the data directory). Collections are opened lazily on
// first use and stay open until drop() or close(); every caller gets the same shared instance.
//
// A collection that cannot be opened (damaged files, an index spec this version refuses, a FAISS
// or RocksDB error) is *failed*: the reason is logged once and kept, get() answers it (its
// Status, code included: Corruption for damaged files, FailedPrecondition for a refused spec)
// without touching the files again, list_entries() reports it, and every other
// collection is served as usual. drop() removes a failed collection like any other.
//
// Thread-safety: all methods may be called concurrently. A collection dropped while another
// thread still holds its shared_ptr is closed; that thread's later calls fail with
// FailedPrecondition ("collection ... is closed") and never touch the deleted files.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/collection.h"

namespace vista::engine {

// One collection as list_entries() sees it: served (info set) or failed (error set).
struct CatalogEntry {
  std::string name;
  std::optional<CollectionInfo> info;
  Status error;  // non-OK: the collection failed to open, and why
};

struct CatalogOptions {
  CollectionOptions collection;  // applied to every collection opened through the catalog
};

class Catalog {
 public:
  // Opens (creating it if missing) the data directory. IOError when it cannot be created or is
  // not a directory. Leftovers of an interrupted drop are removed.
  static Result<std::unique_ptr<Catalog>> open(const std::filesystem::path& data_dir,
                                               const CatalogOptions& options = {});
  ~Catalog();  // close()

  // InvalidArgument (with the rule) for a bad name.
  static Status validate_name(std::string_view name);

  // Whether DATA/<name> holds a collection, without opening anything (so that a command can say
  // "does not exist" before it loads a model): InvalidArgument for a bad name, NotFound
  // ("collection 'x' does not exist") when it holds none.
  static Status check_exists(const std::filesystem::path& data_dir, const std::string& name);

  // Creates a collection. AlreadyExists if the name is taken; InvalidArgument for a bad name,
  // dimension or index spec (nothing is left on disk then).
  Result<std::shared_ptr<Collection>> create(const std::string& name,
                                             const CollectionConfig& config);

  // The open collection, opening it on first use. NotFound: "collection 'x' does not exist";
  // for a failed collection, the failure that made it fail.
  Result<std::shared_ptr<Collection>> get(const std::string& name);

  // Names of all collections, sorted.
  Result<std::vector<std::string>> list() const;

  // Info of every served collection (opens them), sorted by name. Failed collections and ones
  // dropped meanwhile are left out.
  Result<std::vector<CollectionInfo>> list_info();

  // Every collection (opens them), sorted by name, failed ones with their reason. Collections
  // dropped while listing are left out. IOError only when the data directory cannot be read.
  Result<std::vector<CatalogEntry>> list_entries();

  // Closes the collection and deletes its folder. The folder is first renamed to a hidden name,
  // so a crash mid-way never leaves a half-deleted collection under its own name. NotFound when
  // it does not exist.
  Status drop(const std::string& name);

  // Closes every open collection (writing snapshots). Returns the first failure. Idempotent.
  Status close();

  const std::filesystem::path& data_dir() const { return data_dir_; }

 private:
  Catalog(std::filesystem::path data_dir, CatalogOptions options);
  std::filesystem::path data_dir_;
  CatalogOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Collection>> open_;
  std::map<std::string, Status> failed_;  // collections that could not be opened, and why
  bool closed_ = false;
};

}  // namespace vista::engine

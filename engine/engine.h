// Engine: the one object the CLI and the HTTP API talk to. It owns the Catalog (collections of a
// data directory), the Encoder (the model) and the EncodeQueue in front of it, and turns
// "search this collection for this text/picture/document" and "add these documents" into encoder
// batches and collection calls.
//
// Model. The model is optional: without EngineOptions::model_dir the engine serves everything
// that needs no encoding (listing, get, delete, search by stored id or by a given vector) and
// answers FailedPrecondition ("no model loaded; pass --model DIR") for text/image queries and
// document adds. With a model, every collection created through the engine records the model's
// identity and dimension, and every later read or write is checked against it (a collection made
// by another model fails with FailedPrecondition naming both). ModelIdentity::same_model() is
// the one rule, applied here and again by the collection: the weights' fingerprint decides, so
// the same weights in a renamed model folder still serve the collection.
//
// Queries are encoded through the EncodeQueue: concurrent embed()/search() calls from many
// threads are coalesced into one encoder batch (up to max_batch inputs, waiting at most
// max_wait_ms for company), which is what makes concurrent HTTP queries share a pass over the
// weights. When max_queued inputs are already waiting, new calls fail at once with
// ResourceExhausted (the API maps that to 503) instead of queueing without bound.
//
// Documents added through add_documents() go through the same queue, in chunks of max_batch
// (they are a batch already), so adds and queries never run the network at the same time and
// compete for cores. Bulk ingestion of folders and manifests is engine/ingestor.h, which drives
// the encoder through its own bounded pipeline and uses the same content-hash rules.
//
// Change detection (classify_change below, the one rule for add_documents and the Ingestor).
// Each stored document carries content_hash = document_content_hash(model, text, image bytes):
// the inputs of its embedding. Adding a document whose id exists with the same hash, the same
// metadata and the same source (or none given) is a no-op (kUnchanged); same hash, other
// metadata or source: the stored vector is kept and the document rewritten with the new metadata
// and source (kUpdated, no encoding); another hash: re-encoded (kUpdated).
//
// Stored images. Documents added with NewDocument::store_image keep their image bytes in the
// engine's ImageStore (engine/image_store.h) under source "blob:<name>". Every path that
// replaces or removes a document (add_documents, upsert_documents, which the Ingestor uses,
// delete_documents, drop_collection) follows the store's ordering rules under per-id locks, so
// no path leaves a picture behind; open() removes what a crash left (blobs no document names,
// folders of collections that no longer exist).
//
// Thread-safety: every method may be called from any number of threads at once, except open()
// and close(). close() must not race with other calls: callers stop issuing requests first (the
// HTTP server stops accepting, the CLI returns). Calls after close() fail with
// FailedPrecondition.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "encoder/image/image_decoder.h"
#include "engine/catalog.h"
#include "engine/collection.h"
#include "engine/encode_queue.h"
#include "engine/image_store.h"

namespace vista::encoder {
class Encoder;
}  // namespace vista::encoder

namespace vista::engine {

struct EngineOptions {
  std::filesystem::path data_dir;  // created if missing
  // Model directory (config.json, vocab.txt, weights). Empty optional: no encoder (see above).
  std::optional<std::filesystem::path> model_dir;
  // Encoder intra-op threads; 0 = the encoder's default (all hardware threads).
  int encoder_threads = 0;
  // Encoder compute path: "auto" (the encoder's default, fp32), "fp32", "bf16" or "eager".
  std::string encoder_dtype = "auto";
  // Where the encoder runs: "cpu", "cuda" or "cuda:N" (encoder/model/device.h). An unavailable
  // device fails open() (never a silent fall-back to the CPU).
  std::string encoder_device = "cpu";
  CatalogOptions catalog;
  // encode_queue.max_batch 0: the device's usual batch (encoder::default_max_batch: 16 on the
  // CPU, 256 on a GPU).
  EncodeQueueOptions encode_queue;
  // Applied to every image the engine decodes (query images, added documents, ingestion).
  encoder::DecodeLimits decode_limits;
  // Index spec for collections the engine creates on first use.
  std::string default_index_spec = "Flat";
};

// A query: exactly one of (text and/or image), id, vector.
//   text / image: encoded like Content (text+image is a composed query);
//   id:     "more like this": the stored vector of that document; the document itself is left
//           out of the hits;
//   vector: used as given (dimension floats; it is L2-normalised first).
struct Query {
  std::optional<std::string> text;
  std::optional<std::string> image_bytes;
  std::optional<std::filesystem::path> image_path;
  std::optional<std::string> id;
  std::optional<std::vector<float>> vector;
};

struct SearchResponse {
  std::vector<SearchHit> hits;  // best first
  double took_ms = 0;           // wall time of the whole call, encoding included
  bool truncated = false;       // the query text was cut to the model's token limit
};

// A document to add. Without an id, the id is content_id(text, image bytes)
// (engine/ingest_source.h: 32 hex digits of SHA-256), so adding the same content twice yields one
// document.
struct NewDocument {
  std::optional<std::string> id;
  std::optional<std::string> text;
  std::optional<std::string> image_bytes;
  std::optional<std::filesystem::path> image_path;  // local callers only (see Content)
  nlohmann::json metadata = nlohmann::json::object();
  std::optional<std::string> source;  // recorded on the document (e.g. the file it came from)
  // Keep the image bytes in the engine's ImageStore; the source becomes "blob:<name>". Only
  // for documents with an image and no source.
  bool store_image = false;
};

enum class ItemStatus { kInserted, kUpdated, kUnchanged, kFailed };
std::string_view item_status_name(ItemStatus status);  // "inserted", "updated", ...

struct ItemResult {
  std::string id;  // the id given or generated ("" when it could not be determined)
  ItemStatus status = ItemStatus::kFailed;
  Status error;            // why it failed (OK otherwise)
  bool truncated = false;  // its text was cut to the model's token limit
};

struct AddOptions {
  // Create the collection (model dimension and identity, EngineOptions::default_index_spec)
  // when it does not exist; otherwise NotFound.
  bool create_collection = true;
};

// Result of add_documents(): one entry per input, in input order.
struct AddResponse {
  std::vector<ItemResult> items;
  int64_t inserted = 0, updated = 0, unchanged = 0, failed = 0;
  double took_ms = 0;
};

// The content hash stored on documents: SHA-256 (hex) over the model's checkpoint hash, the text
// and the image bytes, each length-prefixed so that no two different inputs share an encoding. A
// missing text differs from an empty one.
std::string document_content_hash(const ModelIdentity& model,
                                  const std::optional<std::string>& text,
                                  const std::optional<std::string>& image_bytes);

enum class Change {
  kInsert,     // no stored document: encode and insert
  kReencode,   // other content: encode and replace
  kRewrite,    // same content, other metadata or source: keep the stored vector (rewritten())
  kUnchanged,  // nothing to write
};
// What writing a document with content hash `hash`, `metadata` (null means {}) and `source`
// (nullopt: none given, the stored one stays) over `stored` means.
Change classify_change(const std::optional<Document>& stored, const std::string& hash,
                       const nlohmann::json& metadata, const std::optional<std::string>& source);
// The document a kRewrite writes: `stored` (with its vector) with the new metadata, and the new
// source when one is given.
Document rewritten(Document stored, const nlohmann::json& metadata,
                   const std::optional<std::string>& source);

class Engine {
 public:
  // Opens the data directory and, if given, loads the model and starts the encode queue; sweeps
  // stored images left unreferenced by a crash (collections that hold stored images are opened
  // for that).
  // Failures: IOError for the data directory; NotFound (naming the folder and how to fetch the
  // model: scripts/fetch-model.sh) when model_dir does not exist; the encoder's Status for a bad
  // model directory.
  static Result<std::unique_ptr<Engine>> open(const EngineOptions& options);
  ~Engine();  // close(), logging a failure

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Catalog& catalog();

  bool has_model() const;
  // The loaded model's identity and output dimension; FailedPrecondition without a model.
  Result<ModelIdentity> model_identity() const;
  Result<int> dimension() const;
  // The encoder (nullptr without a model), for the ingestion pipeline and benchmarks.
  const encoder::Encoder* encoder() const;
  // The query encode queue (nullptr without a model), for metrics.
  EncodeQueue* encode_queue() const;
  const EngineOptions& options() const;

  // Encodes one input through the encode queue. InvalidArgument for empty content or both
  // image_bytes and image_path; the decoder's Status (Corruption/Unsupported/ResourceExhausted,
  // naming the file for a path) for a bad image; ResourceExhausted when the queue is full;
  // FailedPrecondition without a model; Cancelled when the engine closes meanwhile.
  Result<Embedding> embed(const Content& content);

  // Searches `collection`. InvalidArgument for a query that is not exactly one kind (see Query),
  // a vector of the wrong dimension or non-finite values, or bad options (k, filter); NotFound
  // for a missing collection or query id; otherwise as embed() and Collection::search().
  Result<SearchResponse> search(const std::string& collection, const Query& query,
                                const SearchOptions& options = {});

  // Searches `collection` with several queries at once: every text and picture among them is
  // encoded in one encoder batch, then each query is searched with its own options
  // (options.size() must equal queries.size()). Fails as a whole, naming the query
  // ("searches[2]: ..."), when any query is invalid; nothing is encoded before every query has
  // passed the cheap checks. took_ms is the whole batch's time, the same in every response.
  Result<std::vector<SearchResponse>> search_batch(const std::string& collection,
                                                   const std::vector<Query>& queries,
                                                   const std::vector<SearchOptions>& options);

  // Creates an empty collection for the loaded model. AlreadyExists / InvalidArgument as
  // Catalog::create; FailedPrecondition without a model. Empty spec: default_index_spec.
  Result<std::shared_ptr<Collection>> create_collection(const std::string& name,
                                                        const std::string& index_spec = "");

  // The collection to write into: created on first use when `create` (with `index_spec`, empty:
  // default_index_spec), and checked against the loaded model (FailedPrecondition naming both
  // models, or both dimensions, on a mismatch). FailedPrecondition without a model, and naming
  // both specs when a non-empty `index_spec` differs from an existing collection's.
  Result<std::shared_ptr<Collection>> collection_for_writing(const std::string& name, bool create,
                                                             const std::string& index_spec = "");

  // Adds or updates documents (see change detection above). Items that fail (bad image, empty
  // content, invalid id or metadata) are reported in their slot and do not stop the others; the
  // remaining items are written in one atomic upsert. The call itself fails only when nothing
  // could be attempted: no model, bad collection name, collection missing with
  // create_collection=false, model mismatch, or the upsert failing (then nothing was written).
  Result<AddResponse> add_documents(const std::string& collection,
                                    const std::vector<NewDocument>& documents,
                                    const AddOptions& options = {});

  // Upserts documents whose vectors are known (Collection::upsert) and removes the stored images
  // the replaced documents named and the new ones do not. For the ingestion pipeline.
  Result<UpsertResult> upsert_documents(Collection& collection, const ModelIdentity& model,
                                        const std::vector<Document>& documents);

  // Removes documents by id (Collection::remove), then the images they named. NotFound for a
  // missing collection.
  Result<RemoveResult> delete_documents(const std::string& collection,
                                        const std::vector<std::string>& ids);

  // Deletes a collection (Catalog::drop), then its stored images. NotFound when it does not
  // exist.
  Status drop_collection(const std::string& name);

  // Read access to the stored images (writes go through the calls above).
  const ImageStore& image_store() const;
  static ImageStore::Bucket image_bucket(const Collection& collection);

  // Stops the encode queue (waiting calls fail with Cancelled) and closes the catalog (index
  // snapshots are written). Idempotent; returns the first failure.
  Status close();

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vista::engine

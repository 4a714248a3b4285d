#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/logging.h"
#include "common/test_pause.h"
#include "engine/encoder_adapter.h"
#include "engine/ingest_source.h"
#include "engine/sha256.h"

namespace vista::engine {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

Status no_model() {
  return Status::failed_precondition(
      "no model loaded: text and image inputs need one (pass --model DIR or set VISTA_MODEL)");
}

// A document of add_documents() that passed the cheap checks: its slot, image, content hash and
// the source it will record.
struct AddCandidate {
  size_t index = 0;
  std::optional<std::string> image_bytes;
  std::string hash;
  std::optional<std::string> source;
  bool store_image = false;  // source is the blob of image_bytes, to be written to the ImageStore
};

// What add_documents() writes: documents whose vector is known (writes[i] comes from candidate
// write_candidates[i]), and the inputs still to encode (to_encode[i] indexes the candidates;
// encode_inputs[i] is its prepared input). old_blobs[j]: the blob candidate j's stored document
// names now.
struct AddPlan {
  std::vector<Document> writes;
  std::vector<size_t> write_candidates;
  std::vector<size_t> to_encode;
  std::vector<EncodeItem> encode_inputs;
  std::vector<std::optional<std::string>> old_blobs;
};

void count_outcomes(AddResponse* response) {
  for (const auto& item : response->items) {
    switch (item.status) {
      case ItemStatus::kInserted: ++response->inserted; break;
      case ItemStatus::kUpdated: ++response->updated; break;
      case ItemStatus::kUnchanged: ++response->unchanged; break;
      case ItemStatus::kFailed: ++response->failed; break;
    }
  }
}

}  // namespace

std::string_view item_status_name(ItemStatus status) {
  switch (status) {
    case ItemStatus::kInserted: return "inserted";
    case ItemStatus::kUpdated: return "updated";
    case ItemStatus::kUnchanged: return "unchanged";
    case ItemStatus::kFailed: return "failed";
  }
  return "failed";
}

std::string document_content_hash(const ModelIdentity& model,
                                  const std::optional<std::string>& text,
                                  const std::optional<std::string>& image_bytes) {
  Sha256 h;
  h.update_field(std::string("vista-content-v1"));
  h.update_field(model.checkpoint_hash);
  h.update_field(text);
  h.update_field(image_bytes);
  return h.hex_digest();
}

Change classify_change(const std::optional<Document>& stored, const std::string& hash,
                       const nlohmann::json& metadata, const std::optional<std::string>& source) {
  if (!stored) return Change::kInsert;
  if (stored->content_hash != hash) return Change::kReencode;
  const bool same_metadata =
      metadata.is_null() ? stored->metadata.empty() : stored->metadata == metadata;
  const bool same_source = !source || stored->source == source;
  return same_metadata && same_source ? Change::kUnchanged : Change::kRewrite;
}

Document rewritten(Document stored, const nlohmann::json& metadata,
                   const std::optional<std::string>& source) {
  stored.metadata = metadata.is_null() ? nlohmann::json::object() : metadata;
  if (source) stored.source = source;
  return stored;
}

struct Engine::Impl {
  EngineOptions options;
  std::unique_ptr<Catalog> catalog;
  std::shared_ptr<const encoder::Encoder> encoder;
  std::unique_ptr<EncodeQueue> queue;
  ModelIdentity model;
  int dimension = 0;
  int image_size = 224;
  std::atomic<bool> closed{false};
  std::mutex create_mutex;  // one get-or-create at a time
  std::unique_ptr<ImageStore> images;
  IdLocks id_locks;  // writers of one document, across add/upsert/delete

  Status check_open() const {
    if (closed.load()) return Status::failed_precondition("the engine is closed");
    return Status::ok();
  }

  // FailedPrecondition unless `coll` holds vectors of the loaded model (ModelIdentity::same_model)
  // with its dimension.
  Status check_model(const Collection& coll) const {
    auto info = coll.info();
    if (!info.model.same_model(model))
      return Status::failed_precondition(
          "collection '" + info.name + "' holds vectors of model " + info.model.to_string() +
          "; the loaded model is " + model.to_string() +
          " (use the model the collection was built with, or ingest into a new collection)");
    if (info.dimension != dimension)
      return Status::failed_precondition(
          "collection '" + info.name + "' has " + std::to_string(info.dimension) +
          " dimensions; the loaded model makes " + std::to_string(dimension));
    return Status::ok();
  }

  Result<std::shared_ptr<Collection>> get_or_create(const std::string& name, bool create,
                                                    const std::string& spec) {
    auto got = catalog->get(name);
    if (got.is_ok() || got.status().code() != StatusCode::kNotFound || !create) return got;
    std::lock_guard<std::mutex> lock(create_mutex);
    got = catalog->get(name);
    if (got.is_ok() || got.status().code() != StatusCode::kNotFound) return got;
    CollectionConfig config;
    config.dimension = dimension;
    config.index_spec = spec.empty() ? options.default_index_spec : spec;
    config.model = model;
    spdlog::info("creating collection '{}' ({} dimensions, index {}, model {})", name, dimension,
                 config.index_spec, model.to_string());
    return catalog->create(name, config);
  }

  // add_documents() step 1: content, ids and hashes. Failures stay in their slot of `response`.
  std::vector<AddCandidate> check_documents(const ModelIdentity& model,
                                            const std::vector<NewDocument>& documents,
                                            AddResponse* response) const {
    std::vector<AddCandidate> candidates;
    std::set<std::string> seen;
    for (size_t i = 0; i < documents.size(); ++i) {
      const auto& doc = documents[i];
      auto& item = response->items[i];
      auto fail = [&](Status s) {
        item.status = ItemStatus::kFailed;
        item.error = std::move(s);
      };
      if (doc.id) item.id = *doc.id;
      if (doc.image_bytes && doc.image_path) {
        fail(Status::invalid_argument("give the image as bytes or as a path, not both"));
        continue;
      }
      if (!doc.text && !doc.image_bytes && !doc.image_path) {
        fail(Status::invalid_argument("a document needs a text, an image or both"));
        continue;
      }
      if (doc.text && !is_valid_utf8(*doc.text)) {
        fail(Status::invalid_argument("the text is not valid UTF-8"));
        continue;
      }
      if (!doc.metadata.is_object() && !doc.metadata.is_null()) {
        fail(Status::invalid_argument(std::string("metadata must be a JSON object, got ") +
                                      doc.metadata.type_name()));
        continue;
      }
      AddCandidate c;
      c.index = i;
      c.image_bytes = doc.image_bytes;
      if (doc.image_path) {
        auto bytes = read_file_bytes(*doc.image_path, options.decode_limits.max_bytes);
        if (!bytes.is_ok()) {
          fail(bytes.status());
          continue;
        }
        c.image_bytes = std::move(bytes).value();
      }
      if (!doc.id) item.id = content_id(doc.text, c.image_bytes);
      if (Status s = validate_document_id(item.id); !s.is_ok()) {
        fail(s);
        continue;
      }
      if (!seen.insert(item.id).second) {
        fail(
            Status::invalid_argument("id '" + item.id + "' appears more than once in the request"));
        continue;
      }
      c.hash = document_content_hash(model, doc.text, c.image_bytes);
      c.source = doc.source;
      if (doc.store_image && c.image_bytes && !doc.source) {
        c.source = ImageStore::source_for(ImageStore::blob_name(item.id, *c.image_bytes));
        c.store_image = true;
      }
      candidates.push_back(std::move(c));
    }
    return candidates;
  }

  // add_documents() step 2: what is stored already decides inserted / updated / unchanged, and
  // whether the document needs encoding.
  Result<AddPlan> plan_writes(const Collection& coll, const std::vector<NewDocument>& documents,
                              const std::vector<AddCandidate>& candidates,
                              AddResponse* response) const {
    std::vector<std::string> ids;
    for (const auto& c : candidates) ids.push_back(response->items[c.index].id);
    VISTA_ASSIGN_OR_RETURN(auto existing, coll.get(ids, /*include_vectors=*/true));
    AddPlan plan;
    plan.old_blobs.resize(candidates.size());
    for (size_t j = 0; j < candidates.size(); ++j) {
      const auto& c = candidates[j];
      const auto& doc = documents[c.index];
      auto& item = response->items[c.index];
      const auto& old = existing[j];
      if (old) plan.old_blobs[j] = ImageStore::blob_of(old->source);
      const Change change = classify_change(old, c.hash, doc.metadata, c.source);
      if (change == Change::kUnchanged) {
        item.status = ItemStatus::kUnchanged;
        continue;
      }
      if (change == Change::kRewrite) {
        item.status = ItemStatus::kUpdated;
        plan.writes.push_back(rewritten(*old, doc.metadata, c.source));
        plan.write_candidates.push_back(j);
        continue;
      }
      Content content{doc.text, std::nullopt, std::nullopt};
      if (c.image_bytes) content.image_bytes = c.image_bytes;
      auto prepared = prepare_content(content, options.decode_limits, image_size);
      if (!prepared.is_ok()) {
        item.status = ItemStatus::kFailed;
        item.error = prepared.status();
        continue;
      }
      item.status = old ? ItemStatus::kUpdated : ItemStatus::kInserted;
      plan.to_encode.push_back(j);
      plan.encode_inputs.push_back(std::move(prepared).value());
    }
    return plan;
  }

  // add_documents() step 3: encodes plan->encode_inputs through the queue, in chunks the queue
  // accepts, and appends the documents to plan->writes. A failing chunk is redone item by item
  // so only the culprit fails; a full queue or a closing engine fails the call.
  Status encode_planned(const std::vector<NewDocument>& documents,
                        const std::vector<AddCandidate>& candidates, AddPlan* plan,
                        AddResponse* response) const {
    const size_t n_inputs = plan->to_encode.size();
    const size_t chunk = static_cast<size_t>(std::max(1, queue->options().max_batch));
    std::vector<std::optional<Embedding>> embeddings(n_inputs);
    for (size_t off = 0; off < n_inputs; off += chunk) {
      const size_t n = std::min(chunk, n_inputs - off);
      std::vector<EncodeItem> part(plan->encode_inputs.begin() + off,
                                   plan->encode_inputs.begin() + off + n);
      auto out = queue->encode(std::move(part));
      if (out.is_ok()) {
        for (size_t k = 0; k < n; ++k) embeddings[off + k] = std::move((*out)[k]);
        continue;
      }
      if (out.status().code() == StatusCode::kResourceExhausted ||
          out.status().code() == StatusCode::kCancelled)
        return out.status();
      for (size_t k = 0; k < n; ++k) {
        auto one = queue->encode_one(plan->encode_inputs[off + k]);
        if (one.is_ok()) {
          embeddings[off + k] = std::move(one).value();
        } else {
          auto& item = response->items[candidates[plan->to_encode[off + k]].index];
          item.status = ItemStatus::kFailed;
          item.error = one.status();
        }
      }
    }
    for (size_t e = 0; e < n_inputs; ++e) {
      if (!embeddings[e]) continue;
      const auto& c = candidates[plan->to_encode[e]];
      const auto& doc = documents[c.index];
      Document d;
      d.id = response->items[c.index].id;
      d.vector = std::move(embeddings[e]->vector);
      d.metadata = doc.metadata.is_null() ? nlohmann::json::object() : doc.metadata;
      d.text = doc.text;
      d.source = c.source;
      d.content_hash = c.hash;
      response->items[c.index].truncated = embeddings[e]->truncated;
      plan->writes.push_back(std::move(d));
      plan->write_candidates.push_back(plan->to_encode[e]);
    }
    return Status::ok();
  }

  // add_documents() step 4: writes the images the planned documents name before they are
  // committed. A document whose image cannot be written fails and is not written.
  void store_images(const ImageStore::Bucket& bucket, const std::vector<AddCandidate>& candidates,
                    AddPlan* plan, AddResponse* response) {
    AddPlan kept;
    for (size_t w = 0; w < plan->writes.size(); ++w) {
      const size_t j = plan->write_candidates[w];
      const AddCandidate& c = candidates[j];
      const auto blob = ImageStore::blob_of(plan->writes[w].source);
      if (c.store_image && blob && blob != plan->old_blobs[j]) {
        if (Status s = images->put(bucket, *blob, *c.image_bytes); !s.is_ok()) {
          auto& item = response->items[c.index];
          item.status = ItemStatus::kFailed;
          item.error = s.with_context("storing the image of document '" + item.id + "'");
          continue;
        }
      }
      kept.writes.push_back(std::move(plan->writes[w]));
      kept.write_candidates.push_back(j);
    }
    plan->writes = std::move(kept.writes);
    plan->write_candidates = std::move(kept.write_candidates);
  }

  // Undoes store_images() after a failed commit.
  void unstore_images(const ImageStore::Bucket& bucket, const std::vector<AddCandidate>& candidates,
                      const AddPlan& plan) {
    for (size_t w = 0; w < plan.writes.size(); ++w) {
      const size_t j = plan.write_candidates[w];
      const auto blob = ImageStore::blob_of(plan.writes[w].source);
      if (candidates[j].store_image && blob && blob != plan.old_blobs[j])
        release_image(bucket, *blob);
    }
  }

  // Upserts `docs` (the caller holds their id locks), then unlinks the blobs that the replaced
  // documents named and the new ones do not.
  Result<UpsertResult> upsert_releasing_images(Collection& coll, const ModelIdentity& m,
                                               const std::vector<Document>& docs) {
    std::vector<std::string> ids;
    ids.reserve(docs.size());
    for (const auto& d : docs) ids.push_back(d.id);
    VISTA_ASSIGN_OR_RETURN(auto old, coll.get(ids));
    VISTA_ASSIGN_OR_RETURN(UpsertResult result, coll.upsert(m, docs));
    test_pause_point("documents-committed");
    const ImageStore::Bucket bucket = Engine::image_bucket(coll);
    for (size_t i = 0; i < docs.size(); ++i) {
      if (!old[i]) continue;
      const auto was = ImageStore::blob_of(old[i]->source);
      if (was && was != ImageStore::blob_of(docs[i].source)) release_image(bucket, *was);
    }
    return result;
  }

  // A blob that cannot be unlinked now is swept by the next open().
  void release_image(const ImageStore::Bucket& bucket, const std::string& blob) {
    if (Status s = images->remove(bucket, blob); !s.is_ok())
      spdlog::warn("collection '{}': cannot remove a stored image now: {}", bucket.collection,
                   s.message());
  }

  // Removes what a crash left in the ImageStore: folders of collections that no longer exist (or
  // were re-created since) and blobs no document names. The folders are listed before the
  // collections: a folder is made only after its collection exists, so a listed folder whose
  // collection is absent from the later listing belongs to a dropped collection.
  void sweep_images() {
    const std::vector<ImageStore::Bucket> buckets = images->buckets();
    if (buckets.empty()) return;
    auto names = catalog->list();
    if (!names.is_ok()) {
      // Never delete images on a partial view of the collections.
      spdlog::warn("not sweeping stored images: {}", names.status().message());
      return;
    }
    for (const auto& b : buckets) {
      std::shared_ptr<Collection> coll;
      if (std::find(names->begin(), names->end(), b.collection) != names->end()) {
        auto got = catalog->get(b.collection);
        if (!got.is_ok()) {
          spdlog::debug("not sweeping the images of '{}': {}", b.collection,
                        got.status().message());
          continue;
        }
        coll = std::move(got).value();
      }
      if (!coll || coll->info().created_at_ms != b.created_at_ms) {
        spdlog::info("removing stored images of a collection that no longer exists: {}@{}",
                     b.collection, b.created_at_ms);
        (void)images->drop(b);
        continue;
      }
      std::unordered_set<std::string> referenced;
      for (const auto& source : coll->sources_with_prefix("blob:"))
        if (auto blob = ImageStore::blob_of(source)) referenced.insert(*blob);
      images->sweep_unreferenced(b, referenced);
    }
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  Status s = close();
  if (!s.is_ok()) spdlog::error("closing the engine: {}", s.message());
}

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.model_dir) {
    const int queue_batch = options.encode_queue.max_batch;
    VISTA_ASSIGN_OR_RETURN(
        impl->encoder,
        load_encoder(*options.model_dir, options.encoder_threads, options.encoder_dtype,
                     options.encoder_device, queue_batch > 0 ? std::max(16, queue_batch) : 0));
    impl->model = encoder_identity(*impl->encoder);
    impl->dimension = encoder_dimension(*impl->encoder);
    impl->image_size = encoder_image_size(*impl->encoder);
    EncodeQueueOptions queue = options.encode_queue;
    if (queue.max_batch <= 0) queue.max_batch = encoder_default_batch(*impl->encoder);
    impl->queue = std::make_unique<EncodeQueue>(*impl->encoder, queue);
  }
  VISTA_ASSIGN_OR_RETURN(impl->catalog, Catalog::open(options.data_dir, options.catalog));
  VISTA_ASSIGN_OR_RETURN(
      impl->images, ImageStore::open(options.data_dir, options.catalog.collection.sync_writes));
  impl->sweep_images();
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Catalog& Engine::catalog() {
  return *impl_->catalog;
}
bool Engine::has_model() const {
  return impl_->encoder != nullptr;
}
const encoder::Encoder* Engine::encoder() const {
  return impl_->encoder.get();
}
EncodeQueue* Engine::encode_queue() const {
  return impl_->queue.get();
}
const EngineOptions& Engine::options() const {
  return impl_->options;
}

Result<ModelIdentity> Engine::model_identity() const {
  if (!impl_->encoder) return no_model();
  return impl_->model;
}

Result<int> Engine::dimension() const {
  if (!impl_->encoder) return no_model();
  return impl_->dimension;
}

Result<Embedding> Engine::embed(const Content& content) {
  VISTA_RETURN_IF_ERROR(impl_->check_open());
  if (!impl_->encoder) return no_model();
  if (content.text && !is_valid_utf8(*content.text))
    return Status::invalid_argument("the text is not valid UTF-8");
  VISTA_ASSIGN_OR_RETURN(auto item,
                         prepare_content(content, impl_->options.decode_limits, impl_->image_size));
  return impl_->queue->encode_one(std::move(item));
}

Result<SearchResponse> Engine::search(const std::string& collection, const Query& query,
                                      const SearchOptions& options) {
  VISTA_ASSIGN_OR_RETURN(auto responses, search_batch(collection, {query}, {options}));
  return std::move(responses[0]);
}

Result<std::vector<SearchResponse>> Engine::search_batch(
    const std::string& collection, const std::vector<Query>& queries,
    const std::vector<SearchOptions>& options) {
  auto start = Clock::now();
  VISTA_RETURN_IF_ERROR(impl_->check_open());
  if (queries.size() != options.size())
    return Status::invalid_argument("search_batch needs one SearchOptions per query");
  auto where = [&](size_t i) {
    return queries.size() == 1 ? std::string() : "searches[" + std::to_string(i) + "]: ";
  };
  // A failure of query i, named by its place when the batch has several.
  auto at = [&](size_t i, const Status& s) {
    return queries.size() == 1 ? s : s.with_context("searches[" + std::to_string(i) + "]");
  };
  // Cheap checks first, for every query, before anything is encoded.
  std::vector<EncodeItem> items;
  std::vector<size_t> encoded;  // query index of each item
  for (size_t i = 0; i < queries.size(); ++i) {
    const Query& query = queries[i];
    const bool content = query.text || query.image_bytes || query.image_path;
    const int kinds = (content ? 1 : 0) + (query.id ? 1 : 0) + (query.vector ? 1 : 0);
    if (kinds != 1)
      return Status::invalid_argument(
          where(i) + "a query needs exactly one of: text and/or image, id, vector (got " +
          std::to_string(kinds) + ")");
    if (Status s = validate_search_options(options[i]); !s.is_ok()) return at(i, s);
  }
  VISTA_ASSIGN_OR_RETURN(auto coll, impl_->catalog->get(collection));
  const auto info = coll->info();
  bool model_checked = false;  // once per batch, before the first encoded query
  for (size_t i = 0; i < queries.size(); ++i) {
    const Query& query = queries[i];
    if (!(query.text || query.image_bytes || query.image_path)) continue;
    if (!impl_->encoder) return no_model();
    if (!model_checked) {
      VISTA_RETURN_IF_ERROR(impl_->check_model(*coll));
      model_checked = true;
    }
    if (query.text && !is_valid_utf8(*query.text))
      return Status::invalid_argument(where(i) + "the text is not valid UTF-8");
    auto item = prepare_content(Content{query.text, query.image_bytes, query.image_path},
                                impl_->options.decode_limits, impl_->image_size);
    if (!item.is_ok()) return at(i, item.status());
    items.push_back(std::move(item).value());
    encoded.push_back(i);
  }
  // Every text and picture of the batch goes through the encoder together.
  std::vector<Embedding> embeddings;
  if (!items.empty()) {
    VISTA_ASSIGN_OR_RETURN(embeddings, impl_->queue->encode(std::move(items)));
  }

  std::vector<SearchResponse> responses(queries.size());
  size_t next_embedding = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    const Query& query = queries[i];
    SearchResponse& response = responses[i];
    std::vector<float> vector;
    ModelIdentity model = info.model;
    SearchOptions opts = options[i];
    if (next_embedding < encoded.size() && encoded[next_embedding] == i) {
      Embedding& emb = embeddings[next_embedding++];
      vector = std::move(emb.vector);
      response.truncated = emb.truncated;
      model = impl_->model;
    } else if (query.id) {
      VISTA_ASSIGN_OR_RETURN(auto docs, coll->get({*query.id}, /*include_vectors=*/true));
      if (docs.empty() || !docs[0])
        return Status::not_found(where(i) + "document '" + *query.id +
                                 "' does not exist in collection '" + collection + "'");
      vector = std::move(docs[0]->vector);
      // The document itself would be the best hit: ask for one more, leave it out, then page.
      opts.k = std::min<int64_t>(options[i].offset + options[i].k + 1, kMaxSearchK);
      opts.offset = 0;
    } else {
      vector = *query.vector;
      if (static_cast<int>(vector.size()) != info.dimension)
        return Status::invalid_argument(where(i) + "the query vector has " +
                                        std::to_string(vector.size()) + " components; collection '" +
                                        collection + "' has " + std::to_string(info.dimension));
      double norm = 0;
      for (float v : vector) norm += static_cast<double>(v) * v;
      if (norm == 0) return Status::invalid_argument(where(i) + "the query vector is all zeros");
      // A NaN or infinite component (norm not finite) is left as is: the index's search names
      // it (index::check_finite_queries).
      if (std::isfinite(norm)) {
        const float inv = static_cast<float>(1.0 / std::sqrt(norm));
        for (float& v : vector) v *= inv;
      }
    }
    VISTA_ASSIGN_OR_RETURN(auto lists, coll->search(model, vector.data(), 1, opts));
    if (!lists.empty()) response.hits = std::move(lists[0]);
    if (query.id) {
      for (auto it = response.hits.begin(); it != response.hits.end(); ++it) {
        if (it->document.id == *query.id) {
          response.hits.erase(it);
          break;
        }
      }
      const auto skip = std::min<size_t>(response.hits.size(), options[i].offset);
      response.hits.erase(response.hits.begin(), response.hits.begin() + skip);
      if (static_cast<int64_t>(response.hits.size()) > options[i].k)
        response.hits.resize(options[i].k);
    }
  }
  const double took = ms_since(start);
  for (auto& r : responses) r.took_ms = took;
  return responses;
}

Result<std::shared_ptr<Collection>> Engine::create_collection(const std::string& name,
                                                              const std::string& index_spec) {
  VISTA_RETURN_IF_ERROR(impl_->check_open());
  if (!impl_->encoder) return no_model();
  CollectionConfig config;
  config.dimension = impl_->dimension;
  config.index_spec = index_spec.empty() ? impl_->options.default_index_spec : index_spec;
  config.model = impl_->model;
  std::lock_guard<std::mutex> lock(impl_->create_mutex);
  return impl_->catalog->create(name, config);
}

Result<std::shared_ptr<Collection>> Engine::collection_for_writing(const std::string& name,
                                                                   bool create,
                                                                   const std::string& spec) {
  VISTA_RETURN_IF_ERROR(impl_->check_open());
  if (!impl_->encoder) return no_model();
  VISTA_ASSIGN_OR_RETURN(auto coll, impl_->get_or_create(name, create, spec));
  VISTA_RETURN_IF_ERROR(impl_->check_model(*coll));
  // A spec asked for explicitly must be the one the collection has: silently writing into a
  // Flat collection when HNSW32 was asked for would hide the mistake.
  if (const std::string existing = coll->info().index_spec; !spec.empty() && spec != existing)
    return Status::failed_precondition(
        "collection '" + name + "' has index '" + existing + "', not the '" + spec +
        "' asked for; leave out the index spec to add to it, or use another collection");
  return coll;
}

Result<AddResponse> Engine::add_documents(const std::string& collection,
                                          const std::vector<NewDocument>& documents,
                                          const AddOptions& options) {
  auto start = Clock::now();
  VISTA_ASSIGN_OR_RETURN(auto coll, collection_for_writing(collection, options.create_collection));
  const ModelIdentity& model = impl_->model;  // checked against the collection above
  AddResponse response;
  response.items.resize(documents.size());
  const std::vector<AddCandidate> candidates = impl_->check_documents(model, documents, &response);
  std::vector<std::string> ids;
  for (const auto& c : candidates) ids.push_back(response.items[c.index].id);
  // From here to the end, no other writer of the engine touches these documents.
  const IdLocks::Guard lock = impl_->id_locks.lock(collection, ids);
  VISTA_ASSIGN_OR_RETURN(AddPlan plan, impl_->plan_writes(*coll, documents, candidates, &response));
  VISTA_RETURN_IF_ERROR(impl_->encode_planned(documents, candidates, &plan, &response));
  const ImageStore::Bucket bucket = image_bucket(*coll);
  impl_->store_images(bucket, candidates, &plan, &response);
  test_pause_point("images-stored");
  if (!plan.writes.empty()) {
    auto written = impl_->upsert_releasing_images(*coll, model, plan.writes);
    if (!written.is_ok()) {
      impl_->unstore_images(bucket, candidates, plan);
      return written.status();
    }
  }
  count_outcomes(&response);
  response.took_ms = ms_since(start);
  return response;
}

Result<UpsertResult> Engine::upsert_documents(Collection& collection, const ModelIdentity& model,
                                              const std::vector<Document>& documents) {
  VISTA_RETURN_IF_ERROR(impl_->check_open());
  std::vector<std::string> ids;
  ids.reserve(documents.size());
  for (const auto& d : documents) ids.push_back(d.id);
  const IdLocks::Guard lock = impl_->id_locks.lock(collection.name(), ids);
  return impl_->upsert_releasing_images(collection, model, documents);
}

Result<RemoveResult> Engine::delete_documents(const std::string& collection,
                                              const std::vector<std::string>& ids) {
  VISTA_RETURN_IF_ERROR(impl_->check_open());
  VISTA_ASSIGN_OR_RETURN(auto coll, impl_->catalog->get(collection));
  const IdLocks::Guard lock = impl_->id_locks.lock(collection, ids);
  VISTA_ASSIGN_OR_RETURN(auto old, coll->get(ids));
  VISTA_ASSIGN_OR_RETURN(RemoveResult removed, coll->remove(ids));
  const ImageStore::Bucket bucket = image_bucket(*coll);
  for (const auto& doc : old)
    if (doc)
      if (auto blob = ImageStore::blob_of(doc->source)) impl_->release_image(bucket, *blob);
  return removed;
}

Status Engine::drop_collection(const std::string& name) {
  VISTA_RETURN_IF_ERROR(impl_->check_open());
  // A collection that failed to open can be dropped too (that is how a user gets rid of it);
  // its image folder, whose name needs the collection's info, goes at the next start's sweep.
  std::optional<ImageStore::Bucket> bucket;
  {
    auto got = impl_->catalog->get(name);
    if (!got.is_ok() && got.status().code() == StatusCode::kNotFound) return got.status();
    if (got.is_ok()) bucket = image_bucket(**got);
  }  // the collection is released before the drop closes it
  VISTA_RETURN_IF_ERROR(impl_->catalog->drop(name));
  if (!bucket) return Status::ok();
  if (Status s = impl_->images->drop(*bucket); !s.is_ok())
    spdlog::warn("collection '{}' deleted, its stored images not (swept at the next start): {}",
                 name, s.message());
  return Status::ok();
}

const ImageStore& Engine::image_store() const {
  return *impl_->images;
}

ImageStore::Bucket Engine::image_bucket(const Collection& collection) {
  return {collection.name(), collection.info().created_at_ms};
}

Status Engine::close() {
  if (impl_->closed.exchange(true)) return Status::ok();
  if (impl_->queue) impl_->queue->shutdown();
  return impl_->catalog ? impl_->catalog->close() : Status::ok();
}

}  // namespace vista::engine

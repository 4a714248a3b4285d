// POST /v1/collections/{name}/documents (JSON or multipart/form-data),
// GET / DELETE /v1/collections/{name}/documents/{id}, GET .../documents/{id}/image.
#include <chrono>
#include <set>

#include "api/json_codec.h"
#include "api/service.h"
#include "common/logging.h"
#include "encoder/image/image_decoder.h"
#include "engine/ingest_source.h"

namespace vista::api {

using nlohmann::json;

namespace {

const httplib::MultipartFormData* single_part(const httplib::MultipartFormDataMap& files,
                                              const std::string& name) {
  if (files.count(name) > 1)
    throw ApiError::malformed("the form has " + std::to_string(files.count(name)) +
                              " parts named '" + name + "'; one is expected");
  auto it = files.find(name);
  return it == files.end() ? nullptr : &it->second;
}

std::string_view image_content_type(std::string_view bytes) {
  const std::string_view format =
      encoder::sniff_image_format(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (format == "JPEG") return "image/jpeg";
  if (format == "PNG") return "image/png";
  if (format == "WEBP") return "image/webp";
  if (format == "GIF") return "image/gif";
  if (format == "BMP") return "image/bmp";
  if (format == "TIFF") return "image/tiff";
  return "application/octet-stream";
}

bool query_flag(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return false;
  const std::string v = req.get_param_value(name);
  if (v == "true" || v == "1" || v.empty()) return true;
  if (v == "false" || v == "0") return false;
  throw ApiError::malformed(std::string("query parameter ") + name + " must be true or false");
}

}  // namespace

// One document of a request, parsed. A failure stays in its slot and the others go on.
struct Service::AddItem {
  std::optional<ApiError> error;
  engine::NewDocument doc;
  std::string id;
  bool has_image = false;
};

void Service::add_documents(const httplib::Request& req, httplib::Response& res,
                            const std::vector<std::string>& params) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& name = params[0];
  auto coll = collection(name);  // 404 before any image is read
  std::vector<AddItem> items = parse_documents(req);
  const engine::AddResponse added = write_documents(name, items);
  json body = add_results(items, added);
  body["took_ms"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  send_json(res, 200, body);
}

std::vector<Service::AddItem> Service::parse_documents(const httplib::Request& req) const {
  const size_t max_batch = static_cast<size_t>(settings_.limits.max_batch_documents);
  auto too_many = [&](size_t n) {
    if (n > max_batch)
      throw ApiError::too_large("the request has " + std::to_string(n) +
                                " documents; limits.max_batch_documents is " +
                                std::to_string(max_batch));
  };
  std::vector<AddItem> items;
  if (!req.is_multipart_form_data()) {
    const json body = parse_json_body(req);
    ObjectReader r(body, "the request body");
    auto docs = r.array("documents");
    r.finish();
    if (!docs) throw ApiError::malformed("the request body needs \"documents\": [...]");
    too_many(docs->size());
    for (size_t i = 0; i < docs->size(); ++i)
      items.push_back(
          parse_document((*docs)[i], "documents[" + std::to_string(i) + "]", nullptr, nullptr));
    return items;
  }
  std::set<std::string> used_parts;
  if (const auto* part = single_part(req.files, "documents")) {
    used_parts.insert("documents");
    const json body = parse_json(part->content, "the 'documents' part");
    json list;
    if (body.is_array()) {
      list = body;
    } else {
      ObjectReader r(body, "the 'documents' part");
      auto docs = r.array("documents");
      r.finish();
      if (!docs) throw ApiError::malformed("the 'documents' part needs \"documents\": [...]");
      list = std::move(*docs);
    }
    too_many(list.size());
    for (size_t i = 0; i < list.size(); ++i)
      items.push_back(
          parse_document(list[i], "documents[" + std::to_string(i) + "]", &req.files, &used_parts));
  } else {
    // One document from plain form fields: id, text, metadata (JSON text) and the file "image".
    json doc = json::object();
    for (const char* field : {"id", "text"}) {
      if (const auto* part = single_part(req.files, field)) {
        doc[field] = part->content;
        used_parts.insert(field);
      }
    }
    if (const auto* part = single_part(req.files, "metadata")) {
      doc["metadata"] = parse_json(part->content, "the 'metadata' part");
      used_parts.insert("metadata");
    }
    if (single_part(req.files, "image")) doc["image_file"] = "image";
    items.push_back(parse_document(doc, "the form", &req.files, &used_parts));
  }
  for (const auto& [part_name, part] : req.files)
    if (!used_parts.count(part_name))
      throw ApiError::malformed("the form part '" + part_name +
                                "' is not used (parts: documents + files it names, or id, "
                                "text, metadata, image)");
  return items;
}

Service::AddItem Service::parse_document(const json& value, const std::string& where,
                                         const httplib::MultipartFormDataMap* files,
                                         std::set<std::string>* used_parts) const {
  AddItem item;
  try {
    ObjectReader r(value, where);
    std::optional<std::string> id = r.id("id");
    if (id) item.id = *id;  // so that an error found below reports the caller's id
    item.doc.text = r.string("text");
    const auto image = r.string("image");
    const auto image_path = r.string("image_path");
    const auto image_file = files ? r.string("image_file") : std::nullopt;
    const auto metadata = r.object("metadata");
    r.finish();
    const int images = (image ? 1 : 0) + (image_path ? 1 : 0) + (image_file ? 1 : 0);
    if (images > 1)
      throw ApiError::invalid(where + ": give the image once (image, image_path" +
                              std::string(files ? " or image_file" : " or an upload") + ")");
    if (!item.doc.text && images == 0)
      throw ApiError::invalid(where + " needs a text, an image or both");
    check_text(item.doc.text, where + ".text");
    if (metadata) item.doc.metadata = *metadata;
    if (image) item.doc.image_bytes = image_from_base64(*image, where + ".image");
    if (image_file) item.doc.image_bytes = image_from_part(*files, *image_file, where, used_parts);
    if (image_path) {
      ConfinedFile file = image_from_path(*image_path);
      item.doc.image_bytes = std::move(file.bytes);
      item.doc.source = file.canonical_path.string();
    }
    item.has_image = item.doc.image_bytes.has_value();
    item.id = id ? *id : engine::content_id(item.doc.text, item.doc.image_bytes);
    if (Status s = engine::validate_document_id(item.id); !s.is_ok()) fail(s, false, "document id");
    item.doc.id = item.id;
    // Uploaded bytes stay with the engine, so that the image can be served later.
    item.doc.store_image = item.doc.image_bytes && !item.doc.source;
  } catch (const ApiError& e) {
    item.error = e;
  }
  return item;
}

std::string Service::image_from_part(const httplib::MultipartFormDataMap& files,
                                     const std::string& part_name, const std::string& where,
                                     std::set<std::string>* used_parts) const {
  const httplib::MultipartFormData* part = single_part(files, part_name);
  if (!part)
    throw ApiError::malformed(where + ".image_file names the part '" + part_name +
                              "', which the form does not have");
  used_parts->insert(part_name);
  if (part->content.size() > settings_.limits.max_image_bytes)
    throw ApiError::too_large(
        "part '" + part_name + "' is " + std::to_string(part->content.size()) +
        " bytes; limits.max_image_bytes is " + std::to_string(settings_.limits.max_image_bytes));
  if (part->content.empty()) throw ApiError::invalid("part '" + part_name + "' is empty");
  return part->content;
}

engine::AddResponse Service::write_documents(const std::string& name,
                                             std::vector<AddItem>& items) const {
  std::vector<engine::NewDocument> docs;
  bool any_image = false;
  for (auto& item : items) {
    if (item.error) continue;
    any_image |= item.has_image;
    docs.push_back(std::move(item.doc));
  }
  if (docs.empty()) return {};
  engine::AddOptions options;
  options.create_collection = false;
  auto result = engine_->add_documents(name, docs, options);
  if (!result.is_ok()) fail(result.status(), any_image, "adding documents");
  return std::move(result).value();
}

json Service::add_results(const std::vector<AddItem>& items,
                          const engine::AddResponse& added) const {
  json results = json::array();
  int64_t failed = added.failed;
  size_t k = 0;
  for (const auto& item : items) {
    if (item.error) {
      ++failed;
      results.push_back({{"id", item.id.empty() ? json(nullptr) : json(item.id)},
                         {"status", "failed"},
                         {"error", error_object(*item.error)}});
      continue;
    }
    const engine::ItemResult& r = added.items[k++];
    json entry = {{"id", r.id.empty() ? json(nullptr) : json(r.id)},
                  {"status", std::string(engine::item_status_name(r.status))}};
    if (r.status == engine::ItemStatus::kFailed) {
      ErrorContext ctx = error_context_;
      ctx.client_image = item.has_image;
      entry["error"] = error_object(status_to_error(r.error, ctx, "adding a document"));
    }
    if (r.truncated) entry["truncated"] = true;
    results.push_back(std::move(entry));
  }
  return {{"results", results},           {"inserted", added.inserted}, {"updated", added.updated},
          {"unchanged", added.unchanged}, {"failed", failed},           {"errors", failed > 0}};
}

void Service::get_document(const httplib::Request& req, httplib::Response& res,
                           const std::vector<std::string>& params) {
  const bool with_vector = query_flag(req, "with_vector");
  auto coll = collection(params[0]);
  auto got = coll->get({params[1]}, with_vector);
  if (!got.is_ok()) fail(got.status(), false, "reading a document");
  if (got->empty() || !(*got)[0])
    throw ApiError::not_found("document '" + params[1] + "' does not exist in collection '" +
                              params[0] + "'");
  const engine::Document& doc = *(*got)[0];
  send_json(res, 200, document_json(doc, with_vector, image_url(params[0], doc)));
}

void Service::delete_document(const httplib::Request&, httplib::Response& res,
                              const std::vector<std::string>& params) {
  const std::string& name = params[0];
  const std::string& id = params[1];
  std::vector<std::string> missing;
  if (remove_documents(name, {id}, &missing) == 0)
    throw ApiError::not_found("document '" + id + "' does not exist in collection '" + name + "'");
  send_json(res, 200, {{"id", id}, {"deleted", true}});
}

void Service::get_document_image(const httplib::Request& req, httplib::Response& res,
                                 const std::vector<std::string>& params) {
  const std::string& name = params[0];
  const std::string& id = params[1];
  std::optional<int> size;
  if (req.has_param("size")) {
    const std::string text = req.get_param_value("size");
    const int max = settings_.limits.max_thumbnail_size;
    int value = -1;
    if (!text.empty() && text.size() <= 6 &&
        text.find_first_not_of("0123456789") == std::string::npos)
      value = std::stoi(text);
    if (value < 16 || value > max)
      throw ApiError::invalid("size must be an integer between 16 and " + std::to_string(max) +
                              ", got '" + text + "'");
    size = value;
  }
  auto coll = collection(name);
  auto got = coll->get({id});
  if (!got.is_ok()) fail(got.status(), false, "reading a document");
  if (got->empty() || !(*got)[0])
    throw ApiError::not_found("document '" + id + "' does not exist in collection '" + name + "'");
  const engine::Document& doc = *(*got)[0];
  const ApiError no_image =
      ApiError::not_found("document '" + id + "' has no image this server can return");

  std::string cache_key;
  std::string bytes;
  if (auto blob = engine::ImageStore::blob_of(doc.source)) {
    const engine::ImageStore::Bucket b = engine::Engine::image_bucket(*coll);
    // Blob names are content hashes: the bytes behind an ETag never change.
    const std::string etag =
        "\"" + blob->substr(0, 32) + (size ? "-" + std::to_string(*size) : "") + "\"";
    res.set_header("ETag", etag);
    res.set_header("Cache-Control", "private, max-age=86400");
    if (req.get_header_value("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    cache_key = b.collection + "@" + std::to_string(b.created_at_ms) + "/" + *blob;
    if (size) {
      if (auto thumb = thumbnails_.get(cache_key + "#" + std::to_string(*size))) {
        res.status = 200;
        res.set_content(*thumb, "image/jpeg");
        return;
      }
    }
    auto read = engine_->image_store().get(b, *blob);
    if (!read.is_ok()) throw no_image;
    bytes = std::move(read).value();
  } else if (doc.source && guard_.enabled() && guard_.resolve(*doc.source).is_ok()) {
    auto file = guard_.read(*doc.source, settings_.limits.max_image_bytes);
    if (!file.is_ok()) throw no_image;
    bytes = std::move(file->bytes);
    std::error_code ec;
    auto mtime = std::filesystem::last_write_time(file->canonical_path, ec);
    cache_key = file->canonical_path.string() + "@" +
                std::to_string(mtime.time_since_epoch().count()) + ":" +
                std::to_string(bytes.size());
  } else if (doc.source && doc.content_hash) {
    // The picture a document was indexed from (docs/api.md, "Images"): served when the file
    // still holds exactly the bytes that were embedded, which the content hash proves.
    auto file = read_indexed_file(*doc.source, settings_.limits.max_image_bytes);
    if (!file.is_ok()) throw no_image;
    if (engine::document_content_hash(coll->info().model, doc.text, *file) != *doc.content_hash)
      throw ApiError::not_found("document '" + id + "': " + *doc.source +
                                " changed since it was indexed");
    bytes = std::move(file).value();
    cache_key = *doc.content_hash;
  } else {
    throw no_image;
  }

  if (!size) {
    res.status = 200;
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(bytes, std::string(image_content_type(bytes)));
    return;
  }
  const std::string key = cache_key + "#" + std::to_string(*size);
  std::optional<std::string> thumb = thumbnails_.get(key);
  if (!thumb) {
    encoder::DecodeLimits limits;
    limits.max_bytes = settings_.limits.max_image_bytes;
    limits.max_pixels = settings_.limits.max_image_pixels;
    auto made = make_thumbnail(bytes, *size, limits);
    if (!made.is_ok()) fail(made.status(), true, "making a thumbnail");
    thumb = std::move(made).value();
    thumbnails_.put(key, *thumb);
  }
  res.status = 200;
  res.set_content(*thumb, "image/jpeg");
}

}  // namespace vista::api

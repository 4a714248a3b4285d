#include "engine/ingest_source.h"

#include <csv.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "encoder/image/image_decoder.h"
#include "engine/collection.h"
#include "engine/sha256.h"

namespace vista::engine {
namespace fs = std::filesystem;

namespace {

bool is_hidden(const fs::path& p) {
  auto name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

enum class SourceKind { kFolder, kJsonl, kCsv, kImageFile };

SourceKind kind_of(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) return SourceKind::kFolder;
  auto ext = lower(p.extension().string());
  if (ext == ".jsonl" || ext == ".ndjson") return SourceKind::kJsonl;
  if (ext == ".csv") return SourceKind::kCsv;
  return SourceKind::kImageFile;
}

// "photos/./a.jpg" -> "photos/a.jpg"; the id of a manifest row that names only an image.
std::string normalised_path_id(const std::string& written) {
  auto norm = fs::path(written).lexically_normal().generic_string();
  return norm.empty() ? written : norm;
}

// Sorted children of a folder, hidden ones left out.
std::vector<fs::directory_entry> sorted_children(const fs::path& dir, std::error_code& ec) {
  std::vector<fs::directory_entry> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (is_hidden(it->path())) continue;
    out.push_back(*it);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return out;
}

// Tracks ids seen in this run so a second occurrence is reported, naming the first.
class IdRegistry {
 public:
  // OK when new; InvalidArgument naming the first source otherwise.
  Status add(const std::string& id, const std::string& source) {
    auto [it, inserted] = first_source_.emplace(id, source);
    if (inserted) return Status::ok();
    return Status::invalid_argument("duplicate id '" + id + "' (first used by " + it->second + ")");
  }

 private:
  std::unordered_map<std::string, std::string> first_source_;
};

struct WalkContext {
  const std::function<bool(SourceItem&&)>& on_item;
  const std::function<void(SourceError&&)>& on_error;
  const std::function<void(const fs::path&)>& on_skip;
  IdRegistry ids;
  bool stopped = false;

  // Validates and hands over one item; false when the walk must stop.
  bool emit(SourceItem&& item) {
    Status s = validate_document_id(item.id);
    if (s.is_ok()) s = ids.add(item.id, item.source);
    if (s.is_ok() && item.text && !is_valid_utf8(*item.text))
      s = Status::invalid_argument("text is not valid UTF-8");
    if (!s.is_ok()) {
      on_error(
          {item.source, item.id.empty() ? std::nullopt : std::optional<std::string>(item.id), s});
      return true;
    }
    if (!on_item(std::move(item))) stopped = true;
    return !stopped;
  }
  void error(const std::string& source, Status s, std::optional<std::string> id = std::nullopt) {
    on_error({source, std::move(id), std::move(s)});
  }
};

bool file_is_image_candidate(const fs::path& path) {
  if (has_image_extension(path)) return true;
  std::ifstream in(path, std::ios::binary);
  if (!in) return true;  // unreadable: let the reader report why
  uint8_t head[16] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  return looks_like_image(head, static_cast<size_t>(in.gcount()));
}

void walk_folder(const fs::path& root, const fs::path& dir, WalkContext& ctx) {
  std::error_code ec;
  auto children = sorted_children(dir, ec);
  if (ec) {
    ctx.error(dir.string(),
              Status::io_error("cannot list folder " + dir.string() + ": " + ec.message()));
    return;
  }
  for (const auto& entry : children) {
    if (ctx.stopped) return;
    const fs::path& p = entry.path();
    std::error_code sec;
    bool is_link = entry.is_symlink(sec);
    if (entry.is_directory(sec)) {
      if (is_link) continue;  // never follow linked folders: they can loop
      walk_folder(root, p, ctx);
      continue;
    }
    if (!entry.is_regular_file(sec)) continue;  // sockets, fifos, dangling links
    if (!file_is_image_candidate(p)) {
      if (ctx.on_skip) ctx.on_skip(p);
      continue;
    }
    SourceItem item;
    item.id = p.lexically_relative(root).generic_string();
    item.source = p.string();
    item.image_path = p;
    if (!ctx.emit(std::move(item))) return;
  }
}

// Fills id/image/text/metadata defaults shared by both manifest kinds.
Status finish_manifest_item(const fs::path& manifest_dir, std::optional<std::string> image,
                            SourceItem& item) {
  if (!image && !item.text)
    return Status::invalid_argument("row has neither \"image\" nor \"text\"");
  if (image) {
    if (image->empty()) return Status::invalid_argument("\"image\" is empty");
    fs::path p(*image);
    item.image_path = p.is_absolute() ? p : manifest_dir / p;
  }
  if (item.id.empty()) {
    item.id = image ? normalised_path_id(*image) : content_id(item.text, std::nullopt);
  }
  return Status::ok();
}

Status walk_jsonl(const fs::path& manifest, WalkContext& ctx) {
  std::ifstream in(manifest, std::ios::binary);
  if (!in) {
    Status s =
        Status::io_error("cannot open manifest " + manifest.string() + ": " + std::strerror(errno));
    ctx.error(manifest.string(), s);
    return s;
  }
  const fs::path dir = manifest.parent_path();
  std::string line;
  int64_t line_no = 0;
  while (!ctx.stopped && std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::string where = manifest.string() + ":" + std::to_string(line_no);
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      ctx.error(where, Status::invalid_argument(std::string("not valid JSON: ") + e.what()));
      continue;
    }
    if (!row.is_object()) {
      ctx.error(where, Status::invalid_argument("expected a JSON object, got " +
                                                std::string(row.type_name())));
      continue;
    }
    SourceItem item;
    item.source = where;
    std::optional<std::string> image;
    Status s;
    for (auto it = row.begin(); it != row.end() && s.is_ok(); ++it) {
      const std::string& key = it.key();
      const auto& v = it.value();
      if (key == "id") {
        if (v.is_string())
          item.id = v.get<std::string>();
        else if (v.is_number_integer())
          item.id = v.dump();
        else
          s = Status::invalid_argument("\"id\" must be a string or an integer, got " +
                                       std::string(v.type_name()));
        if (s.is_ok() && item.id.empty()) s = Status::invalid_argument("\"id\" is empty");
      } else if (key == "image") {
        if (v.is_string())
          image = v.get<std::string>();
        else if (!v.is_null())
          s = Status::invalid_argument("\"image\" must be a path string, got " +
                                       std::string(v.type_name()));
      } else if (key == "text") {
        if (v.is_string())
          item.text = v.get<std::string>();
        else if (!v.is_null())
          s = Status::invalid_argument("\"text\" must be a string, got " +
                                       std::string(v.type_name()));
      } else if (key == "metadata") {
        if (v.is_object())
          item.metadata = v;
        else if (!v.is_null())
          s = Status::invalid_argument("\"metadata\" must be an object, got " +
                                       std::string(v.type_name()));
      } else {
        s = Status::invalid_argument("unknown field \"" + key +
                                     "\" (expected id, image, text, metadata)");
      }
    }
    if (s.is_ok()) s = finish_manifest_item(dir, image, item);
    if (!s.is_ok()) {
      ctx.error(where, s, item.id.empty() ? std::nullopt : std::optional<std::string>(item.id));
      continue;
    }
    if (!ctx.emit(std::move(item))) break;
  }
  if (in.bad()) {
    Status s = Status::io_error("read error in manifest " + manifest.string());
    ctx.error(manifest.string(), s);
    return s;
  }
  return Status::ok();
}

// A CSV cell as metadata: see the header comment for the typing rules.
nlohmann::json typed_cell(const std::string& cell) {
  if (cell == "true") return true;
  if (cell == "false") return false;
  if (!cell.empty() && !std::isspace(static_cast<unsigned char>(cell.front()))) {
    const char* begin = cell.c_str();
    char* end = nullptr;
    errno = 0;
    long long ll = std::strtoll(begin, &end, 10);
    if (errno == 0 && end == begin + cell.size()) return ll;
    errno = 0;
    double d = std::strtod(begin, &end);
    // strtod also reads "nan", "inf" and hex floats; only plain finite decimals become numbers.
    bool plain = cell.find_first_not_of("0123456789+-.eE") == std::string::npos;
    if (errno == 0 && end == begin + cell.size() && std::isfinite(d) && plain) return d;
  }
  return cell;
}

struct CsvState {
  const fs::path* manifest;
  fs::path dir;
  WalkContext* ctx;
  std::vector<std::string> fields;
  std::vector<std::string> header;
  int image_col = -1, text_col = -1, id_col = -1;
  int64_t record = 0;  // 1 = header
  Status header_error;

  void on_record() {
    ++record;
    if (record == 1) {
      header = fields;
      if (!header.empty() && header[0].rfind("\xEF\xBB\xBF", 0) == 0) header[0].erase(0, 3);
      for (size_t i = 0; i < header.size(); ++i) {
        auto& h = header[i];
        h.erase(0, h.find_first_not_of(" \t"));
        h.erase(h.find_last_not_of(" \t") + 1);
        int* slot = h == "image"  ? &image_col
                    : h == "text" ? &text_col
                    : h == "id"   ? &id_col
                                  : nullptr;
        if (slot) {
          if (*slot >= 0) {
            header_error = Status::invalid_argument("column \"" + h + "\" appears twice");
          }
          *slot = static_cast<int>(i);
        } else if (h.empty()) {
          header_error =
              Status::invalid_argument("column " + std::to_string(i + 1) + " has no name");
        }
      }
      if (header_error.is_ok() && image_col < 0 && text_col < 0)
        header_error = Status::invalid_argument(
            "the header must name an \"image\" or a \"text\" column (got: " +
            nlohmann::json(header).dump() + ")");
      if (!header_error.is_ok()) ctx->stopped = true;
      return;
    }
    std::string where = manifest->string() + ":" + std::to_string(record);
    if (fields.size() != header.size()) {
      ctx->error(where,
                 Status::invalid_argument("row has " + std::to_string(fields.size()) +
                                          " fields, the header " + std::to_string(header.size())));
      return;
    }
    SourceItem item;
    item.source = where;
    std::optional<std::string> image;
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string& cell = fields[i];
      int col = static_cast<int>(i);
      if (col == image_col) {
        if (!cell.empty()) image = cell;
      } else if (col == text_col) {
        if (!cell.empty()) item.text = cell;
      } else if (col == id_col) {
        item.id = cell;
      } else if (!cell.empty()) {
        item.metadata[header[i]] = typed_cell(cell);
      }
    }
    Status s = finish_manifest_item(dir, image, item);
    if (!s.is_ok()) {
      ctx->error(where, s);
      return;
    }
    ctx->emit(std::move(item));
  }
};

void csv_field_cb(void* data, size_t len, void* state) {
  static_cast<CsvState*>(state)->fields.emplace_back(static_cast<const char*>(data), len);
}
void csv_record_cb(int, void* state) {
  auto* st = static_cast<CsvState*>(state);
  if (!st->ctx->stopped) st->on_record();
  st->fields.clear();
}

Status walk_csv(const fs::path& manifest, WalkContext& ctx) {
  std::ifstream in(manifest, std::ios::binary);
  if (!in) {
    Status s =
        Status::io_error("cannot open manifest " + manifest.string() + ": " + std::strerror(errno));
    ctx.error(manifest.string(), s);
    return s;
  }
  csv_parser parser;
  if (csv_init(&parser, CSV_APPEND_NULL) != 0) return Status::internal("csv_init failed");
  CsvState st;
  st.manifest = &manifest;
  st.dir = manifest.parent_path();
  st.ctx = &ctx;
  char buf[1 << 16];
  Status result;
  bool outer_stopped = ctx.stopped;
  while (!ctx.stopped && in) {
    in.read(buf, sizeof buf);
    size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    if (csv_parse(&parser, buf, n, csv_field_cb, csv_record_cb, &st) != n) {
      result = Status::invalid_argument("malformed CSV in " + manifest.string() + " near row " +
                                        std::to_string(st.record + 1) + ": " +
                                        csv_strerror(csv_error(&parser)));
      break;
    }
  }
  if (result.is_ok() && !ctx.stopped) csv_fini(&parser, csv_field_cb, csv_record_cb, &st);
  csv_free(&parser);
  if (result.is_ok() && !st.header_error.is_ok()) {
    result = st.header_error.with_context(manifest.string() + ": header");
    ctx.stopped = outer_stopped;  // a bad header ends this manifest only
  }
  if (result.is_ok() && st.record == 0)
    result = Status::invalid_argument(manifest.string() + ": empty CSV (no header)");
  if (!result.is_ok()) ctx.error(manifest.string(), result);
  return result;
}

int64_t count_lines(const fs::path& file, bool skip_blank) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    if (skip_blank && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++n;
  }
  return n;
}

int64_t count_folder(const fs::path& dir) {
  int64_t n = 0;
  std::error_code ec;
  for (const auto& entry : sorted_children(dir, ec)) {
    std::error_code sec;
    if (entry.is_directory(sec)) {
      if (!entry.is_symlink(sec)) n += count_folder(entry.path());
    } else if (entry.is_regular_file(sec)) {
      ++n;
    }
  }
  return n;
}

}  // namespace

std::string content_id(const std::optional<std::string>& text,
                       const std::optional<std::string>& image_bytes) {
  Sha256 h;
  h.update_field(text);
  h.update_field(image_bytes);
  return h.hex_digest().substr(0, 32);
}

Result<std::string> read_file_bytes(const std::filesystem::path& path, uint64_t max_bytes) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    if (!std::filesystem::exists(path))
      return Status::not_found("image file " + path.string() + " does not exist");
    return Status::io_error("cannot read " + path.string() + ": " + ec.message());
  }
  if (size > max_bytes)
    return Status::resource_exhausted(path.string() + " is " + std::to_string(size) +
                                      " bytes; the limit is " + std::to_string(max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot open " + path.string());
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in.gcount()) != size)
    return Status::io_error("short read from " + path.string());
  return bytes;
}

bool looks_like_image(const uint8_t* data, size_t size) {
  return !encoder::sniff_image_format(data, size).empty();
}

bool has_image_extension(const fs::path& path) {
  static const char* kExts[] = {".jpg", ".jpeg", ".png", ".webp", ".bmp",
                                ".tif", ".tiff", ".gif", ".jpe",  ".jfif"};
  auto ext = lower(path.extension().string());
  return std::any_of(std::begin(kExts), std::end(kExts), [&](const char* e) { return ext == e; });
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c >> 5) == 0x6) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c >> 4) == 0xe) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c >> 3) == 0x1e) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

Status validate_document_id(const std::string& id) {
  if (id.empty()) return Status::invalid_argument("the id is empty");
  if (id.size() > kMaxExternalIdBytes)
    return Status::invalid_argument("id is " + std::to_string(id.size()) + " bytes; at most " +
                                    std::to_string(kMaxExternalIdBytes) + " are allowed");
  if (!is_valid_utf8(id)) return Status::invalid_argument("the id is not valid UTF-8");
  // Ids travel in URL paths (GET/DELETE .../documents/{id}, image URLs): control characters
  // end the request line or are refused by HTTP parsers, and "." / ".." are path steps that
  // clients normalise away, so such documents could never be addressed.
  for (size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    const bool c1 = c == 0xC2 && i + 1 < id.size() &&
                    static_cast<unsigned char>(id[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(id[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      return Status::invalid_argument("the id contains a control character (byte " +
                                      std::to_string(i) + "); ids must be addressable in URLs");
    }
  }
  if (id == "." || id == "..")
    return Status::invalid_argument("the id '" + id +
                                    "' is a path step; ids must be addressable "
                                    "in URLs");
  return Status::ok();
}

Result<SourceWalker> SourceWalker::create(std::vector<fs::path> sources) {
  if (sources.empty()) return Status::invalid_argument("no source given");
  for (const auto& s : sources) {
    std::error_code ec;
    auto st = fs::status(s, ec);
    if (ec || !fs::exists(st))
      return Status::not_found("source '" + s.string() + "' does not exist");
    if (!fs::is_directory(st) && !fs::is_regular_file(st))
      return Status::invalid_argument("source '" + s.string() +
                                      "' is neither a folder nor a regular file");
  }
  return SourceWalker(std::move(sources));
}

int64_t SourceWalker::count_candidates() const {
  int64_t n = 0;
  for (const auto& s : sources_) {
    switch (kind_of(s)) {
      case SourceKind::kFolder: n += count_folder(s); break;
      case SourceKind::kJsonl: n += count_lines(s, true); break;
      case SourceKind::kCsv: n += std::max<int64_t>(0, count_lines(s, true) - 1); break;
      case SourceKind::kImageFile: n += 1; break;
    }
  }
  return n;
}

Status SourceWalker::walk(const std::function<bool(SourceItem&&)>& on_item,
                          const std::function<void(SourceError&&)>& on_error,
                          const std::function<void(const fs::path&)>& on_skip) const {
  WalkContext ctx{on_item, on_error, on_skip, {}, false};
  Status first;
  for (const auto& s : sources_) {
    if (ctx.stopped) break;
    Status st;
    switch (kind_of(s)) {
      case SourceKind::kFolder: walk_folder(s, s, ctx); break;
      case SourceKind::kJsonl: st = walk_jsonl(s, ctx); break;
      case SourceKind::kCsv: st = walk_csv(s, ctx); break;
      case SourceKind::kImageFile: {
        SourceItem item;
        item.id = s.filename().string();
        item.source = s.string();
        item.image_path = s;
        ctx.emit(std::move(item));
        break;
      }
    }
    if (first.is_ok() && !st.is_ok()) first = st;
  }
  return first;
}

}  // namespace vista::engine

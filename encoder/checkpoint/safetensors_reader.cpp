// safetensors reading: an 8-byte little-endian header length, a JSON header, then the raw
// little-endian tensor bytes. The file is memory-mapped and tensors point into the mapping.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "encoder/checkpoint/checkpoint.h"
#include "encoder/checkpoint/file_probe.h"

namespace vista::encoder {
namespace {

// The reference implementation refuses headers above 100 MB; so do we (a damaged length field
// must not make us parse garbage for minutes).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

class Mapping {
 public:
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  ~Mapping() { munmap(addr_, size_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }
  uint8_t* mutable_data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }

 private:
  void* addr_;
  size_t size_;
};

Result<std::shared_ptr<Mapping>> map_file(const std::filesystem::path& file, uint64_t size) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io_error(file.string() + ": cannot open: " + std::strerror(errno));
  // Private and writable: pages stay shared with the page cache until someone writes, and a
  // stray in-place write copies the page instead of faulting or touching the file.
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int mmap_errno = errno;
  ::close(fd);
  if (addr == MAP_FAILED) {
    return Status::io_error(file.string() + ": mmap failed: " + std::strerror(mmap_errno));
  }
  // The model loader reads every byte right after loading; start the reads now.
  ::madvise(addr, size, MADV_WILLNEED);
  return std::make_shared<Mapping>(addr, size);
}

std::optional<torch::ScalarType> safetensors_dtype(const std::string& name) {
  static const std::pair<const char*, torch::ScalarType> kTypes[] = {
      {"F32", torch::kFloat32},   {"F64", torch::kFloat64}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
      {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
      {"BOOL", torch::kBool},
  };
  for (const auto& [n, t] : kTypes) {
    if (name == n) return t;
  }
  return std::nullopt;
}

struct Entry {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

Result<uint64_t> non_negative(const nlohmann::ordered_json& j, const std::string& what) {
  if (!j.is_number_integer() || (!j.is_number_unsigned() && j.get<int64_t>() < 0)) {
    return Status::corruption(what + " is not a non-negative integer");
  }
  const uint64_t v = j.get<uint64_t>();
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Status::corruption(what + " is out of range");
  }
  return v;
}

Result<Entry> parse_entry(const std::string& name, const nlohmann::ordered_json& j,
                          uint64_t data_size) {
  const std::string where = "tensor '" + name + "'";
  if (!j.is_object()) return Status::corruption(where + ": header entry is not an object");
  for (const auto& [key, _] : j.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return Status::corruption(where + ": unknown header field '" + key + "'");
    }
  }
  if (!j.contains("dtype") || !j["dtype"].is_string()) {
    return Status::corruption(where + ": dtype missing or not a string");
  }
  Entry e;
  e.name = name;
  const std::string dtype = j["dtype"].get<std::string>();
  auto t = safetensors_dtype(dtype);
  if (!t) {
    return Status::unsupported(where + ": unsupported dtype \"" + dtype +
                               "\" (supported: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
  }
  e.dtype = *t;

  if (!j.contains("shape") || !j["shape"].is_array()) {
    return Status::corruption(where + ": shape missing or not an array");
  }
  uint64_t numel = 1;
  for (const auto& d : j["shape"]) {
    VISTA_ASSIGN_OR_RETURN(uint64_t dim, non_negative(d, where + ": shape entry"));
    if (__builtin_mul_overflow(numel, dim, &numel)) {
      return Status::corruption(where + ": shape overflows");
    }
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  if (!j.contains("data_offsets") || !j["data_offsets"].is_array() ||
      j["data_offsets"].size() != 2) {
    return Status::corruption(where + ": data_offsets missing or not [begin, end]");
  }
  VISTA_ASSIGN_OR_RETURN(e.begin, non_negative(j["data_offsets"][0], where + ": data offset"));
  VISTA_ASSIGN_OR_RETURN(e.end, non_negative(j["data_offsets"][1], where + ": data offset"));
  if (e.begin > e.end || e.end > data_size) {
    return Status::corruption(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                              std::to_string(e.end) + "] outside the " + std::to_string(data_size) +
                              "-byte data section");
  }
  uint64_t nbytes;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(c10::elementSize(e.dtype)), &nbytes) ||
      nbytes != e.end - e.begin) {
    return Status::corruption(where + ": shape and dtype need " + std::to_string(numel) + " x " +
                              std::to_string(c10::elementSize(e.dtype)) +
                              " bytes, data_offsets span " + std::to_string(e.end - e.begin));
  }
  return e;
}

Result<Checkpoint> read_mapped(const std::filesystem::path& file, uint64_t file_size) {
  if (file_size < 8) {
    return Status::corruption(file.string() + ": " + std::to_string(file_size) +
                              " bytes is too short for a safetensors file");
  }
  VISTA_ASSIGN_OR_RETURN(auto mapping, map_file(file, file_size));
  const uint8_t* base = mapping->data();
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(base[i]) << (8 * i);
  if (header_size > file_size - 8 || header_size > kMaxHeaderBytes) {
    return Status::corruption(file.string() + ": safetensors header length " +
                              std::to_string(header_size) + " exceeds the file (" +
                              std::to_string(file_size) + " bytes) or the 100 MB limit");
  }
  if (header_size < 2 || base[8] != '{') {
    return Status::corruption(file.string() + ": safetensors header is not a JSON object");
  }

  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(base + 8, base + 8 + header_size);
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(file.string() + ": malformed safetensors header: " + e.what());
  }
  if (!header.is_object()) {
    return Status::corruption(file.string() + ": safetensors header is not a JSON object");
  }

  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      bool strings = value.is_object();
      if (strings) {
        for (const auto& [k, v] : value.items()) strings = strings && v.is_string();
      }
      if (!strings) {
        return Status::corruption(file.string() + ": __metadata__ is not a map of strings");
      }
      continue;
    }
    auto entry = parse_entry(name, value, data_size);
    if (!entry.is_ok()) return entry.status().with_context(file.string());
    entries.push_back(std::move(entry).value());
  }

  // As the reference reader demands: the tensors tile the data section, no gaps, no overlaps.
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  for (const Entry* e : by_offset) {
    if (e->begin != cursor) {
      return Status::corruption(file.string() + ": tensor '" + e->name + "' starts at byte " +
                                std::to_string(e->begin) + " of the data section, expected " +
                                std::to_string(cursor) + " (overlap or gap)");
    }
    cursor = e->end;
  }
  if (cursor != data_size) {
    return Status::corruption(file.string() + ": tensors cover " + std::to_string(cursor) +
                              " bytes but the data section holds " + std::to_string(data_size));
  }

  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  tensors.reserve(entries.size());
  for (const auto& e : entries) {
    uint8_t* ptr = mapping->mutable_data() + data_start + e.begin;
    auto options = torch::TensorOptions().dtype(e.dtype);
    torch::Tensor t;
    if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(e.dtype) == 0) {
      t = torch::from_blob(
          ptr, e.shape, [mapping](void*) {}, options);
    } else {
      // Writers keep tensors aligned; a file that does not gets a private, aligned copy.
      t = torch::empty(e.shape, options);
      std::memcpy(t.data_ptr(), ptr, e.end - e.begin);
    }
    tensors.emplace_back(e.name, std::move(t));
  }
  return Checkpoint::from_tensors("safetensors", std::move(tensors));
}

}  // namespace

Result<Checkpoint> read_safetensors(const std::filesystem::path& file) {
  VISTA_ASSIGN_OR_RETURN(auto probe, detail::probe_file(file));
  try {
    return read_mapped(file, probe.size);
  } catch (const c10::Error& e) {
    return Status::corruption(file.string() + ": " + e.what_without_backtrace());
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(file.string() + ": malformed safetensors header: " + e.what());
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted(file.string() + ": out of memory");
  }
}

}  // namespace vista::encoder

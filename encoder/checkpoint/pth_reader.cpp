// .pth (torch.save zip archive) reading: the zip via libtorch's PyTorchStreamReader, the pickle via
// our own strict interpreter (pickle_reader.h).
#include <caffe2/serialize/inline_container.h>

#include <memory>
#include <string>

#include "encoder/checkpoint/checkpoint.h"
#include "encoder/checkpoint/file_probe.h"
#include "encoder/checkpoint/pickle_reader.h"

namespace vista::encoder {
namespace {

// c10::Error messages carry a C++ backtrace after the first line; users need only the first line.
std::string first_line(const char* what) {
  std::string s(what);
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

Result<Checkpoint> read_pth_archive(const std::filesystem::path& file) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
  } catch (const c10::Error& e) {
    return Status::corruption(file.string() +
                              ": not a readable torch.save zip archive (truncated or damaged?): " +
                              first_line(e.what_without_backtrace()));
  }

  if (zip->hasRecord("byteorder")) {
    auto [data, size] = zip->getRecord("byteorder");
    std::string order(static_cast<const char*>(data.get()), size);
    if (order != "little") {
      return Status::unsupported(file.string() + ": storages are stored '" + order +
                                 "'-endian; only little-endian is read");
    }
  }
  if (!zip->hasRecord("data.pkl")) {
    return Status::corruption(file.string() +
                              ": the archive has no data.pkl record (not a torch.save file)");
  }
  auto [pickle_data, pickle_size] = zip->getRecord("data.pkl");
  std::string_view pickle(static_cast<const char*>(pickle_data.get()), pickle_size);

  // One read per storage record; the record's buffer becomes the storage, uncopied, and the
  // interpreter shares it between all views of that key.
  StorageLoader load = [&zip](const std::string& key, torch::ScalarType dtype,
                              int64_t numel) -> Result<c10::Storage> {
    const std::string record = "data/" + key;
    if (!zip->hasRecord(record)) return Status::corruption("storage record " + record + " missing");
    auto [data, size] = zip->getRecord(record);
    const uint64_t item = c10::elementSize(dtype);
    uint64_t expected;
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel), item, &expected)) {
      return Status::corruption("storage " + record + " numel overflows");
    }
    if (size != expected) {
      return Status::corruption("storage " + record + " holds " + std::to_string(size) +
                                " bytes, its persistent id declares " + std::to_string(numel) +
                                " x " + std::to_string(item) + " = " + std::to_string(expected) +
                                (size < expected ? " (storage too short)" : ""));
    }
    return c10::Storage(c10::Storage::use_byte_size_t(), size, std::move(data),
                        /*allocator=*/nullptr, /*resizable=*/false);
  };

  auto tensors = unpickle_state_dict(pickle, load);
  if (!tensors.is_ok()) return tensors.status().with_context(file.string());
  return Checkpoint::from_tensors("pth", std::move(tensors).value());
}

}  // namespace

Result<Checkpoint> read_pth(const std::filesystem::path& file) {
  VISTA_ASSIGN_OR_RETURN(auto probe, detail::probe_file(file));
  (void)probe;
  // Reads of records (CRC mismatch, short reads) throw c10::Error too; all of them mean a damaged
  // archive.
  try {
    return read_pth_archive(file);
  } catch (const c10::Error& e) {
    return Status::corruption(file.string() +
                              ": damaged archive: " + first_line(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted(file.string() + ": out of memory while reading storages");
  } catch (const std::exception& e) {
    return Status::corruption(file.string() + ": " + first_line(e.what()));
  }
}

}  // namespace vista::encoder

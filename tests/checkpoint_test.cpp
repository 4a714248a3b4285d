// Reading weights files: the golden tiny model in both formats, hand-built .pth archives (written
// with libtorch's own zip writer around pickle bytes assembled here) and hand-built safetensors.
#include <caffe2/serialize/inline_container.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "encoder/checkpoint/checkpoint.h"
#include "tests/test_support.h"

namespace vista::encoder {
namespace {

using ::testing::HasSubstr;

std::filesystem::path tiny_pth() {
  return vista::testing::golden_dir() / "tiny-model" / "Visualized_tiny.pth";
}
std::filesystem::path tiny_safetensors() {
  return vista::testing::golden_dir() / "tiny-model" / "model.safetensors";
}

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

// Assembles protocol-2 pickle bytes opcode by opcode.
struct Pickle {
  std::string b;
  Pickle& raw(const std::string& s) {
    b += s;
    return *this;
  }
  Pickle& proto() { return raw("\x80\x02"); }
  Pickle& global(const std::string& m, const std::string& n) {
    return raw("c" + m + "\n" + n + "\n");
  }
  Pickle& mark() { return raw("("); }
  Pickle& str(const std::string& s) { return raw("X" + le(s.size(), 4) + s); }
  Pickle& int1(uint8_t v) { return raw("K" + le(v, 1)); }
  Pickle& int4(int32_t v) { return raw("J" + le(static_cast<uint32_t>(v), 4)); }
  Pickle& long1(int64_t v) { return raw("\x8a\x08" + le(static_cast<uint64_t>(v), 8)); }
  Pickle& ints(const std::vector<int64_t>& v) {
    mark();
    for (auto i : v) long1(i);
    return raw("t");
  }
  Pickle& empty_tuple() { return raw(")"); }
  Pickle& reduce() { return raw("R"); }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").empty_tuple().reduce(); }
  // _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False,
  // OrderedDict())
  Pickle& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
                 const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    mark().str("storage").global("torch", type).str(key).str("cpu").long1(numel).raw("t").raw("Q");
    long1(offset).ints(size).ints(stride).raw("\x89");
    ordered_dict();
    return raw("t").reduce();
  }
  Pickle& stop() { return raw("."); }
};

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// Writes a torch.save-style archive: data.pkl plus the given data/<key> records.
void write_pth(const std::filesystem::path& path, const std::string& pickle,
               const std::map<std::string, std::string>& storages = {}) {
  caffe2::serialize::PyTorchStreamWriter writer(path.string());
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [key, bytes] : storages) {
    writer.writeRecord("data/" + key, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
}

// A safetensors file from a header and data section, as given.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le(header.size(), 8) + header + data;
}

class CheckpointTest : public ::testing::Test {
 protected:
  std::filesystem::path file(const std::string& name) { return dir_.path() / name; }
  vista::testing::TempDir dir_;
};

// --- the golden tiny model -------------------------------------------------------------------

TEST_F(CheckpointTest, TinyModelBothFormatsHoldTheSameTensors) {
  VISTA_REQUIRE_GOLDEN();
  auto pth = read_checkpoint(tiny_pth());
  ASSERT_TRUE(pth.is_ok()) << pth.status();
  auto st = read_checkpoint(tiny_safetensors());
  ASSERT_TRUE(st.is_ok()) << st.status();
  EXPECT_EQ(pth->format(), "pth");
  EXPECT_EQ(st->format(), "safetensors");

  ASSERT_EQ(pth->size(), 98u);
  ASSERT_EQ(st->size(), 98u);
  for (const auto& [name, tensor] : pth->tensors()) {
    const torch::Tensor* other = st->find(name);
    ASSERT_NE(other, nullptr) << name;
    EXPECT_EQ(tensor.sizes(), other->sizes()) << name;
    EXPECT_EQ(tensor.scalar_type(), other->scalar_type()) << name;
    EXPECT_EQ(tensor.scalar_type(), torch::kFloat32) << name;
    EXPECT_TRUE(tensor.device().is_cpu()) << name;
    EXPECT_TRUE(torch::equal(tensor, *other)) << name;
  }
  EXPECT_EQ(pth->parameter_count(), 3583969);
  EXPECT_EQ(st->parameter_count(), 3583969);
  EXPECT_EQ(pth->find("bge_embeddings.position_ids"), nullptr);
  EXPECT_EQ(pth->find("no.such.key"), nullptr);

  // Sanity of the values themselves: trained LayerNorm weights are not all zero or NaN.
  const torch::Tensor* word = pth->find("bge_embeddings.word_embeddings.weight");
  ASSERT_NE(word, nullptr);
  EXPECT_EQ(word->sizes(), (std::vector<int64_t>{30522, 96}));
  EXPECT_TRUE(torch::isfinite(*word).all().item<bool>());
  EXPECT_GT(word->abs().sum().item<double>(), 0.0);
}

TEST_F(CheckpointTest, TinyModelKeepsFileOrder) {
  VISTA_REQUIRE_GOLDEN();
  auto pth = read_pth(tiny_pth());
  ASSERT_TRUE(pth.is_ok()) << pth.status();
  auto st = read_safetensors(tiny_safetensors());
  ASSERT_TRUE(st.is_ok()) << st.status();
  // torch.save keeps the module's registration order; the safetensors header is sorted by name.
  EXPECT_EQ(pth->tensors().front().first, "bge_encoder.layer.0.attention.self.query.weight");
  EXPECT_EQ(st->tensors().front().first, "bge_embeddings.LayerNorm.bias");
  EXPECT_EQ(st->tensors().back().first, "visual_proj.weight");
}

TEST_F(CheckpointTest, TinyModelPthSharesRepeatedRopeStorages) {
  VISTA_REQUIRE_GOLDEN();
  auto pth = read_pth(tiny_pth());
  ASSERT_TRUE(pth.is_ok()) << pth.status();
  const torch::Tensor* top = pth->find("model_visual.visual.rope.freqs_cos");
  const torch::Tensor* block = pth->find("model_visual.visual.blocks.1.attn.rope.freqs_cos");
  const torch::Tensor* sin = pth->find("model_visual.visual.rope.freqs_sin");
  ASSERT_TRUE(top && block && sin);
  EXPECT_TRUE(top->is_alias_of(*block));
  EXPECT_FALSE(top->is_alias_of(*sin));
  EXPECT_EQ(top->sizes(), (std::vector<int64_t>{196, 32}));
}

TEST_F(CheckpointTest, TensorsOutliveTheCheckpoint) {
  VISTA_REQUIRE_GOLDEN();
  torch::Tensor from_st, from_pth;
  {
    auto st = read_safetensors(tiny_safetensors());
    ASSERT_TRUE(st.is_ok()) << st.status();
    from_st = *st->find("visual_proj.weight");
    auto pth = read_pth(tiny_pth());
    ASSERT_TRUE(pth.is_ok()) << pth.status();
    from_pth = *pth->find("visual_proj.weight");
  }
  EXPECT_TRUE(torch::equal(from_st, from_pth));
}

TEST_F(CheckpointTest, DetectsFormatByContentNotName) {
  VISTA_REQUIRE_GOLDEN();
  auto renamed = file("weights.bin");
  std::filesystem::copy_file(tiny_safetensors(), renamed);
  auto ckpt = read_checkpoint(renamed);
  ASSERT_TRUE(ckpt.is_ok()) << ckpt.status();
  EXPECT_EQ(ckpt->format(), "safetensors");
  // The explicit readers refuse the other format.
  EXPECT_FALSE(read_pth(tiny_safetensors()).is_ok());
  EXPECT_FALSE(read_safetensors(tiny_pth()).is_ok());
}

// --- hand-built .pth -------------------------------------------------------------------------

TEST_F(CheckpointTest, PthViewsHonourOffsetAndStride) {
  Pickle p;
  p.proto().ordered_dict().mark();
  // 'full': the whole 2x3 storage; 'view': a transposed 2x2 window starting at element 1.
  p.str("full").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.str("view").tensor("FloatStorage", "0", 6, 1, {2, 2}, {1, 3});
  p.str("ids").tensor("LongStorage", "1", 2, 0, {2}, {1});
  p.str("half").tensor("HalfStorage", "2", 1, 0, {}, {});
  p.raw("u");
  // torch.save's trailing `_metadata` attribute.
  p.raw("}").str("_metadata").ordered_dict().raw("sb").stop();
  const int64_t ids[] = {-7, 5000000000};
  const uint16_t half_one = 0x3C00;
  write_pth(file("views.pth"), p.b,
            {{"0", floats({0, 1, 2, 3, 4, 5})},
             {"1", std::string(reinterpret_cast<const char*>(ids), sizeof(ids))},
             {"2", std::string(reinterpret_cast<const char*>(&half_one), 2)}});

  auto ckpt = read_checkpoint(file("views.pth"));
  ASSERT_TRUE(ckpt.is_ok()) << ckpt.status();
  ASSERT_EQ(ckpt->size(), 4u);
  EXPECT_EQ(ckpt->tensors()[0].first, "full");
  EXPECT_EQ(ckpt->tensors()[1].first, "view");
  const auto& full = *ckpt->find("full");
  const auto& view = *ckpt->find("view");
  EXPECT_TRUE(full.is_alias_of(view));
  EXPECT_FALSE(view.is_contiguous());
  EXPECT_TRUE(torch::equal(view, torch::tensor({{1.f, 4.f}, {2.f, 5.f}})));
  EXPECT_TRUE(torch::equal(*ckpt->find("ids"), torch::tensor({int64_t{-7}, int64_t{5000000000}})));
  const auto& half = *ckpt->find("half");
  EXPECT_EQ(half.scalar_type(), torch::kFloat16);
  EXPECT_EQ(half.dim(), 0);
  EXPECT_EQ(half.item<float>(), 1.0f);
  EXPECT_EQ(ckpt->parameter_count(), 6 + 4 + 2 + 1);
}

TEST_F(CheckpointTest, PthRepeatedKeyKeepsFirstPositionAndLastValue) {
  Pickle p;
  p.proto().raw("}").mark();  // a plain dict works as well as an OrderedDict
  p.str("a").tensor("FloatStorage", "0", 2, 0, {1}, {1});
  p.str("b").tensor("FloatStorage", "0", 2, 0, {1}, {1});
  p.str("a").tensor("FloatStorage", "0", 2, 1, {1}, {1});
  p.raw("u").stop();
  write_pth(file("dup.pth"), p.b, {{"0", floats({10, 20})}});
  auto ckpt = read_pth(file("dup.pth"));
  ASSERT_TRUE(ckpt.is_ok()) << ckpt.status();
  ASSERT_EQ(ckpt->size(), 2u);
  EXPECT_EQ(ckpt->tensors()[0].first, "a");
  EXPECT_EQ(ckpt->find("a")->item<float>(), 20.f);
}

TEST_F(CheckpointTest, RejectsEmptyFile) {
  write_bytes(file("empty.pth"), "");
  for (auto* reader : {&read_checkpoint, &read_pth, &read_safetensors}) {
    auto r = (*reader)(file("empty.pth"));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    EXPECT_THAT(r.status().message(), HasSubstr("empty"));
  }
}

TEST_F(CheckpointTest, RejectsMissingFile) {
  auto r = read_checkpoint(file("absent.pth"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("absent.pth"));
}

TEST_F(CheckpointTest, RejectsTruncatedZip) {
  VISTA_REQUIRE_GOLDEN();
  const std::string bytes = read_bytes(tiny_pth());
  for (size_t keep : {size_t{100}, bytes.size() / 2, bytes.size() - 10}) {
    write_bytes(file("cut.pth"), bytes.substr(0, keep));
    auto r = read_checkpoint(file("cut.pth"));
    ASSERT_FALSE(r.is_ok()) << keep;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("cut.pth"));
  }
}

// libtorch's zip reader is built without CRC checks (as torch.load is), so damage is caught where
// the structure breaks: here the end-of-central-directory record.
TEST_F(CheckpointTest, RejectsDamagedZipDirectory) {
  VISTA_REQUIRE_GOLDEN();
  std::string bytes = read_bytes(tiny_pth());
  const size_t eocd = bytes.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(eocd, std::string::npos);
  bytes[eocd + 2] = 'X';
  write_bytes(file("damaged.pth"), bytes);
  auto r = read_checkpoint(file("damaged.pth"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("damaged.pth"));
}

TEST_F(CheckpointTest, RejectsUnknownFormats) {
  write_bytes(file("notes.txt"), "these are not weights, just some text\n");
  auto r = read_checkpoint(file("notes.txt"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr("neither"));

  auto as_pth = read_pth(file("notes.txt"));
  ASSERT_FALSE(as_pth.is_ok());
  EXPECT_EQ(as_pth.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(as_pth.status().message(), HasSubstr("zip"));

  // A pre-1.6 torch.save stream starts with PROTO 2 and a magic number.
  write_bytes(file("legacy.pt"),
              std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14));
  auto legacy = read_checkpoint(file("legacy.pt"));
  ASSERT_FALSE(legacy.is_ok());
  EXPECT_EQ(legacy.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(legacy.status().message(), HasSubstr("legacy"));
}

TEST_F(CheckpointTest, RejectsUnsupportedPickleOpcode) {
  Pickle p;
  p.proto().ordered_dict().mark().str("x").raw("G" + std::string(8, '\0'));  // BINFLOAT at 36
  p.raw("u").stop();
  write_pth(file("float.pth"), p.b);
  auto r = read_checkpoint(file("float.pth"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("BINFLOAT"));
  EXPECT_THAT(r.status().message(), HasSubstr("byte 36"));
  EXPECT_THAT(r.status().message(), HasSubstr("float.pth"));
}

TEST_F(CheckpointTest, RejectsUnsupportedGlobalWithoutRunningIt) {
  const std::filesystem::path marker = file("ran");
  Pickle p;
  p.proto().global("os", "system").mark().str("touch " + marker.string()).raw("tR").stop();
  write_pth(file("evil.pth"), p.b);
  auto r = read_pth(file("evil.pth"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("'os.system'"));
  EXPECT_THAT(r.status().message(), HasSubstr("byte 2"));
  EXPECT_FALSE(std::filesystem::exists(marker));

  // Also a torch global outside the allow-list.
  Pickle q;
  q.proto().global("torch._utils", "_rebuild_parameter").stop();
  write_pth(file("param.pth"), q.b);
  auto r2 = read_pth(file("param.pth"));
  ASSERT_FALSE(r2.is_ok());
  EXPECT_THAT(r2.status().message(), HasSubstr("torch._utils._rebuild_parameter"));
}

TEST_F(CheckpointTest, RejectsUnsupportedStorageDtype) {
  Pickle p;
  p.proto().ordered_dict().mark();
  p.str("c").tensor("ComplexFloatStorage", "0", 1, 0, {1}, {1});
  p.raw("u").stop();
  write_pth(file("complex.pth"), p.b, {{"0", std::string(8, '\0')}});
  auto r = read_pth(file("complex.pth"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("dtype"));
  EXPECT_THAT(r.status().message(), HasSubstr("ComplexFloatStorage"));
}

TEST_F(CheckpointTest, RejectsViewPastTheEndOfItsStorage) {
  Pickle p;
  p.proto().ordered_dict().mark();
  p.str("w").tensor("FloatStorage", "0", 4, 0, {3, 3}, {3, 1});
  p.raw("u").stop();
  write_pth(file("short_view.pth"), p.b, {{"0", floats({1, 2, 3, 4})}});
  auto r = read_pth(file("short_view.pth"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr("storage too short"));

  // An offset that pushes an otherwise fitting view out of the storage.
  Pickle q;
  q.proto().ordered_dict().mark();
  q.str("w").tensor("FloatStorage", "0", 4, 1, {4}, {1});
  q.raw("u").stop();
  write_pth(file("offset.pth"), q.b, {{"0", floats({1, 2, 3, 4})}});
  auto r2 = read_pth(file("offset.pth"));
  ASSERT_FALSE(r2.is_ok());
  EXPECT_THAT(r2.status().message(), HasSubstr("storage too short"));
}

TEST_F(CheckpointTest, RejectsStorageRecordShorterThanDeclared) {
  Pickle p;
  p.proto().ordered_dict().mark();
  p.str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  p.raw("u").stop();
  write_pth(file("short_record.pth"), p.b, {{"0", floats({1, 2})}});
  auto r = read_pth(file("short_record.pth"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr("data/0"));
  EXPECT_THAT(r.status().message(), HasSubstr("storage too short"));

  write_pth(file("no_record.pth"), p.b);
  auto missing = read_pth(file("no_record.pth"));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("data/0 missing"));
}

TEST_F(CheckpointTest, RejectsMalformedPickles) {
  struct Case {
    std::string pickle;
    std::string expect;
  };
  const Case cases[] = {
      {Pickle().proto().ordered_dict().b, "before STOP"},
      {Pickle().proto().raw("s").stop().b, "stack underflow"},
      {Pickle().proto().raw("h\x05").stop().b, "memo slot 5"},
      {Pickle().proto().raw("X" + le(0xffff, 4) + "ab").b, "past the end"},
      {Pickle().proto().mark().int1(1).raw("u").stop().b, "odd number"},
      {Pickle().proto().int1(3).stop().b, "not a state dict"},
      {Pickle().proto().ordered_dict().str("k").int1(3).raw("s").stop().b, "not a tensor"},
  };
  for (const auto& c : cases) {
    write_pth(file("bad.pth"), c.pickle);
    auto r = read_pth(file("bad.pth"));
    ASSERT_FALSE(r.is_ok()) << c.expect;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expect));
  }
}

// Damage anywhere in the pickle gives an error or a (different) valid result, never a crash.
TEST_F(CheckpointTest, RandomlyDamagedPicklesNeverCrash) {
  Pickle p;
  p.proto().ordered_dict().raw("q\x01").mark();
  p.str("full").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.str("view").tensor("FloatStorage", "0", 6, 1, {2, 2}, {1, 3});
  p.raw("u").raw("}").str("_metadata").ordered_dict().raw("sb").stop();
  const std::map<std::string, std::string> storages = {{"0", floats({0, 1, 2, 3, 4, 5})}};
  std::mt19937 rng(1234);
  int failures = 0;
  for (int i = 0; i < 300; ++i) {
    std::string damaged = p.b;
    const size_t at = rng() % damaged.size();
    switch (rng() % 3) {
      case 0: damaged[at] = static_cast<char>(rng()); break;
      case 1: damaged.resize(at); break;
      default: damaged.insert(at, 1, static_cast<char>(rng())); break;
    }
    write_pth(file("fuzz.pth"), damaged, storages);
    auto r = read_pth(file("fuzz.pth"));
    if (!r.is_ok()) {
      ++failures;
      EXPECT_FALSE(r.status().message().empty());
      EXPECT_NE(r.status().code(), StatusCode::kInternal) << r.status();
    }
  }
  EXPECT_GT(failures, 200);  // most damage must be noticed
}

TEST_F(CheckpointTest, RandomlyDamagedSafetensorsHeadersNeverCrash) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}})";
  const std::string good = safetensors_bytes(header, floats({1, 2, 3, 4, 5}));
  write_bytes(file("good.safetensors"), good);
  auto intact = read_checkpoint(file("good.safetensors"));
  ASSERT_TRUE(intact.is_ok()) << intact.status();
  ASSERT_EQ(intact->parameter_count(), 6);
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    std::string damaged = good;
    const size_t at = rng() % (8 + header.size());
    damaged[at] = static_cast<char>(rng() % 2 ? rng() : "0123456789[]{},:\"-"[rng() % 17]);
    write_bytes(file("fuzz.safetensors"), damaged);
    auto r = read_checkpoint(file("fuzz.safetensors"));
    if (r.is_ok()) {
      EXPECT_LE(r->parameter_count(), 20);  // never more elements than the 20 data bytes
    } else {
      EXPECT_NE(r.status().code(), StatusCode::kInternal) << r.status();
    }
  }
}

// --- hand-built safetensors ------------------------------------------------------------------

TEST_F(CheckpointTest, SafetensorsReadsValuesAndDtypes) {
  std::string data = floats({1.5f, -2.f, 3.f, 4.f});
  const int64_t ids[] = {7, -1};
  data += std::string(reinterpret_cast<const char*>(ids), sizeof(ids));
  data += std::string("\x01\x00\x01", 3);
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("ids":{"dtype":"I64","shape":[2],"data_offsets":[16,32]},)"
                             R"("mask":{"dtype":"BOOL","shape":[3],"data_offsets":[32,35]},)"
                             R"("none":{"dtype":"F32","shape":[0],"data_offsets":[35,35]}})";
  write_bytes(file("small.safetensors"), safetensors_bytes(header, data));
  auto ckpt = read_checkpoint(file("small.safetensors"));
  ASSERT_TRUE(ckpt.is_ok()) << ckpt.status();
  ASSERT_EQ(ckpt->size(), 4u);
  EXPECT_EQ(ckpt->tensors()[0].first, "w");  // header order, not sorted
  EXPECT_EQ(ckpt->tensors()[1].first, "ids");
  EXPECT_TRUE(torch::equal(*ckpt->find("w"), torch::tensor({{1.5f, -2.f}, {3.f, 4.f}})));
  EXPECT_TRUE(torch::equal(*ckpt->find("ids"), torch::tensor({int64_t{7}, int64_t{-1}})));
  EXPECT_TRUE(torch::equal(*ckpt->find("mask"), torch::tensor({true, false, true})));
  EXPECT_EQ(ckpt->find("none")->numel(), 0);
  EXPECT_EQ(ckpt->parameter_count(), 4 + 2 + 3);
}

TEST_F(CheckpointTest, SafetensorsWritesDoNotReachTheFile) {
  const std::string bytes = safetensors_bytes(
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({1, 2}));
  write_bytes(file("w.safetensors"), bytes);
  auto ckpt = read_safetensors(file("w.safetensors"));
  ASSERT_TRUE(ckpt.is_ok()) << ckpt.status();
  torch::Tensor w = *ckpt->find("w");
  w.mul_(10);  // against the contract, but it must neither crash nor change the file
  EXPECT_EQ(read_bytes(file("w.safetensors")), bytes);
}

TEST_F(CheckpointTest, RejectsUnsupportedSafetensorsDtype) {
  write_bytes(
      file("f8.safetensors"),
      safetensors_bytes(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "ab"));
  auto r = read_checkpoint(file("f8.safetensors"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("F8_E4M3"));
  EXPECT_THAT(r.status().message(), HasSubstr("'w'"));
}

TEST_F(CheckpointTest, RejectsMalformedSafetensorsHeaders) {
  const std::string ok_data = floats({1, 2});
  struct Case {
    std::string bytes;
    std::string expect;
  };
  const Case cases[] = {
      {le(1000, 8) + "{}", "exceeds the file"},
      {safetensors_bytes(R"({"w":{"dtype":"F32",)", ok_data), "malformed safetensors header"},
      {safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", ok_data),
       "outside"},
      {safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", ok_data),
       "shape and dtype need 3 x 4 bytes"},
      {safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", ok_data),
       "non-negative"},
      {safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", ok_data), "data_offsets"},
      {safetensors_bytes(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", ok_data), "dtype"},
      {safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", ok_data),
       "gap"},
      {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         ok_data),
       "overlap"},
      {safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", ok_data),
       "data section holds 8"},
      {safetensors_bytes(R"({"w":[1,2]})", ok_data), "not an object"},
      {safetensors_bytes(R"({"__metadata__":{"n":1}})", ""), "__metadata__"},
      {std::string("\x07\x00\x00", 3), "too short"},
  };
  for (const auto& c : cases) {
    write_bytes(file("bad.safetensors"), c.bytes);
    auto r = read_safetensors(file("bad.safetensors"));
    ASSERT_FALSE(r.is_ok()) << c.expect;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << c.expect << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(c.expect));
  }
}

TEST_F(CheckpointTest, RejectsTruncatedSafetensors) {
  VISTA_REQUIRE_GOLDEN();
  const std::string bytes = read_bytes(tiny_safetensors());
  write_bytes(file("cut.safetensors"), bytes.substr(0, bytes.size() - 100));
  auto r = read_checkpoint(file("cut.safetensors"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr("outside"));

  write_bytes(file("cut.safetensors"), bytes.substr(0, 5000));  // inside the header
  auto r2 = read_safetensors(file("cut.safetensors"));
  ASSERT_FALSE(r2.is_ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kCorruption);
}

// --- the Checkpoint value itself ------------------------------------------------------------

TEST(CheckpointValueTest, FromTensorsRejectsDuplicatesAndEmptyNames) {
  auto ok = Checkpoint::from_tensors("test", {{"a", torch::ones({2})}, {"b", torch::zeros({3})}});
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(ok->parameter_count(), 5);
  EXPECT_EQ(ok->format(), "test");
  auto dup = Checkpoint::from_tensors("test", {{"a", torch::ones({2})}, {"a", torch::ones({2})}});
  ASSERT_FALSE(dup.is_ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(Checkpoint::from_tensors("test", {{"", torch::ones({1})}}).is_ok());
  EXPECT_FALSE(Checkpoint::from_tensors("test", {{"u", torch::Tensor()}}).is_ok());
}

TEST(CheckpointValueTest, DtypeNamesMatchPython) {
  EXPECT_EQ(torch_dtype_name(torch::kFloat32), "torch.float32");
  EXPECT_EQ(torch_dtype_name(torch::kBFloat16), "torch.bfloat16");
  EXPECT_EQ(torch_dtype_name(torch::kFloat16), "torch.float16");
  EXPECT_EQ(torch_dtype_name(torch::kInt64), "torch.int64");
  EXPECT_EQ(torch_dtype_name(torch::kUInt8), "torch.uint8");
  EXPECT_EQ(torch_dtype_name(torch::kBool), "torch.bool");
}

}  // namespace
}  // namespace vista::encoder

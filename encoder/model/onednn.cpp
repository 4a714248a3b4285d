#include "encoder/model/onednn.h"

#ifdef VISTA_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>

#include <functional>
#include <mutex>
#include <initializer_list>
#include <sstream>
#include <string>
#include <unordered_map>

#include "common/logging.h"

namespace vista::encoder::onednn {
namespace {

using dnnl::memory;
using dt = memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// CPU streams are cheap and carry no state between primitives; one per thread avoids sharing.
dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// Scratchpads are user-managed so that one primitive can run on several threads at once.
void* thread_scratchpad(size_t bytes) {
  thread_local torch::Tensor buffer;
  if (bytes == 0) return nullptr;
  if (!buffer.defined() || static_cast<size_t>(buffer.numel()) < bytes) {
    buffer = torch::empty({static_cast<int64_t>(bytes)}, torch::kUInt8);
  }
  return buffer.data_ptr();
}

dt data_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return dt::f32;
    case torch::kBFloat16: return dt::bf16;
    default: TORCH_CHECK(false, "oneDNN path: unsupported dtype ", t.scalar_type());
  }
  return dt::undef;
}

memory::desc strided_desc(const torch::Tensor& t) {
  return memory::desc(memory::dims(t.sizes().begin(), t.sizes().end()), data_type(t),
                      memory::dims(t.strides().begin(), t.strides().end()));
}

void append_desc(std::ostringstream& key, const memory::desc& md) {
  // Two descriptors with equal dims, type and strides describe the same memory layout.
  key << static_cast<int>(md.data_type()) << ":";
  for (auto d : md.dims()) key << d << ",";
  key << "/";
  const auto& blocking = md.data.format_desc.blocking;
  for (int i = 0; i < md.data.ndims; ++i) key << blocking.strides[i] << ",";
  key << "/" << blocking.inner_nblks << ";";
}

// The cache key of a primitive that depends only on the layouts it reads and writes.
std::string layout_key(const char* op, std::initializer_list<memory::desc> descs) {
  std::ostringstream key;
  key << op << "|";
  for (const auto& md : descs) append_desc(key, md);
  return key.str();
}

// A float parameter baked into a primitive, written exactly (hexadecimal floating point of the
// float the primitive receives): two values that differ in any bit get different cache keys.
void append_exact(std::ostringstream& key, double value) {
  key << std::hexfloat << static_cast<float>(value) << std::defaultfloat << "|";
}

struct Prepared {
  std::shared_ptr<dnnl::primitive_desc_base> pd;
  dnnl::primitive primitive;
};

// Built primitives, shared by every layer of the same shape and by all threads (a primitive with
// a user scratchpad may execute concurrently). Building one costs far more than a lookup; the map
// is bounded so that odd batch shapes cannot grow it without limit.
class PrimitiveCache {
 public:
  template <typename Pd, typename Primitive>
  Prepared get(const std::string& key, const std::function<Pd()>& build) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = map_.find(key);
      if (it != map_.end()) return it->second;
    }
    auto pd = std::make_shared<Pd>(build());
    Prepared p{pd, Primitive(*pd)};
    spdlog::debug("oneDNN {} -> {}", key, pd->impl_info_str());
    std::lock_guard<std::mutex> lock(mutex_);
    if (map_.size() >= kCapacity) map_.clear();
    return map_.emplace(key, p).first->second;
  }

 private:
  static constexpr size_t kCapacity = 2048;
  std::mutex mutex_;
  std::unordered_map<std::string, Prepared> map_;
};

PrimitiveCache& primitive_cache() {
  static PrimitiveCache cache;
  return cache;
}

Prepared prepared_matmul(const std::string& key,
                         const std::function<dnnl::matmul::primitive_desc()>& build) {
  return primitive_cache().get<dnnl::matmul::primitive_desc, dnnl::matmul>("matmul|" + key, build);
}

void execute(const Prepared& p, std::unordered_map<int, memory>& args) {
  auto& stream = thread_stream();
  const auto scratch_md = p.pd->scratchpad_desc();
  memory scratch(scratch_md, cpu_engine(), thread_scratchpad(scratch_md.get_size()));
  args.emplace(DNNL_ARG_SCRATCHPAD, scratch);
  p.primitive.execute(stream, args);
  stream.wait();
}

dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Copies `x` (fp32, any strides) into a new contiguous bf16 tensor with oneDNN's vectorised
// reorder (libtorch 1.13 converts to bf16 one element at a time).
torch::Tensor reorder_to_bf16(const torch::Tensor& x) {
  auto out = torch::empty(x.sizes(), torch::kBFloat16);
  const auto src_md = strided_desc(x);
  const auto dst_md = strided_desc(out);
  const std::string key = layout_key("reorder", {src_md, dst_md});
  auto p = primitive_cache().get<dnnl::reorder::primitive_desc, dnnl::reorder>(key, [&] {
    return dnnl::reorder::primitive_desc(cpu_engine(), src_md, cpu_engine(), dst_md, base_attr());
  });
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_FROM, memory(src_md, cpu_engine(), x.data_ptr())},
      {DNNL_ARG_TO, memory(dst_md, cpu_engine(), out.data_ptr())},
  };
  execute(p, args);
  return out;
}

// Softmax over the last axis of `scores` (fp32, contiguous) into `out` (fp32 or bf16, same shape;
// may be `scores` itself).
void softmax_last_axis(const torch::Tensor& scores, const torch::Tensor& out) {
  const auto src_md = strided_desc(scores);
  const auto dst_md = strided_desc(out);
  const int axis = static_cast<int>(scores.dim()) - 1;
  const std::string key = layout_key("softmax", {src_md, dst_md});
  auto p =
      primitive_cache().get<dnnl::softmax_v2_forward::primitive_desc, dnnl::softmax_v2_forward>(
          key, [&] {
            return dnnl::softmax_v2_forward::primitive_desc(
                dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                               dnnl::algorithm::softmax_accurate, src_md, dst_md,
                                               axis),
                base_attr(), cpu_engine());
          });
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(src_md, cpu_engine(), scores.data_ptr())},
      {DNNL_ARG_DST, memory(dst_md, cpu_engine(), out.data_ptr())},
  };
  execute(p, args);
}

}  // namespace

bool bf16_supported() {
  static const bool supported = [] {
    try {
      // A tiny bf16 product: creation fails where the CPU has no bf16 support.
      memory::desc a({2, 32}, dt::bf16, memory::format_tag::ab);
      memory::desc b({32, 32}, dt::bf16, memory::format_tag::ab);
      memory::desc c({2, 32}, dt::f32, memory::format_tag::ab);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), cpu_engine());
      return std::string(pd.impl_info_str()).find("ref") == std::string::npos;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return supported;
}

struct PackedLinear::Impl {
  bool bf16 = false;
  bool has_bias = false;
  torch::Tensor packed;  // bytes in oneDNN's blocked layout
  torch::Tensor bias;    // fp32 [1, out]
  memory::desc weights_md;
  std::string key_prefix;
};

PackedLinear::PackedLinear(const torch::Tensor& weight, const torch::Tensor& bias, bool bf16)
    : in_(weight.size(1)), out_(weight.size(0)), impl_(std::make_unique<Impl>()) {
  impl_->bf16 = bf16;
  impl_->has_bias = bias.defined();
  if (bias.defined()) impl_->bias = bias.to(torch::kFloat32).contiguous().view({1, out_});
  const dt wtype = bf16 ? dt::bf16 : dt::f32;
  // Let oneDNN choose the weights layout for a representative row count; the same layout is
  // then imposed for every other row count (it depends on the weight shape, not on the rows).
  constexpr int64_t kRepresentativeRows = 256;
  memory::desc src({kRepresentativeRows, in_}, wtype, memory::format_tag::ab);
  memory::desc any({in_, out_}, wtype, memory::format_tag::any);
  memory::desc dst({kRepresentativeRows, out_}, dt::f32, memory::format_tag::ab);
  memory::desc bias_md =
      impl_->has_bias ? memory::desc({1, out_}, dt::f32, memory::format_tag::ab) : memory::desc();
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, bias_md, dst), base_attr(),
                                  cpu_engine());
  impl_->weights_md = pd.weights_desc();

  // W [out, in] row-major is W^T [in, out] with strides (1, in).
  auto source = weight.to(bf16 ? torch::kBFloat16 : torch::kFloat32).contiguous();
  memory::desc plain({in_, out_}, wtype, memory::dims{1, in_});
  impl_->packed = torch::empty({static_cast<int64_t>(impl_->weights_md.get_size())}, torch::kUInt8);
  memory from(plain, cpu_engine(), source.data_ptr());
  memory to(impl_->weights_md, cpu_engine(), impl_->packed.data_ptr());
  auto& stream = thread_stream();
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();

  std::ostringstream key;
  key << "linear|" << (bf16 ? "bf16" : "f32") << "|" << in_ << "x" << out_ << "|" << impl_->has_bias
      << "|";
  append_desc(key, impl_->weights_md);
  impl_->key_prefix = key.str();
}

PackedLinear::~PackedLinear() = default;

torch::Tensor PackedLinear::forward(const torch::Tensor& x, Epilogue epilogue,
                                    const torch::Tensor& operand) const {
  TORCH_CHECK(x.size(-1) == in_, "PackedLinear: input has ", x.size(-1), " features, expected ",
              in_);
  auto out_sizes = x.sizes().vec();
  out_sizes.back() = out_;
  auto x2 = x.reshape({-1, in_});
  x2 = impl_->bf16 ? reorder_to_bf16(x2) : x2.contiguous();
  const int64_t rows = x2.size(0);
  auto y = torch::empty({rows, out_}, torch::kFloat32);
  torch::Tensor other;
  const bool binary = epilogue == Epilogue::kAddResidual || epilogue == Epilogue::kMultiply;
  if (binary) {
    TORCH_CHECK(operand.defined() && operand.numel() == rows * out_,
                "PackedLinear: the epilogue operand must have the output's shape");
    other = operand.reshape({rows, out_}).to(torch::kFloat32).contiguous();
  }

  const std::string key =
      impl_->key_prefix + std::to_string(rows) + "|" + std::to_string(static_cast<int>(epilogue));
  const dt stype = impl_->bf16 ? dt::bf16 : dt::f32;
  memory::desc src_md({rows, in_}, stype, memory::format_tag::ab);
  memory::desc dst_md({rows, out_}, dt::f32, memory::format_tag::ab);
  memory::desc bias_md =
      impl_->has_bias ? memory::desc({1, out_}, dt::f32, memory::format_tag::ab) : memory::desc();
  auto p = prepared_matmul(key, [&] {
    auto attr = base_attr();
    dnnl::post_ops ops;
    switch (epilogue) {
      case Epilogue::kNone: break;
      case Epilogue::kGelu:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
        break;
      case Epilogue::kSilu:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
        break;
      case Epilogue::kAddResidual: ops.append_binary(dnnl::algorithm::binary_add, dst_md); break;
      case Epilogue::kMultiply: ops.append_binary(dnnl::algorithm::binary_mul, dst_md); break;
    }
    attr.set_post_ops(ops);
    return dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(src_md, impl_->weights_md, bias_md, dst_md), attr, cpu_engine());
  });
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(src_md, cpu_engine(), x2.data_ptr())},
      {DNNL_ARG_WEIGHTS, memory(impl_->weights_md, cpu_engine(), impl_->packed.data_ptr())},
      {DNNL_ARG_DST, memory(dst_md, cpu_engine(), y.data_ptr())},
  };
  if (impl_->has_bias) {
    args.emplace(DNNL_ARG_BIAS, memory(bias_md, cpu_engine(), impl_->bias.data_ptr()));
  }
  if (binary) {
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                 memory(dst_md, cpu_engine(), other.data_ptr()));
  }
  execute(p, args);
  return y.view(out_sizes);
}

torch::Tensor attention(const torch::Tensor& q_in, const torch::Tensor& k_in,
                        const torch::Tensor& v_in, const torch::Tensor& additive_mask, double scale,
                        bool bf16) {
  auto q = bf16 ? reorder_to_bf16(q_in) : q_in;
  auto k = bf16 ? reorder_to_bf16(k_in) : k_in;
  auto v = bf16 ? reorder_to_bf16(v_in) : v_in;
  const int64_t batch = q.size(0), heads = q.size(1), nq = q.size(2), dim = q.size(3);
  const int64_t nk = k.size(2);

  // scores = (q k^T) * scale + mask, [B, H, Nq, Nk] fp32.
  auto scores = torch::empty({batch, heads, nq, nk}, torch::kFloat32);
  auto kt = k.transpose(2, 3);
  const auto q_md = strided_desc(q);
  const auto kt_md = strided_desc(kt);
  const auto s_md = strided_desc(scores);
  const bool masked = additive_mask.defined();
  torch::Tensor mask;
  memory::desc mask_md;
  if (masked) {
    mask = additive_mask.to(torch::kFloat32).reshape({batch, 1, 1, nk}).contiguous();
    mask_md = strided_desc(mask);
  }
  std::ostringstream key1;
  key1 << "scores|";
  append_exact(key1, scale);
  key1 << masked << "|";
  append_desc(key1, q_md);
  append_desc(key1, kt_md);
  append_desc(key1, s_md);
  auto p1 = prepared_matmul(key1.str(), [&] {
    auto attr = base_attr();
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, static_cast<float>(scale), 0.0f);
    if (masked) ops.append_binary(dnnl::algorithm::binary_add, mask_md);
    attr.set_post_ops(ops);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, kt_md, s_md), attr, cpu_engine());
  });
  {
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, memory(q_md, cpu_engine(), q.data_ptr())},
        {DNNL_ARG_WEIGHTS, memory(kt_md, cpu_engine(), kt.data_ptr())},
        {DNNL_ARG_DST, memory(s_md, cpu_engine(), scores.data_ptr())},
    };
    if (masked) {
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1,
                   memory(mask_md, cpu_engine(), mask.data_ptr()));
    }
    execute(p1, args);
  }

  auto probs = bf16 ? torch::empty(scores.sizes(), torch::kBFloat16) : scores;
  softmax_last_axis(scores, probs);

  // context = probs v, written straight into the [B, Nq, H, d] layout the projection reads.
  auto context = torch::empty({batch, nq, heads, dim}, torch::kFloat32);
  auto context_view = context.permute({0, 2, 1, 3});
  const auto p_md = strided_desc(probs);
  const auto v_md = strided_desc(v);
  const auto c_md = strided_desc(context_view);
  auto p2 = prepared_matmul(layout_key("context", {p_md, v_md, c_md}), [&] {
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(p_md, v_md, c_md), base_attr(),
                                        cpu_engine());
  });
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(p_md, cpu_engine(), probs.data_ptr())},
      {DNNL_ARG_WEIGHTS, memory(v_md, cpu_engine(), v.data_ptr())},
      {DNNL_ARG_DST, memory(c_md, cpu_engine(), context.data_ptr())},
  };
  execute(p2, args);
  return context;
}

torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& weight,
                         const torch::Tensor& bias, double eps) {
  const int64_t channels = x.size(-1);
  auto x2 = x.reshape({-1, channels}).contiguous();
  auto y = torch::empty_like(x2);
  const auto data_md = strided_desc(x2);
  memory::desc param_md({channels}, dt::f32, memory::format_tag::a);
  std::ostringstream key;
  key << "layer_norm|";
  append_exact(key, eps);
  append_desc(key, data_md);
  auto p =
      primitive_cache()
          .get<dnnl::layer_normalization_forward::primitive_desc,
               dnnl::layer_normalization_forward>(key.str(), [&] {
            return dnnl::layer_normalization_forward::primitive_desc(
                dnnl::layer_normalization_forward::desc(
                    dnnl::prop_kind::forward_inference, data_md, static_cast<float>(eps),
                    dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
                base_attr(), cpu_engine());
          });
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(data_md, cpu_engine(), x2.data_ptr())},
      {DNNL_ARG_DST, memory(data_md, cpu_engine(), y.data_ptr())},
      {DNNL_ARG_SCALE, memory(param_md, cpu_engine(), weight.data_ptr())},
      {DNNL_ARG_SHIFT, memory(param_md, cpu_engine(), bias.data_ptr())},
  };
  execute(p, args);
  return y.view(x.sizes());
}

}  // namespace vista::encoder::onednn

#else  // !VISTA_WITH_ONEDNN

// A build without oneDNN (e.g. against a libtorch that does not ship its headers, as PyTorch's
// wheels do): the layers never choose this path (ComputeTarget::onednn() is false), so these
// are only reached by a direct call.
namespace vista::encoder::onednn {
namespace {
[[noreturn]] void unavailable() {
  TORCH_CHECK(false, "this build of Vista has no oneDNN path (VISTA_WITH_ONEDNN=OFF)");
}
}  // namespace

bool bf16_supported() { return false; }

struct PackedLinear::Impl {};

PackedLinear::PackedLinear(const torch::Tensor&, const torch::Tensor&, bool) { unavailable(); }
PackedLinear::~PackedLinear() = default;
torch::Tensor PackedLinear::forward(const torch::Tensor&, Epilogue, const torch::Tensor&) const {
  unavailable();
}
torch::Tensor attention(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                        const torch::Tensor&, double, bool) {
  unavailable();
}
torch::Tensor layer_norm(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                         double) {
  unavailable();
}

}  // namespace vista::encoder::onednn
#endif  // VISTA_WITH_ONEDNN

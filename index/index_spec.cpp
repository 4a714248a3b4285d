#include "index/index_spec.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace vista::index {

namespace {

constexpr const char* kGrammar =
    "supported: Flat, SQ4|SQ6|SQ8|SQfp16, PQ<m>[x<nbits>][np|fs], HNSW<M>[,Flat|,SQ<q>], "
    "IVF<nlist>,Flat|SQ<q>|PQ<m>[x<nbits>][np|fs], optionally after PCA<d> or OPQ<m>[_<d>] and "
    "followed by ,RFlat (docs/indexes.md)";

Status refuse(std::string_view spec, const std::string& why) {
  return Status::invalid_argument("index spec '" + std::string(spec) + "': " + why);
}

std::vector<std::string> split_components(std::string_view spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    parts.emplace_back(
        spec.substr(start, comma == std::string_view::npos ? spec.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return parts;
}

// Reads a decimal number of at most 9 digits at `pos`; false when there is none (or it is longer,
// which is out of every range anyway and is reported as such by the caller's range check).
bool read_number(const std::string& s, size_t* pos, int64_t* value) {
  size_t p = *pos;
  int64_t v = 0;
  while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
    if (v > std::numeric_limits<int64_t>::max() / 20) return false;
    v = v * 10 + (s[p] - '0');
    ++p;
  }
  if (p == *pos) return false;
  *pos = p;
  *value = v;
  return true;
}

// "<prefix><number>" exactly; the number in `value`.
bool prefixed_number(const std::string& s, std::string_view prefix, int64_t* value) {
  if (s.rfind(prefix, 0) != 0) return false;
  size_t pos = prefix.size();
  return read_number(s, &pos, value) && pos == s.size();
}

std::string range(int64_t lo, int64_t hi) {
  return std::to_string(lo) + ".." + std::to_string(hi);
}

Status check_range(std::string_view spec, const std::string& what, int64_t value, int64_t lo,
                   int64_t hi, const std::string& why = "") {
  if (value >= lo && value <= hi) return Status::ok();
  return refuse(spec, what + " must be " + range(lo, hi) + why + ", got " + std::to_string(value));
}

// "SQ4|SQ6|SQ8|SQfp16".
bool is_scalar_quantizer(const std::string& s) {
  return s == "SQ4" || s == "SQ6" || s == "SQ8" || s == "SQfp16";
}

// "PQ<m>[x<nbits>]" at dimension d; fills the spec's PQ fields. `max_bits`: FAISS 1.7.3's
// IVFPQ asserts nbits <= 8.
Status parse_pq(std::string_view spec, const std::string& s, int d, IndexSpec* out,
                int max_bits = kMaxPqBits) {
  size_t pos = 2;
  int64_t m = 0, bits = 8;
  if (!read_number(s, &pos, &m)) return refuse(spec, "'" + s + "' needs a number after PQ");
  if (pos < s.size() && s[pos] == 'x' && !read_number(s, &++pos, &bits))
    return refuse(spec, "'" + s + "' is not PQ<m>[x<nbits>][np|fs]");
  // "np" only tells FAISS to skip polysemous training (a slow step that search never uses);
  // "fs" asks for FAISS's fast-scan layout, which exists for 4-bit codes only.
  bool fast_scan = false;
  if (s.compare(pos, std::string::npos, "np") == 0) {
    pos += 2;
  } else if (s.compare(pos, std::string::npos, "fs") == 0) {
    pos += 2;
    fast_scan = true;
  }
  if (pos != s.size()) return refuse(spec, "'" + s + "' is not PQ<m>[x<nbits>][np|fs]");
  if (fast_scan && bits != 4)
    return refuse(spec, "'" + s + "': fast-scan PQ (fs) needs 4-bit codes (x4), got " +
                            std::to_string(bits));
  VISTA_RETURN_IF_ERROR(check_range(spec, "PQ m (sub-quantizers)", m, 1, d,
                                    " (the dimension at that point is " + std::to_string(d) + ")"));
  if (d % m != 0) {
    return refuse(
        spec, "PQ m must divide the dimension " + std::to_string(d) + ", got " + std::to_string(m));
  }
  VISTA_RETURN_IF_ERROR(check_range(spec, "PQ nbits", bits, kMinPqBits,
                                    std::min(max_bits, max_pq_bits(d)),
                                    " at dimension " + std::to_string(d)));
  out->pq_m = static_cast<int>(m);
  out->pq_bits = static_cast<int>(bits);
  out->storage = "PQ" + std::to_string(m) + "x" + std::to_string(bits) + (fast_scan ? "fs" : "");
  return Status::ok();
}

// The codes stored by HNSW / IVF / the core: Flat, SQ, or (when `pq_allowed`) PQ.
Status parse_storage(std::string_view spec, const std::string& s, int d, bool pq_allowed,
                     IndexSpec* out) {
  if (s == "Flat" || is_scalar_quantizer(s)) {
    out->storage = s;
    return Status::ok();
  }
  if (pq_allowed && s.rfind("PQ", 0) == 0) return parse_pq(spec, s, d, out, kMaxIvfPqBits);
  return refuse(spec, "'" + s + "' cannot follow here; " + kGrammar);
}

Status parse_transform(std::string_view spec, const std::string& s, int d, IndexSpec* out) {
  IndexSpec::Transform t;
  const int hi = max_transform_dim(d);
  int64_t v = 0;
  if (prefixed_number(s, "PCA", &v)) {
    VISTA_RETURN_IF_ERROR(check_range(spec, "PCA output dimension", v, 1, hi,
                                      " for input dimension " + std::to_string(d)));
    t.out_dim = static_cast<int>(v);
  } else if (s.rfind("OPQ", 0) != 0) {
    return refuse(spec, "'" + s + "' is not PCA<d>, OPQ<m> or OPQ<m>_<d>");
  } else {
    size_t pos = 3;
    int64_t m = 0, out_dim = d;
    if (!read_number(s, &pos, &m)) return refuse(spec, "'" + s + "' needs a number after OPQ");
    if (pos < s.size()) {
      if (s[pos] != '_' || !read_number(s, &++pos, &out_dim) || pos != s.size())
        return refuse(spec, "'" + s + "' is not OPQ<m> or OPQ<m>_<d>");
      VISTA_RETURN_IF_ERROR(check_range(spec, "OPQ output dimension", out_dim, 1, hi,
                                        " for input dimension " + std::to_string(d)));
    } else if (d > hi) {
      return refuse(spec, "OPQ without an output dimension keeps " + std::to_string(d) +
                              " dimensions; the rotation would exceed the memory bound, give "
                              "OPQ<m>_<d> with d in 1.." +
                              std::to_string(hi));
    }
    VISTA_RETURN_IF_ERROR(check_range(spec, "OPQ m", m, 1, out_dim));
    if (out_dim % m != 0) {
      return refuse(spec, "OPQ m must divide its output dimension " + std::to_string(out_dim) +
                              ", got " + std::to_string(m));
    }
    t.opq = true;
    t.m = static_cast<int>(m);
    t.out_dim = static_cast<int>(out_dim);
  }
  out->transforms.push_back(t);
  return Status::ok();
}

bool is_transform(const std::string& s) {
  return s.rfind("PCA", 0) == 0 || s.rfind("OPQ", 0) == 0;
}

}  // namespace

int64_t max_ivf_lists(int dimension) {
  return std::max<int64_t>(
      1, std::min<int64_t>(kMaxIvfLists, kMaxFixedBytes / (4 * std::max(1, dimension))));
}

int max_pq_bits(int dimension) {
  int bits = kMinPqBits;
  while (bits < kMaxPqBits &&
         (int64_t{1} << (bits + 1)) * 4 * std::max(1, dimension) <= kMaxFixedBytes)
    ++bits;
  return bits;
}

int max_transform_dim(int input_dimension) {
  const int d = std::max(1, input_dimension);
  return static_cast<int>(std::min<int64_t>(d, kMaxFixedBytes / (4 * int64_t{d})));
}

int64_t IndexSpec::training_minimum() const {
  int64_t minimum = 0;
  for (const auto& t : transforms)
    if (t.opq) minimum = std::max<int64_t>(minimum, 256);  // OPQ trains an 8-bit PQ inside
  if (family == Family::kIvf) minimum = std::max(minimum, ivf_lists);
  if (pq_bits > 0) minimum = std::max(minimum, int64_t{1} << pq_bits);
  if (storage.rfind("SQ", 0) == 0 || !transforms.empty()) minimum = std::max<int64_t>(minimum, 1);
  return minimum;
}

int64_t IndexSpec::fixed_bytes(int input_dimension) const {
  int64_t bytes = 0;
  int d = input_dimension;
  for (const auto& t : transforms) {
    bytes += int64_t{4} * d * t.out_dim;
    d = t.out_dim;
  }
  if (family == Family::kIvf) bytes += ivf_lists * (int64_t{4} * d + 48);
  if (pq_bits > 0) bytes += (int64_t{1} << pq_bits) * 4 * d;
  return bytes;
}

Result<IndexSpec> parse_index_spec(std::string_view spec, int dimension) {
  if (dimension < 1 || dimension > kMaxIndexDimension) {
    return Status::invalid_argument("index dimension must be 1.." +
                                    std::to_string(kMaxIndexDimension) + ", got " +
                                    std::to_string(dimension));
  }
  if (spec.empty()) return Status::invalid_argument("index spec is empty (try \"Flat\")");
  if (spec.size() > 256) return refuse(spec.substr(0, 64), "longer than 256 characters");
  std::vector<std::string> parts = split_components(spec);
  IndexSpec out;
  size_t i = 0;
  int d = dimension;
  for (; i < parts.size() && is_transform(parts[i]); ++i) {
    VISTA_RETURN_IF_ERROR(parse_transform(spec, parts[i], d, &out));
    d = out.transforms.back().out_dim;
  }
  if (i == parts.size())
    return refuse(spec, std::string("no index after the transforms; ") + kGrammar);
  out.core_dimension = d;
  const std::string& core = parts[i++];
  int64_t v = 0;
  if (core == "Flat") {
    out.family = IndexSpec::Family::kFlat;
  } else if (is_scalar_quantizer(core)) {
    out.family = IndexSpec::Family::kSq;
    out.storage = core;
  } else if (core.rfind("PQ", 0) == 0) {
    out.family = IndexSpec::Family::kPq;
    VISTA_RETURN_IF_ERROR(parse_pq(spec, core, d, &out));
  } else if (prefixed_number(core, "HNSW", &v)) {
    VISTA_RETURN_IF_ERROR(check_range(spec, "HNSW M (links per node)", v, kMinHnswM, kMaxHnswM));
    out.family = IndexSpec::Family::kHnsw;
    out.hnsw_m = static_cast<int>(v);
    if (i < parts.size() && parts[i] != "RFlat")
      VISTA_RETURN_IF_ERROR(parse_storage(spec, parts[i++], d, /*pq_allowed=*/false, &out));
  } else if (prefixed_number(core, "IVF", &v)) {
    VISTA_RETURN_IF_ERROR(check_range(spec, "IVF nlist (inverted lists)", v, 1, max_ivf_lists(d),
                                      " at dimension " + std::to_string(d)));
    out.family = IndexSpec::Family::kIvf;
    out.ivf_lists = v;
    if (i == parts.size())
      return refuse(
          spec, "IVF needs its list storage: IVF" + std::to_string(v) + ",Flat, ,SQ8 or ,PQ<m>");
    VISTA_RETURN_IF_ERROR(parse_storage(spec, parts[i++], d, /*pq_allowed=*/true, &out));
  } else {
    return refuse(spec, "'" + core + "' is not a supported index; " + kGrammar);
  }
  if (i < parts.size() && parts[i] == "RFlat") {
    out.refine = true;
    ++i;
  }
  if (i < parts.size())
    return refuse(spec, "unexpected '" + parts[i] + "' after the index; " + kGrammar);
  if (out.fixed_bytes(dimension) > kMaxFixedBytes) {
    return refuse(spec, "its centroids, codebooks and matrices would take " +
                            std::to_string(out.fixed_bytes(dimension) >> 20) +
                            " MiB; the bound is " + std::to_string(kMaxFixedBytes >> 20) + " MiB");
  }
  return out;
}

}  // namespace vista::index

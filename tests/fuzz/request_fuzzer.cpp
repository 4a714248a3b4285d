// libFuzzer harness for what a client sends to the server, short of the socket: the first input
// byte picks the target, the rest is the client's bytes.
//   0  index spec (the second byte picks the dimension): parse_index_spec; an accepted spec
//      must respect the memory bound, be built by FAISS, take vectors and answer a search
//   1  JSON body of POST .../documents: parse_json, ObjectReader for every document field,
//      base64 images, id rules
//   2  search filter: Filter::parse, then matching against sample metadata
//   3  URL path segment: decode, encode, decode again gives the same id
//   4  Host / Origin headers (split at the first newline) through BrowserGuard
// Any crash, sanitizer report, timeout or broken invariant is a bug. See docs/fuzzing.md.
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/base64.h"
#include "api/browser_guard.h"
#include "api/json_codec.h"
#include "engine/filter.h"
#include "index/index_spec.h"
#include "index/vector_index.h"

namespace {

using nlohmann::json;

void check(bool invariant) {
  if (!invariant) std::abort();
}

void fuzz_index_spec(const std::string& spec, int dimension) {
  auto parsed = vista::index::parse_index_spec(spec, dimension);
  auto created = vista::index::VectorIndex::create(spec, dimension);
  if (!parsed.is_ok()) {
    check(!parsed.status().message().empty());
    check(!created.is_ok());  // one rule for every door
    return;
  }
  check(parsed->fixed_bytes(dimension) <= vista::index::kMaxFixedBytes);
  check(parsed->core_dimension >= 1 && parsed->core_dimension <= dimension);
  check(created.is_ok());
  auto& index = **created;
  constexpr int kVectors = 64;
  std::mt19937 rng(static_cast<uint32_t>(spec.size()));
  std::normal_distribution<float> normal;
  std::vector<float> x(static_cast<size_t>(kVectors) * dimension);
  for (float& v : x) v = normal(rng);
  std::vector<int64_t> ids(kVectors);
  for (int i = 0; i < kVectors; ++i) ids[i] = i;
  check(index.add(kVectors, x.data(), ids.data()).is_ok());
  std::vector<float> distances(5);
  std::vector<int64_t> labels(5);
  check(index.search(1, x.data(), 5, distances.data(), labels.data()).is_ok());
}

void fuzz_documents_body(const std::string& text) {
  try {
    const json body = vista::api::parse_json(text, "the request body");
    vista::api::ObjectReader r(body, "the request body");
    auto docs = r.array("documents");
    r.finish();
    if (!docs) return;
    for (const auto& doc : *docs) {
      try {
        vista::api::ObjectReader d(doc, "documents[i]");
        auto id = d.id("id");
        auto text_field = d.string("text");
        auto image = d.string("image");
        d.string("image_path");
        d.object("metadata");
        d.finish();
        if (image) (void)vista::api::base64_decode(*image);
        if (id) {
          std::string decoded;
          check(vista::api::decode_path_segment(vista::api::encode_path_segment(*id), &decoded));
          check(decoded == *id);
        }
        (void)text_field;
      } catch (const vista::api::ApiError& e) {
        check(e.http_status >= 400 && e.http_status < 500);
      }
    }
  } catch (const vista::api::ApiError& e) {
    check(e.http_status >= 400 && e.http_status < 500);
  }
}

void fuzz_filter(const std::string& text) {
  auto filter = vista::engine::Filter::parse(text);
  if (!filter.is_ok()) return;
  static const json samples[] = {
      json::object(),
      {{"kind", "photo"}, {"year", 2001}, {"tags", {"a", "b"}}, {"score", 0.5}},
      {{"kind", nullptr}, {"year", "2001"}, {"nested", {{"x", 1}}}},
  };
  for (const auto& m : samples) (void)filter->matches(m);
  check(vista::engine::Filter::parse(filter->to_string()).is_ok());
}

void fuzz_path_segment(const std::string& segment) {
  std::string decoded;
  if (!vista::api::decode_path_segment(segment, &decoded)) return;
  std::string again;
  check(vista::api::decode_path_segment(vista::api::encode_path_segment(decoded), &again));
  check(again == decoded);
}

void fuzz_browser_guard(const std::string& text) {
  static const vista::api::BrowserGuard guard({"vista.example"}, {"https://app.example"});
  const size_t nl = text.find('\n');
  const std::string host = text.substr(0, nl);
  const std::string origin = nl == std::string::npos ? "" : text.substr(nl + 1);
  (void)guard.refuse("POST", host, origin);
  (void)guard.refuse("GET", host, origin);
  // The server's own page is always allowed to write.
  if (!guard.refuse("GET", host, "").has_value() && !host.empty())
    check(!guard.refuse("POST", host, "http://" + host).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      // Dimensions 1..64 keep executions fast; the bounds scale with the dimension anyway.
      const int dimension = 1 + data[1] % 64;
      fuzz_index_spec(rest.substr(1), dimension);
      break;
    }
    case 1: fuzz_documents_body(rest); break;
    case 2: fuzz_filter(rest); break;
    case 3: fuzz_path_segment(rest); break;
    case 4: fuzz_browser_guard(rest); break;
  }
  return 0;
}

// Child process of crash_test: opens a collection and upserts/removes/snapshots/rebuilds in a
// loop until it is killed. Before each operation it writes the intent to fd 1, after it the
// acknowledgement, with write(2) so nothing sits in a user-space buffer when SIGKILL arrives:
//
//   U <version> <id> <id> ...   about to upsert these ids with vectors of `version`
//   D <id> <id> ...             about to remove these ids
//   OK                          the previous operation returned OK (acknowledged)
//
// Usage: crash_writer <collection dir> <first version> <seed>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "common/logging.h"
#include "engine/collection.h"
#include "tests/crash_protocol.h"

namespace {

void say(const std::string& line) {
  std::string s = line + "\n";
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(1, s.data() + off, s.size() - off);
    if (n <= 0) std::_Exit(3);
    off += static_cast<size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vista;
  using namespace vista::engine;
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_writer <dir> <first version> <seed>\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string dir = argv[1];
  int64_t version = std::stoll(argv[2]);
  std::mt19937_64 rng(std::stoull(argv[3]));
  CollectionOptions options;
  options.snapshot_on_close = false;
  auto opened = Collection::open(dir, "crash", options);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "crash_writer: %s\n", opened.status().to_string().c_str());
    return 1;
  }
  auto c = std::move(opened).value();
  say("READY");
  std::uniform_int_distribution<int> id_dist(0, crash::kUniverse - 1);
  for (int64_t op = 0;; ++op) {
    const int kind = static_cast<int>(rng() % 100);
    const int batch = 1 + static_cast<int>(rng() % 12);
    if (kind < 60) {
      std::vector<Document> docs;
      std::string line = "U " + std::to_string(version);
      std::vector<int> chosen;
      for (int i = 0; i < batch; ++i) {
        const int id = id_dist(rng);
        if (std::find(chosen.begin(), chosen.end(), id) != chosen.end()) continue;
        chosen.push_back(id);
        Document d;
        d.id = crash::id_name(id);
        d.vector = crash::vector_for(id, version);
        d.metadata = {{"version", version}, {"n", id}};
        docs.push_back(std::move(d));
        line += " " + crash::id_name(id);
      }
      say(line);
      auto r = c->upsert(crash::model(), docs);
      if (!r.is_ok()) {
        std::fprintf(stderr, "crash_writer: upsert failed: %s\n", r.status().to_string().c_str());
        return 1;
      }
      say("OK");
      ++version;
    } else if (kind < 90) {
      std::vector<std::string> ids;
      std::string line = "D";
      for (int i = 0; i < batch; ++i) {
        const std::string id = crash::id_name(id_dist(rng));
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) continue;
        ids.push_back(id);
        line += " " + id;
      }
      say(line);
      auto r = c->remove(ids);
      if (!r.is_ok()) {
        std::fprintf(stderr, "crash_writer: remove failed: %s\n", r.status().to_string().c_str());
        return 1;
      }
      say("OK");
    } else if (kind < 98) {
      Status st = c->snapshot();
      if (!st.is_ok()) {
        std::fprintf(stderr, "crash_writer: snapshot failed: %s\n", st.to_string().c_str());
        return 1;
      }
    } else {
      Status st = c->rebuild();
      if (!st.is_ok()) {
        std::fprintf(stderr, "crash_writer: rebuild failed: %s\n", st.to_string().c_str());
        return 1;
      }
    }
  }
}

// What `vista bench index` does around each index build: decide which specs a data set can
// train, route FAISS's own stderr warnings into Vista's log (counted), and report progress while
// a build runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace vista::indexbench {

struct SpecPlan {
  std::vector<std::string> kept;
  // Specs the data set is too small to train, each with the reason ("IVF1024,Flat: training
  // needs at least 39936 vectors (39 per centroid); the set has 5000").
  std::vector<std::pair<std::string, std::string>> skipped;
};

// Splits `specs` into those a set of `rows` vectors of `dim` dimensions can train well and those
// it cannot: k-means wants 39 training vectors per centroid (IVF lists, PQ codebooks), FAISS's
// own threshold below which it warns. InvalidArgument for a spec that does not parse.
Result<SpecPlan> plan_index_specs(const std::vector<std::string>& specs, int dim, int64_t rows);

// While alive, lines written to the process's stderr (file descriptor 2) go through a pipe:
// FAISS's "WARNING ..." lines are counted and kept out of the terminal, every other line is
// passed through unchanged. On destruction stderr is restored and, when FAISS warned, one log
// line says how often and what the first warning was.
class FaissWarningCapture {
 public:
  explicit FaissWarningCapture(std::string what);
  ~FaissWarningCapture();
  FaissWarningCapture(const FaissWarningCapture&) = delete;
  FaissWarningCapture& operator=(const FaissWarningCapture&) = delete;

  // Stops capturing (idempotent) and returns the number of FAISS warnings seen.
  int64_t finish();

 private:
  std::string what_;
  int saved_fd_ = -1;
  int read_fd_ = -1;
  std::thread reader_;
  int64_t warnings_ = 0;
  std::string first_;
  bool finished_ = false;
};

// Calls `say` every `interval` with the seconds elapsed, until destroyed: progress for builds
// that take longer than a few seconds (FAISS reports none of its own).
class Heartbeat {
 public:
  Heartbeat(std::function<void(double seconds)> say, std::chrono::milliseconds interval);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace vista::indexbench

#include "tools/indexbench/build_watch.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/index_factory.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "common/logging.h"
#include "index/vector_index.h"

namespace vista::indexbench {

namespace {
// FAISS's k-means warns below this many training vectors per centroid (Clustering.h).
constexpr int64_t kTrainPerCentroid = 39;
}  // namespace

Result<SpecPlan> plan_index_specs(const std::vector<std::string>& specs, int dim, int64_t rows) {
  SpecPlan plan;
  for (const auto& spec : specs) {
    VISTA_RETURN_IF_ERROR(index::VectorIndex::validate_spec(spec, dim));
    std::unique_ptr<faiss::Index> made;
    try {
      made.reset(faiss::index_factory(dim, spec.c_str(), faiss::METRIC_INNER_PRODUCT));
    } catch (const std::exception& e) {
      return Status::invalid_argument("index '" + spec + "': " + e.what());
    }
    int64_t centroids = 0;
    std::string what;
    if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(made.get())) {
      centroids = static_cast<int64_t>(ivf->nlist);
      what = std::to_string(centroids) + " lists";
      if (const auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(ivf);
          ivfpq && static_cast<int64_t>(ivfpq->pq.ksub) > centroids) {
        centroids = static_cast<int64_t>(ivfpq->pq.ksub);
        what = std::to_string(centroids) + " centroids per PQ codebook";
      }
    } else if (const auto* pq = dynamic_cast<const faiss::IndexPQ*>(made.get())) {
      centroids = static_cast<int64_t>(pq->pq.ksub);
      what = std::to_string(centroids) + " centroids per PQ codebook";
    }
    const int64_t needed = centroids * kTrainPerCentroid;
    if (needed > rows) {
      plan.skipped.emplace_back(
          spec, "training its " + what + " needs at least " + std::to_string(needed) +
                    " vectors (" + std::to_string(kTrainPerCentroid) +
                    " per centroid); the set has " + std::to_string(rows));
    } else {
      plan.kept.push_back(spec);
    }
  }
  return plan;
}

FaissWarningCapture::FaissWarningCapture(std::string what) : what_(std::move(what)) {
  int fds[2];
  if (::pipe(fds) != 0) return;
  std::fflush(stderr);
  saved_fd_ = ::dup(STDERR_FILENO);
  if (saved_fd_ < 0 || ::dup2(fds[1], STDERR_FILENO) < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    if (saved_fd_ >= 0) ::close(saved_fd_);
    saved_fd_ = -1;
    return;
  }
  ::close(fds[1]);
  read_fd_ = fds[0];
  reader_ = std::thread([this] {
    std::string pending;
    char buf[4096];
    auto pass = [&](const std::string& line) {
      if (line.rfind("WARNING", 0) == 0) {
        if (warnings_++ == 0) first_ = line;
        return;
      }
      const std::string out = line + "\n";
      ssize_t ignored = ::write(saved_fd_, out.data(), out.size());
      (void)ignored;
    };
    for (;;) {
      const ssize_t n = ::read(read_fd_, buf, sizeof buf);
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        pass(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    if (!pending.empty()) pass(pending);
  });
}

int64_t FaissWarningCapture::finish() {
  if (finished_ || saved_fd_ < 0) return warnings_;
  finished_ = true;
  std::fflush(stderr);
  ::dup2(saved_fd_, STDERR_FILENO);  // closes the pipe's write end: the reader sees EOF
  ::close(saved_fd_);
  reader_.join();
  ::close(read_fd_);
  if (warnings_ > 0)
    spdlog::warn("{}: FAISS warned {} time(s), first: {}", what_, warnings_, first_);
  return warnings_;
}

FaissWarningCapture::~FaissWarningCapture() {
  finish();
}

Heartbeat::Heartbeat(std::function<void(double)> say, std::chrono::milliseconds interval) {
  thread_ = std::thread([this, say = std::move(say), interval] {
    const auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, interval, [this] { return done_; })) {
      say(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

}  // namespace vista::indexbench

// EncodeQueue: one batching worker in front of the encoder.
//
// Many threads (HTTP handlers, the CLI) ask for embeddings one or a few inputs at a time. Run
// one by one, each request would stream all of the network's weights from memory for a handful
// of tokens; run together, they share that pass. The queue collects requests, and its single
// worker runs them as one encoder batch as soon as max_batch inputs are waiting or the oldest
// has waited max_wait_ms, whichever comes first. An idle queue therefore adds at most
// max_wait_ms to a lone request, and a busy one batches naturally (requests pile up while the
// previous batch runs).
//
// Backpressure: at most max_queued inputs wait; a request that would exceed that fails at once
// with ResourceExhausted, subcode QueueFull, instead of waiting without bound. A request larger
// than max_queued is accepted only into an empty queue.
//
// Failure isolation: when a batch fails as a whole, its inputs are retried one at a time, so one
// bad input (say, text the tokenizer refuses) fails only its own request.
//
// Images are decoded and cropped by the caller (prepare_content) before they enter the queue:
// decoding runs in the callers' threads, in parallel, and the worker only runs the network.
//
// Thread-safety: encode()/encode_one()/stats() may be called from any number of threads;
// shutdown() may be called from any thread, once or more.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "encoder/image/image_decoder.h"
#include "encoder/image/preprocess.h"

namespace vista::encoder {
class Encoder;
}  // namespace vista::encoder

namespace vista::engine {

struct EncodeQueueOptions {
  int max_batch = 16;    // most inputs in one encoder call
  int max_wait_ms = 5;   // longest the oldest waiting input waits for company
  int max_queued = 256;  // inputs waiting (not yet running); more -> ResourceExhausted
};

// Something to embed: text alone, an image alone, or an image with text. The image comes as
// encoded bytes (any format the decoder recognises by content) or, for local callers (CLI,
// ingestion), a file path; at most one of image_bytes / image_path. The HTTP API must never pass
// a client-supplied path.
struct Content {
  std::optional<std::string> text;
  std::optional<std::string> image_bytes;
  std::optional<std::filesystem::path> image_path;

  bool has_image() const { return image_bytes.has_value() || image_path.has_value(); }
  bool empty() const { return !text.has_value() && !has_image(); }
};

struct Embedding {
  std::vector<float> vector;  // dimension floats, L2-normalised
  bool truncated = false;     // the text was cut to the model's token limit
};

// An input ready for the network: text and/or an image already decoded and cropped.
struct EncodeItem {
  std::optional<std::string> text;
  std::optional<encoder::RgbImage> image;
};

// Reads (for a path), decodes and crops the image of `content` to `image_size` pixels. Fails
// with InvalidArgument for empty content or both image_bytes and image_path, and with the
// decoder's Status (naming the file for a path) for a bad image.
Result<EncodeItem> prepare_content(const Content& content, const encoder::DecodeLimits& limits,
                                   int image_size);

// Runs one encoder call on a batch; the result has one Embedding per item, in order. The
// Encoder's own failures (c10::Error included) come back as a Status.
Result<std::vector<Embedding>> encode_items(const encoder::Encoder& encoder,
                                            const std::vector<EncodeItem>& items);

// The side of the square crop the encoder's vision tower expects.
int encoder_image_size(const encoder::Encoder& encoder);

using EncodeBatchFn =
    std::function<Result<std::vector<Embedding>>(const std::vector<EncodeItem>& items)>;

// Counters since the queue started; a consistent snapshot.
struct EncodeQueueStats {
  int64_t requests = 0;        // encode() calls accepted
  int64_t items = 0;           // inputs encoded (successfully or not)
  int64_t batches = 0;         // encoder calls made (retries of a failed batch included)
  int64_t failed_batches = 0;  // encoder calls that failed
  int64_t failed_items = 0;    // inputs whose encoding failed
  int64_t rejected = 0;        // requests refused because the queue was full
  int64_t queued = 0;          // inputs waiting right now
  int64_t max_queued_seen = 0;
  double wait_seconds_total = 0;    // sum over inputs of the time from enqueue to batch start
  double encode_seconds_total = 0;  // sum over batches of the encoder call's duration
  // batch_sizes[n] = number of batches of exactly n inputs (index 0 unused).
  std::vector<int64_t> batch_sizes;
};

class EncodeQueue {
 public:
  // Starts the worker. `encode` is called from the worker thread only.
  EncodeQueue(EncodeBatchFn encode, EncodeQueueOptions options);
  // Convenience: a queue in front of `encoder` (which must outlive the queue).
  EncodeQueue(const encoder::Encoder& encoder, EncodeQueueOptions options);
  ~EncodeQueue();  // shutdown()

  EncodeQueue(const EncodeQueue&) = delete;
  EncodeQueue& operator=(const EncodeQueue&) = delete;

  // Encodes `items` and blocks until done. One result per item, in order. ResourceExhausted when
  // the queue is full, Cancelled after shutdown(), the encoder's Status when an item fails (the
  // whole call fails then).
  Result<std::vector<Embedding>> encode(std::vector<EncodeItem> items);
  Result<Embedding> encode_one(EncodeItem item);

  // Stops the worker after the batch it is running; waiting and later calls fail with
  // Cancelled. Idempotent.
  void shutdown();

  EncodeQueueStats stats() const;
  const EncodeQueueOptions& options() const { return options_; }

 private:
  struct Request;
  struct Slot {
    std::shared_ptr<Request> request;
    size_t index = 0;
    EncodeItem item;
    std::chrono::steady_clock::time_point enqueued;
  };

  void run();
  void run_batch(std::vector<Slot>& batch);

  EncodeBatchFn encode_;
  EncodeQueueOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Slot> pending_;
  bool stopping_ = false;
  EncodeQueueStats stats_;
  std::mutex join_mutex_;  // serialises joining the worker between concurrent shutdown() calls
  std::thread worker_;
};

}  // namespace vista::engine

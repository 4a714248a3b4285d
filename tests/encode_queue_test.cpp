// EncodeQueue in front of the real tiny encoder: coalescing, results equal to direct calls,
// backpressure, failure isolation, shutdown.
#include "engine/encode_queue.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "encoder/model/encoder.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

std::filesystem::path tiny_model_dir() {
  return vista::testing::golden_dir() / "tiny-model";
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

// Holds the worker inside its encoder call until released, so a test can fill the queue.
class Gate {
 public:
  void wait_open() {
    std::unique_lock<std::mutex> lock(mutex_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void wait_until_blocked() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return waiting_ > 0; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

class EncodeQueueTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(vista::testing::golden_dir() / "golden.json")) return;
    auto loaded = encoder::Encoder::load(tiny_model_dir());
    ASSERT_TRUE(loaded.is_ok()) << loaded.status();
    encoder_ = *loaded;
  }
  static void TearDownTestSuite() { encoder_.reset(); }
  void SetUp() override { VISTA_REQUIRE_GOLDEN(); }

  static EncodeItem text(const std::string& t) { return EncodeItem{t, std::nullopt}; }
  static EncodeItem image(const std::string& file) {
    auto crop =
        encoder::load_crop(vista::testing::golden_dir() / "images" / file, encoder_->image_size());
    EXPECT_TRUE(crop.is_ok()) << crop.status();
    return EncodeItem{std::nullopt, crop.is_ok() ? *crop : encoder::RgbImage{}};
  }
  static std::vector<float> direct(const EncodeItem& item) {
    auto out = encode_items(*encoder_, {item});
    EXPECT_TRUE(out.is_ok()) << out.status();
    return out.is_ok() ? out->front().vector : std::vector<float>{};
  }

  static std::shared_ptr<const encoder::Encoder> encoder_;
};
std::shared_ptr<const encoder::Encoder> EncodeQueueTest::encoder_;

TEST_F(EncodeQueueTest, ConcurrentRequestsShareBatchesAndMatchDirectCalls) {
  // A long wait and a batch as large as the number of callers: released together, the callers
  // are coalesced into fewer encoder calls than requests.
  EncodeQueue queue(*encoder_, EncodeQueueOptions{8, 2000, 64});
  const std::vector<std::string> texts = {"a cat",        "a dog on a sofa",  "blue whale",
                                          "a red car",    "dragon",           "two people",
                                          "a small boat", "mountains at dawn"};
  std::promise<void> go;
  std::shared_future<void> start = go.get_future().share();
  std::vector<std::future<Result<Embedding>>> results;
  for (const auto& t : texts) {
    results.push_back(std::async(std::launch::async, [&queue, start, t] {
      start.wait();
      return queue.encode_one(text(t));
    }));
  }
  go.set_value();
  for (size_t i = 0; i < texts.size(); ++i) {
    auto r = results[i].get();
    ASSERT_TRUE(r.is_ok()) << r.status();
    EXPECT_EQ(r->vector.size(), 96u);
    EXPECT_GT(cosine(r->vector, direct(text(texts[i]))), 0.99999) << texts[i];
  }
  auto stats = queue.stats();
  EXPECT_EQ(stats.requests, 8);
  EXPECT_EQ(stats.items, 8);
  EXPECT_LT(stats.batches, 8) << "no request was coalesced";
  int64_t in_histogram = 0;
  for (size_t n = 1; n < stats.batch_sizes.size(); ++n)
    in_histogram += static_cast<int64_t>(n) * stats.batch_sizes[n];
  EXPECT_EQ(in_histogram, 8);
  EXPECT_EQ(stats.queued, 0);
}

TEST_F(EncodeQueueTest, MixedBatchOfOneCallKeepsOrder) {
  EncodeQueue queue(*encoder_, EncodeQueueOptions{4, 1, 64});
  std::vector<EncodeItem> items = {text("a dragon"), image("dragon02.png"), text("blue whale"),
                                   EncodeItem{"a logo", image("datawhale01.png").image}, text("x")};
  auto out = queue.encode(items);
  ASSERT_TRUE(out.is_ok()) << out.status();
  ASSERT_EQ(out->size(), items.size());
  for (size_t i = 0; i < items.size(); ++i)
    EXPECT_GT(cosine((*out)[i].vector, direct(items[i])), 0.99999) << i;
}

TEST_F(EncodeQueueTest, FullQueueRejectsWithResourceExhausted) {
  Gate gate;
  auto fn = [&](const std::vector<EncodeItem>& items) {
    gate.wait_open();
    return encode_items(*encoder_, items);
  };
  EncodeQueue queue(fn, EncodeQueueOptions{1, 0, 2});
  auto first = std::async(std::launch::async, [&] { return queue.encode_one(text("one")); });
  gate.wait_until_blocked();  // the worker holds "one"; the queue itself is empty
  auto second = std::async(std::launch::async, [&] { return queue.encode_one(text("two")); });
  auto third = std::async(std::launch::async, [&] { return queue.encode_one(text("three")); });
  // Wait until both are queued, then a fourth input exceeds max_queued = 2.
  while (queue.stats().queued < 2) std::this_thread::yield();
  auto rejected = queue.encode_one(text("four"));
  EXPECT_EQ(rejected.status().code(), StatusCode::kResourceExhausted) << rejected.status();
  gate.open();
  EXPECT_TRUE(first.get().is_ok());
  EXPECT_TRUE(second.get().is_ok());
  EXPECT_TRUE(third.get().is_ok());
  EXPECT_EQ(queue.stats().rejected, 1);
  EXPECT_EQ(queue.stats().max_queued_seen, 2);
}

TEST_F(EncodeQueueTest, ABadInputFailsOnlyItsOwnRequest) {
  Gate gate;
  auto fn = [&](const std::vector<EncodeItem>& items) {
    gate.wait_open();
    return encode_items(*encoder_, items);
  };
  EncodeQueue queue(fn, EncodeQueueOptions{8, 0, 64});
  auto blocker = std::async(std::launch::async, [&] { return queue.encode_one(text("first")); });
  gate.wait_until_blocked();
  // These three wait together and run as one batch; the middle one is not a valid crop.
  encoder::RgbImage wrong{10, 10, std::vector<uint8_t>(300, 128)};
  auto good1 = std::async(std::launch::async, [&] { return queue.encode_one(text("good one")); });
  while (queue.stats().queued < 1) std::this_thread::yield();
  auto bad = std::async(std::launch::async, [&] {
    return queue.encode_one(EncodeItem{std::nullopt, wrong});
  });
  while (queue.stats().queued < 2) std::this_thread::yield();
  auto good2 = std::async(std::launch::async, [&] { return queue.encode_one(text("good two")); });
  while (queue.stats().queued < 3) std::this_thread::yield();
  gate.open();
  EXPECT_TRUE(blocker.get().is_ok());
  auto g1 = good1.get();
  auto g2 = good2.get();
  auto b = bad.get();
  ASSERT_TRUE(g1.is_ok()) << g1.status();
  ASSERT_TRUE(g2.is_ok()) << g2.status();
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument) << b.status();
  EXPECT_GT(cosine(g1->vector, direct(text("good one"))), 0.99999);
  EXPECT_EQ(queue.stats().failed_items, 1);
  EXPECT_GE(queue.stats().failed_batches, 2);  // the shared batch, then the culprit alone
}

TEST_F(EncodeQueueTest, ShutdownCancelsWaitingRequests) {
  Gate gate;
  auto fn = [&](const std::vector<EncodeItem>& items) {
    gate.wait_open();
    return encode_items(*encoder_, items);
  };
  auto queue = std::make_unique<EncodeQueue>(fn, EncodeQueueOptions{1, 0, 16});
  auto running = std::async(std::launch::async, [&] { return queue->encode_one(text("a")); });
  gate.wait_until_blocked();
  auto waiting = std::async(std::launch::async, [&] { return queue->encode_one(text("b")); });
  while (queue->stats().queued < 1) std::this_thread::yield();
  auto stopper = std::async(std::launch::async, [&] { queue->shutdown(); });
  auto w = waiting.get();  // cancelled without waiting for the running batch
  EXPECT_EQ(w.status().code(), StatusCode::kCancelled) << w.status();
  gate.open();
  stopper.get();
  EXPECT_TRUE(running.get().is_ok());  // the batch already running completes
  auto after = queue->encode_one(text("c"));
  EXPECT_EQ(after.status().code(), StatusCode::kCancelled);
}

TEST_F(EncodeQueueTest, PrepareContentChecksItsInput) {
  auto empty = prepare_content(Content{}, {}, 224);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  Content both;
  both.image_bytes = "x";
  both.image_path = "/nonexistent.png";
  EXPECT_EQ(prepare_content(both, {}, 224).status().code(), StatusCode::kInvalidArgument);
  Content garbage;
  garbage.image_bytes = "this is not an image";
  EXPECT_EQ(prepare_content(garbage, {}, 224).status().code(), StatusCode::kUnsupported);
  Content missing;
  missing.image_path = "/nonexistent/picture.png";
  auto m = prepare_content(missing, {}, 224);
  EXPECT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("/nonexistent/picture.png"), std::string::npos) << m.status();
  Content file;
  file.image_path = vista::testing::golden_dir() / "images" / "edge" / "tiny_5x3.jpg";
  file.text = "caption";
  auto ok = prepare_content(file, {}, 224);
  ASSERT_TRUE(ok.is_ok()) << ok.status();
  ASSERT_TRUE(ok->image.has_value());
  EXPECT_EQ(ok->image->width, 224);
  EXPECT_EQ(ok->image->height, 224);
  EXPECT_EQ(ok->text, "caption");
}

}  // namespace
}  // namespace vista::engine

// api_load_client: a bounded load test of `vista serve` over HTTP on 127.0.0.1.
//
// It starts `vista serve` as a child process (fresh data directory, port 0), seeds a collection,
// then runs each workload for --seconds at 1, 4 and 16 concurrent clients (keep-alive
// connections, one request at a time per client):
//   text   POST /v1/collections/bench/search {"text": <one of 32 phrases>, "k": 10}
//   image  POST /v1/collections/bench/search {"image": <base64 of a golden photo>, "k": 10}
//   ingest POST /v1/collections/bench/documents, one document (a golden photo + caption) each
// and reports requests/s, p50 and p99 latency, and the mean encoder batch the server ran (from
// /metrics). The baseline, run in the same command after the server stops: the same calls made
// directly on an engine in this process (same model, threads and concurrency), i.e. the work
// without HTTP and JSON; the last column is the HTTP rate as a fraction of it. Then an overload
// run: a second server with small queues (8 workers, 8 pending connections, 4 queued encoder
// inputs) under 64 clients sending image searches; it reports how many requests were answered 200
// and 503 and the server's resident memory over the run.
//
// Without --model the base-size network with random weights is written to a temp folder first
// (0.8 GB; the arithmetic is the real model's). Offered load: 2 x 9 x --seconds + the overload
// run (defaults: 54 s + 6 s), plus model loading and finishing the requests in flight at each
// deadline.
//
//   build/benchmarks/api_load_client [--model DIR] [--seconds 3] [--clients 1,4,16]
//                                    [--dtype auto|fp32|bf16] [--overload-seconds 6]
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/base64.h"
#include "encoder/model/random_model.h"
#include "engine/engine.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

fs::path golden_dir() {
  if (const char* env = std::getenv("VISTA_GOLDEN_DIR"); env && *env) return env;
  return VISTA_DEFAULT_GOLDEN_DIR;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `vista serve` in a child process.
class Server {
 public:
  Server(const fs::path& vista, const std::vector<std::string>& args,
         const std::vector<std::string>& env_extra, const fs::path& log) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> argv_s = {vista.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), env_extra.begin(), env_extra.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0)
      throw std::runtime_error("cannot start " + vista.string());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    std::string seen;
    char buf[256];
    const auto deadline = Clock::now() + std::chrono::minutes(5);
    while (Clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
      auto pos = seen.find("listening on http://");
      auto nl = pos == std::string::npos ? pos : seen.find('\n', pos);
      if (nl != std::string::npos) {
        port_ = std::stoi(seen.substr(seen.rfind(':', nl) + 1));
        break;
      }
    }
    ::close(out[0]);
    if (port_ <= 0) throw std::runtime_error("the server did not start; see " + log.string());
  }
  ~Server() {
    ::kill(pid_, SIGTERM);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  int port() const { return port_; }
  // Resident and peak resident memory, in MiB, from /proc.
  std::pair<double, double> memory_mib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    double rss = 0, hwm = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("VmRSS:", 0) == 0) rss = std::stod(line.substr(6)) / 1024;
      if (line.rfind("VmHWM:", 0) == 0) hwm = std::stod(line.substr(6)) / 1024;
    }
    return {rss, hwm};
  }

 private:
  pid_t pid_ = -1;
  int port_ = -1;
};

std::unique_ptr<httplib::Client> client(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_read_timeout(300, 0);
  c->set_write_timeout(60, 0);
  c->set_keep_alive(true);
  // Headers and body go out in two writes; without this, Nagle's algorithm holds the body
  // until the server's delayed ACK (40 ms) and every request looks 40 ms slower.
  c->set_tcp_nodelay(true);
  return c;
}

// Encoder batches the server ran so far: (inputs, batches), from /metrics.
std::pair<double, double> encoder_batches(int port) {
  auto r = client(port)->Get("/metrics");
  double sum = 0, count = 0;
  if (!r) return {0, 0};
  std::istringstream lines(r->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("vista_encoder_batch_size_sum ", 0) == 0) sum = std::stod(line.substr(29));
    if (line.rfind("vista_encoder_batch_size_count ", 0) == 0) count = std::stod(line.substr(31));
  }
  return {sum, count};
}

struct RunResult {
  std::vector<double> latencies_ms;  // successful requests
  int64_t ok = 0, overloaded = 0, other = 0;
  double seconds = 0;
};

// `clients` threads each make a worker (their own connection or nothing) and call it with
// increasing request numbers until `seconds` have passed; a worker returns the HTTP status of
// its request (-1 for a transport failure). Requests running at the deadline finish and count.
using Worker = std::function<int(int64_t)>;
RunResult run(int clients, double seconds, const std::function<Worker(int)>& make_worker) {
  RunResult result;
  std::mutex mutex;
  std::atomic<int64_t> counter{0};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Worker worker = make_worker(t);
      std::vector<double> lat;
      int64_t ok = 0, overloaded = 0, other = 0;
      while (Clock::now() < deadline) {
        const auto t0 = Clock::now();
        const int status = worker(counter.fetch_add(1));
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (status == 200) {
          ++ok;
          lat.push_back(ms);
        } else if (status == 503) {
          ++overloaded;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else {
          ++other;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      result.latencies_ms.insert(result.latencies_ms.end(), lat.begin(), lat.end());
      result.ok += ok;
      result.overloaded += overloaded;
      result.other += other;
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  return result;
}

// A worker sending POST path+body over its own keep-alive connection.
Worker http_worker(int port,
                   std::function<std::pair<std::string, std::string>(int64_t)> make_request) {
  auto c = std::shared_ptr<httplib::Client>(client(port));
  return [c, port, make_request, failures = 0](int64_t i) mutable {
    auto [path, body] = make_request(i);
    auto r = c->Post(path.c_str(), body, "application/json");
    if (r) return r->status;
    if (++failures <= 2) std::cerr << "request failed: " << httplib::to_string(r.error()) << "\n";
    c = std::shared_ptr<httplib::Client>(client(port));
    return -1;
  };
}

// The HTTP status an engine call would have been answered with.
int status_of(const vista::Status& s) {
  if (s.is_ok()) return 200;
  if (s.code() == vista::StatusCode::kResourceExhausted) return 503;
  std::cerr << "engine call failed: " << s << "\n";
  return 500;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  size_t i = static_cast<size_t>(std::ceil(p * sorted.size())) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Bounded load test of vista serve on 127.0.0.1"};
  std::string model, dtype = "auto", vista_path, clients_list = "1,4,16";
  double seconds = 3, overload_seconds = 6;
  int threads = 0, overload_clients = 64;
  app.add_option("--model", model, "model directory (default: base-size random weights)");
  app.add_option("--vista", vista_path, "the vista binary (default: ../vista beside this one)");
  app.add_option("--seconds", seconds, "seconds per workload and concurrency")
      ->capture_default_str();
  app.add_option("--clients", clients_list, "concurrency levels")->capture_default_str();
  app.add_option("--dtype", dtype, "encoder compute path")->capture_default_str();
  app.add_option("--threads", threads, "encoder threads (0: all cores)")->capture_default_str();
  app.add_option("--overload-seconds", overload_seconds, "0 skips the overload run")
      ->capture_default_str();
  app.add_option("--overload-clients", overload_clients)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (vista_path.empty())
    vista_path = (fs::canonical("/proc/self/exe").parent_path().parent_path() / "vista").string();
  std::random_device rd;
  const fs::path scratch = fs::temp_directory_path() / ("vista-load-" + std::to_string(rd()));
  fs::create_directories(scratch);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{scratch};

  try {
    if (model.empty()) {
      const auto t0 = Clock::now();
      const fs::path dir = scratch / "base-random";
      const vista::Status written = vista::encoder::write_random_base_model(
          dir, golden_dir() / "tiny-model" / "vocab.txt");
      if (!written.is_ok()) throw std::runtime_error(written.to_string());
      model = dir.string();
      std::cerr << "wrote the base-size model with random weights in "
                << std::chrono::duration<double>(Clock::now() - t0).count() << " s\n";
    }
    std::vector<int> levels;
    {
      std::stringstream ss(clients_list);
      for (std::string v; std::getline(ss, v, ',');) levels.push_back(std::stoi(v));
    }

    // Payloads, made once so the client spends its time waiting, not encoding.
    std::vector<std::string> images;
    for (const auto& e : fs::directory_iterator(golden_dir() / "images"))
      if (e.is_regular_file()) images.push_back(e.path().string());
    std::sort(images.begin(), images.end());
    std::vector<std::string> image_bytes, image_b64;
    for (const auto& f : images) {
      image_bytes.push_back(read_bytes(f));
      image_b64.push_back(vista::api::base64_encode(image_bytes.back()));
    }
    const std::vector<std::string> phrases = {"a blue whale in the ocean",
                                              "the logo of an open source group",
                                              "a red house with a cat",
                                              "a dragon in the clouds",
                                              "a person walking on the beach",
                                              "city skyline at night",
                                              "a bowl of noodles",
                                              "two dogs playing in the snow",
                                              "a mountain lake at sunrise",
                                              "an old map of europe",
                                              "a bicycle leaning on a wall",
                                              "children reading books",
                                              "a plate of sushi",
                                              "a lighthouse in a storm",
                                              "autumn leaves in a park",
                                              "a chess board with pieces",
                                              "a robot toy on a desk",
                                              "a desert with dunes",
                                              "a rainy street in tokyo",
                                              "a violin on a chair",
                                              "fireworks over a river",
                                              "a green parrot",
                                              "a wooden bridge",
                                              "a cup of coffee with foam",
                                              "a train in the hills",
                                              "a castle on a hill",
                                              "a tiger in tall grass",
                                              "a snowy forest",
                                              "a sailboat at sea",
                                              "a market full of fruit",
                                              "a black and white photo of a street",
                                              "a close-up of a flower"};
    std::vector<std::string> text_bodies, image_bodies;
    for (const auto& p : phrases) text_bodies.push_back(json({{"text", p}, {"k", 10}}).dump());
    for (const auto& b : image_b64) image_bodies.push_back(json({{"image", b}, {"k", 10}}).dump());

    std::vector<std::string> args = {"serve",
                                     "--data",
                                     (scratch / "data").string(),
                                     "--model",
                                     model,
                                     "--port",
                                     "0",
                                     "--dtype",
                                     dtype,
                                     "--config",
                                     (scratch / "none.json").string()};
    if (threads > 0) {
      args.push_back("--threads");
      args.push_back(std::to_string(threads));
    }
    std::ofstream(scratch / "none.json") << "{}";
    const auto t_start = Clock::now();
    auto server = std::make_unique<Server>(fs::path(vista_path), args, std::vector<std::string>{},
                                           scratch / "serve.log");
    std::cerr << "server up in " << std::chrono::duration<double>(Clock::now() - t_start).count()
              << " s on port " << server->port() << "\n";
    const int port = server->port();
    {
      auto c = client(port);
      auto r = c->Post("/v1/collections", R"({"name": "bench"})", "application/json");
      if (!r || r->status != 201) throw std::runtime_error("cannot create the collection");
      json docs = json::array();
      for (size_t i = 0; i < phrases.size(); ++i)
        docs.push_back({{"id", "text-" + std::to_string(i)}, {"text", phrases[i]}});
      for (size_t i = 0; i < image_b64.size(); ++i)
        docs.push_back({{"id", "seed-" + std::to_string(i)}, {"image", image_b64[i]}});
      r = c->Post("/v1/collections/bench/documents", json({{"documents", docs}}).dump(),
                  "application/json");
      if (!r || r->status != 200) throw std::runtime_error("cannot seed the collection");
    }

    const std::string search_path = "/v1/collections/bench/search";
    const std::string docs_path = "/v1/collections/bench/documents";
    // Each workload as an HTTP request and as the same engine call made in-process (the
    // baseline: what the server does for it, without HTTP and JSON).
    struct Workload {
      const char* name;
      std::function<std::pair<std::string, std::string>(int64_t)> http;
      std::function<vista::Status(vista::engine::Engine&, int64_t)> direct;
    };
    // Every ingested document is new (a repeated id with the same content would be "unchanged"
    // and skip the encoder).
    std::atomic<int64_t> next_id{0};
    vista::engine::SearchOptions k10;
    k10.k = 10;
    const std::vector<Workload> workloads = {
        {"text search",
         [&](int64_t i) {
           return std::make_pair(search_path, text_bodies[i % text_bodies.size()]);
         },
         [&](vista::engine::Engine& e, int64_t i) {
           vista::engine::Query q;
           q.text = phrases[i % phrases.size()];
           return e.search("bench", q, k10).status();
         }},
        {"image search",
         [&](int64_t i) {
           return std::make_pair(search_path, image_bodies[i % image_bodies.size()]);
         },
         [&](vista::engine::Engine& e, int64_t i) {
           vista::engine::Query q;
           q.image_bytes = image_bytes[i % image_bytes.size()];
           return e.search("bench", q, k10).status();
         }},
        {"ingest (1 image + text per request)",
         [&](int64_t i) {
           json doc = {{"id", "load-" + std::to_string(next_id++)},
                       {"text", phrases[i % phrases.size()]},
                       {"image", image_b64[i % image_b64.size()]}};
           return std::make_pair(docs_path, json({{"documents", json::array({doc})}}).dump());
         },
         [&](vista::engine::Engine& e, int64_t i) {
           vista::engine::NewDocument d;
           d.id = "load-" + std::to_string(next_id++);
           d.text = phrases[i % phrases.size()];
           d.image_bytes = image_bytes[i % image_bytes.size()];
           vista::engine::AddOptions o;
           o.create_collection = false;
           auto r = e.add_documents("bench", {d}, o);
           if (r.is_ok() && r->failed > 0) return r->items[0].error;
           return r.status();
         }},
    };
    struct Cell {
      RunResult http, direct;
      double batch = NAN;
    };
    std::vector<std::vector<Cell>> cells(workloads.size(), std::vector<Cell>(levels.size()));
    for (size_t w = 0; w < workloads.size(); ++w) {
      for (size_t l = 0; l < levels.size(); ++l) {
        auto before = encoder_batches(port);
        cells[w][l].http =
            run(levels[l], seconds, [&](int) { return http_worker(port, workloads[w].http); });
        auto after = encoder_batches(port);
        const double batches = after.second - before.second;
        if (batches > 0) cells[w][l].batch = (after.first - before.first) / batches;
        std::cerr << workloads[w].name << " x" << levels[l] << " over HTTP: " << cells[w][l].http.ok
                  << " requests\n";
      }
    }
    auto [rss, hwm] = server->memory_mib();
    server.reset();

    // The baseline: the same calls on an engine in this process, the server stopped.
    {
      vista::engine::EngineOptions options;
      options.data_dir = scratch / "direct";
      options.model_dir = model;
      options.encoder_threads = threads;
      options.encoder_dtype = dtype;
      auto engine = vista::engine::Engine::open(options);
      if (!engine.is_ok()) throw std::runtime_error(engine.status().to_string());
      auto& e = **engine;
      if (auto c = e.create_collection("bench"); !c.is_ok())
        throw std::runtime_error(c.status().to_string());
      std::vector<vista::engine::NewDocument> seed;
      for (size_t i = 0; i < phrases.size(); ++i) {
        vista::engine::NewDocument d;
        d.id = "text-" + std::to_string(i);
        d.text = phrases[i];
        seed.push_back(d);
      }
      for (size_t i = 0; i < image_bytes.size(); ++i) {
        vista::engine::NewDocument d;
        d.id = "seed-" + std::to_string(i);
        d.image_bytes = image_bytes[i];
        seed.push_back(d);
      }
      if (auto r = e.add_documents("bench", seed); !r.is_ok())
        throw std::runtime_error(r.status().to_string());
      for (size_t w = 0; w < workloads.size(); ++w) {
        for (size_t l = 0; l < levels.size(); ++l) {
          cells[w][l].direct = run(levels[l], seconds, [&](int) -> Worker {
            return [&, w](int64_t i) { return status_of(workloads[w].direct(e, i)); };
          });
          std::cerr << workloads[w].name << " x" << levels[l]
                    << " in-process: " << cells[w][l].direct.ok << " requests\n";
        }
      }
    }

    std::printf(
        "| workload | clients | requests | req/s | p50 ms | p99 ms | mean encoder batch | "
        "in-process req/s | in-process p50 ms | HTTP / in-process req/s |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t w = 0; w < workloads.size(); ++w) {
      for (size_t l = 0; l < levels.size(); ++l) {
        const Cell& c = cells[w][l];
        const double http_qps = c.http.ok / c.http.seconds;
        const double direct_qps = c.direct.ok / c.direct.seconds;
        std::printf("| %s | %d | %lld%s | %.2f | %.1f | %.1f | %.2f | %.2f | %.1f | %.2f |\n",
                    workloads[w].name, levels[l], static_cast<long long>(c.http.ok),
                    c.http.overloaded + c.http.other > 0 ? " (some failed)" : "", http_qps,
                    percentile(c.http.latencies_ms, 0.5), percentile(c.http.latencies_ms, 0.99),
                    c.batch, direct_qps, percentile(c.direct.latencies_ms, 0.5),
                    direct_qps > 0 ? http_qps / direct_qps : NAN);
      }
    }
    std::printf("\nserver memory after the runs: RSS %.0f MiB, peak %.0f MiB\n", rss, hwm);
    std::fflush(stdout);

    if (overload_seconds > 0) {
      // Small queues so that the offered load exceeds what the server holds.
      std::vector<std::string> env = {"VISTA_HTTP_THREADS=8", "VISTA_MAX_PENDING_CONNECTIONS=8",
                                      "VISTA_ENCODER_MAX_QUEUED=4"};
      args[2] = (scratch / "data2").string();
      Server busy(fs::path(vista_path), args, env, scratch / "serve-overload.log");
      client(busy.port())->Post("/v1/collections", R"({"name": "bench"})", "application/json");
      std::atomic<bool> done{false};
      std::vector<std::pair<double, double>> samples;  // (seconds, RSS MiB)
      const auto t0 = Clock::now();
      std::thread sampler([&] {
        while (!done) {
          samples.emplace_back(std::chrono::duration<double>(Clock::now() - t0).count(),
                               busy.memory_mib().first);
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
      RunResult r = run(overload_clients, overload_seconds,
                        [&](int) { return http_worker(busy.port(), workloads[1].http); });
      done = true;
      sampler.join();
      std::printf(
          "\noverload: %d clients sending image searches for %.0f s to a server with 8 "
          "workers, 8 pending connections, 4 queued encoder inputs\n",
          overload_clients, overload_seconds);
      std::printf(
          "| answered 200 | answered 503 | errors | req/s (200) | p50 ms | p99 ms "
          "|\n|---|---|---|---|---|---|\n");
      std::printf("| %lld | %lld | %lld | %.2f | %.1f | %.1f |\n", static_cast<long long>(r.ok),
                  static_cast<long long>(r.overloaded), static_cast<long long>(r.other),
                  r.ok / r.seconds, percentile(r.latencies_ms, 0.5),
                  percentile(r.latencies_ms, 0.99));
      std::printf("server RSS (MiB) each second:");
      double next = 0;
      for (const auto& [t, m] : samples) {
        if (t >= next) {
          std::printf(" %.0f", m);
          next += 1;
        }
      }
      std::printf("\n");
      double first_half = 0, second_half = 0;
      for (const auto& [t, m] : samples) {
        if (t < overload_seconds / 2)
          first_half = std::max(first_half, m);
        else
          second_half = std::max(second_half, m);
      }
      std::printf(
          "server RSS: max %.0f MiB in the first half, %.0f MiB in the second half, peak "
          "%.0f MiB\n",
          first_half, second_half, busy.memory_mib().second);
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

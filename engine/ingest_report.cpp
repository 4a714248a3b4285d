#include "engine/ingest_report.h"

#include <chrono>
#include <ctime>

namespace vista::engine {

namespace fs = std::filesystem;
using nlohmann::json;

json ingest_progress_json(const IngestProgress& p) {
  return {{"total", p.total},         {"done", p.done},         {"ingested", p.inserted},
          {"updated", p.updated},     {"unchanged", p.unchanged}, {"failed", p.failed},
          {"skipped", p.skipped},     {"truncated", p.truncated}, {"elapsed_s", p.elapsed_seconds}};
}

json ingest_summary_json(const IngestSummary& s) {
  json j = ingest_progress_json(s);
  j["collection"] = s.collection;
  j["cancelled"] = s.cancelled;
  j["rate_per_s"] = s.encoded_per_second();
  j["count"] = s.collection_count;
  j["empty_source"] = s.empty_source;
  j["errors_report"] = s.errors_report ? json(s.errors_report->string()) : json(nullptr);
  json failures = json::array();
  for (const auto& f : s.first_failures) {
    json one = {{"source", f.source}, {"reason", f.reason}, {"code", f.code}};
    if (f.id) one["id"] = *f.id;
    failures.push_back(std::move(one));
  }
  j["first_failures"] = std::move(failures);
  // Which stage bounded the rate; absent when nothing was timed (nothing encoded or written).
  const IngestStages& st = s.stages;
  if (st.wall_seconds > 0)
    j["stages"] = {{"bounded_by", st.bounding_stage()},
                   {"prepare_threads", st.prepare_threads},
                   {"wall_s", st.wall_seconds},
                   {"seconds",
                    {{"reading", st.reading_seconds},
                     {"decoding", st.decoding_seconds},
                     {"encoding", st.encoding_seconds},
                     {"writing", st.writing_seconds}}},
                   {"busy",
                    {{"reading", st.busy("reading")},
                     {"decoding", st.busy("decoding")},
                     {"encoding", st.busy("encoding")},
                     {"writing", st.busy("writing")}}}};
  return j;
}

Result<IngestProgress> ingest_progress_from_json(const json& j) {
  IngestProgress p;
  try {
    p.total = j.at("total").get<int64_t>();
    p.done = j.at("done").get<int64_t>();
    p.inserted = j.at("ingested").get<int64_t>();
    p.updated = j.at("updated").get<int64_t>();
    p.unchanged = j.at("unchanged").get<int64_t>();
    p.failed = j.at("failed").get<int64_t>();
    p.skipped = j.at("skipped").get<int64_t>();
    p.truncated = j.at("truncated").get<int64_t>();
    p.elapsed_seconds = j.at("elapsed_s").get<double>();
  } catch (const json::exception& e) {
    return Status::invalid_argument(std::string("malformed ingestion progress: ") + e.what());
  }
  return p;
}

Result<IngestSummary> ingest_summary_from_json(const json& j) {
  VISTA_ASSIGN_OR_RETURN(IngestProgress progress, ingest_progress_from_json(j));
  IngestSummary s;
  static_cast<IngestProgress&>(s) = progress;
  try {
    s.collection = j.at("collection").get<std::string>();
    s.cancelled = j.at("cancelled").get<bool>();
    s.collection_count = j.at("count").get<int64_t>();
    s.empty_source = j.value("empty_source", false);
    if (j.contains("errors_report") && j["errors_report"].is_string())
      s.errors_report = j["errors_report"].get<std::string>();
    for (const auto& f : j.value("first_failures", json::array())) {
      IngestFailure one;
      one.source = f.at("source").get<std::string>();
      one.reason = f.at("reason").get<std::string>();
      one.code = f.at("code").get<std::string>();
      if (f.contains("id")) one.id = f["id"].get<std::string>();
      s.first_failures.push_back(std::move(one));
    }
    if (j.contains("stages")) {
      const json& st = j["stages"];
      s.stages.prepare_threads = st.at("prepare_threads").get<int>();
      s.stages.wall_seconds = st.at("wall_s").get<double>();
      const json& seconds = st.at("seconds");
      s.stages.reading_seconds = seconds.at("reading").get<double>();
      s.stages.decoding_seconds = seconds.at("decoding").get<double>();
      s.stages.encoding_seconds = seconds.at("encoding").get<double>();
      s.stages.writing_seconds = seconds.at("writing").get<double>();
    }
  } catch (const json::exception& e) {
    return Status::invalid_argument(std::string("malformed ingestion summary: ") + e.what());
  }
  return s;
}

Result<fs::path> default_errors_report(const fs::path& data_dir, const std::string& collection) {
  const fs::path dir = data_dir / "reports";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create " + dir.string() + ": " + ec.message());
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char name[96];
  std::snprintf(name, sizeof name, "-%03lld.jsonl", static_cast<long long>(ms));
  return dir / ("ingest-" + collection + "-" + stamp + name);
}

}  // namespace vista::engine

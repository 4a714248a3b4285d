// How an ingestion run is reported: the JSON forms of its progress and summary (the same for
// `vista ingest --json`, for the server's streamed ingestion and for the CLI reading that
// stream back), and where its errors report goes by default.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/ingestor.h"

namespace vista::engine {

// {"total", "done", "ingested", "updated", "unchanged", "failed", "skipped", "truncated",
//  "elapsed_s"}
nlohmann::json ingest_progress_json(const IngestProgress& progress);
// The above plus {"collection", "cancelled", "rate_per_s", "count", "errors_report",
// "first_failures": [{"source", "id"?, "reason", "code"}]}.
nlohmann::json ingest_summary_json(const IngestSummary& summary);

// The inverse of the two above; InvalidArgument naming the field for a malformed object.
Result<IngestProgress> ingest_progress_from_json(const nlohmann::json& j);
Result<IngestSummary> ingest_summary_from_json(const nlohmann::json& j);

// DATA/reports/ingest-<collection>-<UTC time>.jsonl: where failures go when the caller named no
// errors file. The folder is created; its name can never be a collection's.
Result<std::filesystem::path> default_errors_report(const std::filesystem::path& data_dir,
                                                   const std::string& collection);

}  // namespace vista::engine

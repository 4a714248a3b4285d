// DataClient: the one door to a data directory for `vista` commands.
//
// Every data command is a REST call (docs/api.md). When a server holds the data directory
// (DATA/server.json names a live process that answers, api/server_advert.h) the call goes to it
// over HTTP, carrying the directory's local token; otherwise it runs in this process through
// the same routes (api/in_process.h). Either way the command gets the REST response, so its
// output and exit status do not depend on whether a server is running. docs/cli.md ("One data
// directory, many commands") describes it for users.
//
// Thread-safety: one thread at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/in_process.h"
#include "api/server_advert.h"
#include "cli/engine_args.h"
#include "common/status.h"

namespace vista::cli {

using QueryParams = std::multimap<std::string, std::string>;

// The Status a failed REST call stands for (404 -> NotFound, 409 -> FailedPrecondition, ...),
// with the server's message; exit_code_for() turns it into the exit status.
Status status_for_http(int http_status, const std::string& message);

class DataClient {
 public:
  // The server holding `args.data_dir` when one runs, else an in-process API over it (with the
  // model when `with_model`; `must_exist`: the data directory must exist already).
  static Result<std::unique_ptr<DataClient>> open(const EngineArgs& args, bool with_model,
                                                  bool must_exist);
  ~DataClient();

  // One JSON call. The response body on 2xx; otherwise the error (status_for_http).
  Result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const QueryParams& query = {},
                              const std::optional<nlohmann::json>& body = std::nullopt);

  // A call whose response is a stream of JSON lines (ingestion): `on_line` gets each line;
  // `keep_going` is polled between lines and returning false stops the work early (the server
  // finishes its current batch and keeps what was done).
  Status stream(const std::string& path, const nlohmann::json& body,
                const std::function<void(const nlohmann::json&)>& on_line,
                const std::function<bool()>& keep_going);

  // "http://127.0.0.1:8080" when the calls go to a server, else empty.
  const std::string& server_url() const { return server_url_; }

  // Closes the in-process engine (index snapshots); nothing for a server. Idempotent.
  Status close();

 private:
  DataClient() = default;
  std::optional<api::ServerAdvert> advert_;
  std::unique_ptr<api::InProcessApi> local_;
  std::string server_url_;
};

// A command's one REST call through the one door: opens it (DataClient::open), calls, closes.
// The response body, or the first failure of the three.
Result<nlohmann::json> call_once(const EngineArgs& args, bool with_model, bool must_exist,
                                 const std::string& method, const std::string& path,
                                 const QueryParams& query = {},
                                 const std::optional<nlohmann::json>& body = std::nullopt);

// The JSON of a `--filter` option (docs/filters.md): nullopt when it is empty, InvalidArgument
// when it is not JSON. The server compiles and checks the filter itself.
Result<std::optional<nlohmann::json>> filter_option(const std::string& text);

// "/v1/collections/<name>" with the name percent-encoded, plus `rest`.
std::string collection_path(const std::string& name, const std::string& rest = "");

}  // namespace vista::cli

// `vista serve`: the REST API (api/server.h) until SIGINT/SIGTERM.
#include <filesystem>
#include <memory>

#include "api/server.h"
#include "api/settings.h"
#include "cli/command.h"
#include "cli/engine_args.h"
#include "common/logging.h"

namespace {

struct ServeArgs {
  std::string data_dir;
  std::string model_dir;
  std::string host;
  int port = 0;
  std::string config;
  int threads = -1;
  std::string dtype;
  std::string device = "cpu";
  CLI::Option* device_opt = nullptr;
  CLI::Option* host_opt = nullptr;
  CLI::Option* port_opt = nullptr;
  CLI::Option* config_opt = nullptr;
  CLI::Option* threads_opt = nullptr;
  CLI::Option* dtype_opt = nullptr;
};

vista::Result<vista::api::ServerSettings> build_settings(const ServeArgs& a) {
  vista::api::ServerSettings s;
  // Defaults < config file < environment < flags.
  if (a.config_opt->count() > 0) {
    VISTA_RETURN_IF_ERROR(vista::api::apply_config_file(a.config, &s));
  } else {
    vista::Status st = vista::api::apply_config_file(vista::api::kDefaultConfigPath, &s);
    if (st.code() == vista::StatusCode::kNotFound) {
      spdlog::info("no {} here; using built-in defaults", vista::api::kDefaultConfigPath);
    } else {
      VISTA_RETURN_IF_ERROR(st);
    }
  }
  VISTA_RETURN_IF_ERROR(vista::api::apply_environment(&s));
  if (a.host_opt->count() > 0) s.host = a.host;
  if (a.port_opt->count() > 0) s.port = a.port;
  if (a.threads_opt->count() > 0) s.encoder_threads = a.threads;
  if (a.dtype_opt->count() > 0) s.encoder_dtype = a.dtype;
  if (a.device_opt->count() > 0) s.encoder_device = a.device;
  s.data_dir = a.data_dir;
  if (!a.model_dir.empty()) {
    s.model_dir = a.model_dir;
  } else if (const char* env = std::getenv("VISTA_MODEL"); env && *env) {
    s.model_dir = env;
  } else if (std::error_code ec; std::filesystem::is_directory(vista::cli::kDefaultModelDir, ec)) {
    s.model_dir = vista::cli::kDefaultModelDir;
  } else {
    spdlog::warn(
        "no model (--model DIR, VISTA_MODEL or {}): serving stored collections only; "
        "text and image queries and adding documents will be refused",
        vista::cli::kDefaultModelDir);
  }
  return s;
}

vista::cli::CommandRunner setup_serve(CLI::App& sub) {
  auto a = std::make_shared<ServeArgs>();
  sub.add_option("--data", a->data_dir, "data directory (holds the collections)")->required();
  sub.add_option("--model", a->model_dir,
                 std::string("model directory (default: $VISTA_MODEL, else ") +
                     vista::cli::kDefaultModelDir + " when it exists)");
  a->host_opt = sub.add_option("--host", a->host, "address to bind (default 127.0.0.1)");
  a->port_opt = sub.add_option("--port", a->port, "port (default 8080; 0 = any free port)")
                    ->check(CLI::Range(0, 65535));
  a->config_opt = sub.add_option(
      "--config", a->config,
      std::string("settings file (default ") + vista::api::kDefaultConfigPath + " when it exists)");
  a->threads_opt = sub.add_option("--threads", a->threads, "encoder threads (default: all cores)")
                       ->check(CLI::NonNegativeNumber);
  a->dtype_opt = sub.add_option("--dtype", a->dtype, vista::cli::kDtypeHelp)
                     ->check(CLI::IsMember(vista::encoder::dtype_choices()));
  a->device_opt = vista::cli::add_device_option(sub, a->device);
  return [a]() {
    auto settings = build_settings(*a);
    if (!settings.is_ok()) return vista::cli::report_failure(settings.status());
    vista::Status s = vista::api::run_until_signalled(*settings);
    if (!s.is_ok()) return vista::cli::report_failure(s);
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(serve, "serve", "Serve the REST API (docs/api.md) until SIGINT/SIGTERM",
                       setup_serve);

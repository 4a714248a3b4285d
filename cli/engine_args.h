// Options shared by the subcommands that open a data directory (and maybe a model): --data,
// --model, --threads, --dtype, and how they become an engine::Engine.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "encoder/model/compute_mode.h"
#include "cli/device_option.h"
#include "engine/engine.h"

namespace vista::cli {

inline constexpr const char* kDefaultModelDir = "models/bge-visualized-base-en-v1.5";

// $VISTA_MODEL, else models/bge-visualized-base-en-v1.5 (relative to the working directory).
inline std::filesystem::path default_model_dir() {
  if (const char* env = std::getenv("VISTA_MODEL"); env && *env) return env;
  return kDefaultModelDir;
}

// --model for the commands that load the model themselves (embed, compare, tokenize, bench
// encoder); empty means model_or_default().
inline CLI::Option* add_model_option(CLI::App& sub, std::string& model) {
  return sub.add_option("--model", model,
                        std::string("model directory (default: $VISTA_MODEL or ") +
                            kDefaultModelDir + ")");
}
inline std::string model_or_default(const std::string& model) {
  return model.empty() ? default_model_dir().string() : model;
}

// --dtype, the same for every command.
inline CLI::Option* add_dtype_option(CLI::App& sub, std::string& dtype) {
  return sub
      .add_option("--dtype", dtype,
                  "encoder compute path: auto (= fp32), fp32 (exact), bf16 (fast), fp16 (fast, "
                  "CUDA only) or eager (plain libtorch)")
      ->check(CLI::IsMember(encoder::dtype_choices()))
      ->capture_default_str();
}
// "auto" is the encoder's default compute path, fp32.
inline std::string concrete_dtype(const std::string& dtype) {
  return dtype == "auto" ? "fp32" : dtype;
}

struct EngineArgs {
  std::string data_dir;
  std::string model_dir;  // empty: default_model_dir()
  int threads = 0;        // encoder intra-op threads; 0 = libtorch's default
  std::string dtype = "auto";
  std::string device = "cpu";

  CLI::Option* add_data(CLI::App& sub, bool required = true) {
    return sub.add_option("--data", data_dir, "data directory (holds the collections)")
        ->required(required);
  }
  void add_model(CLI::App& sub) {
    sub.add_option(
        "--model", model_dir,
        std::string("model directory (default: $VISTA_MODEL or ") + kDefaultModelDir + ")");
    sub.add_option("--threads", threads, "encoder threads (default: one per physical core)")
        ->check(CLI::NonNegativeNumber);
    sub.add_option("--dtype", dtype, kDtypeHelp)
        ->check(CLI::IsMember(encoder::dtype_choices()))
        ->capture_default_str();
    add_device_option(sub, device);
  }

  std::filesystem::path model_path() const {
    return model_dir.empty() ? default_model_dir() : std::filesystem::path(model_dir);
  }

  // Cheap checks to run before open() loads a model (seconds, most of a gigabyte): the
  // collection exists, a named input file exists. NotFound naming what is missing.
  Status check_collection(const std::string& name) const {
    std::error_code ec;
    if (!std::filesystem::is_directory(data_dir, ec))
      return Status::not_found("data directory " + data_dir + " does not exist");
    return engine::Catalog::check_exists(data_dir, name);
  }
  static Status check_file(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      return Status::not_found(what + " " + path + " does not exist or is not a file");
    return Status::ok();
  }

  // Opens the engine; with `with_model`, loads the model too. `must_exist`: the data directory
  // must exist already (read-only commands should not create one by accident).
  Result<std::unique_ptr<engine::Engine>> open(bool with_model, bool must_exist) const {
    std::error_code ec;
    if (must_exist && !std::filesystem::is_directory(data_dir, ec))
      return Status::not_found("data directory " + data_dir + " does not exist");
    engine::EngineOptions options;
    options.data_dir = data_dir;
    if (with_model) {
      options.model_dir = model_path();
      options.encoder_threads = threads;
      options.encoder_dtype = dtype;
      options.encoder_device = device;
    }
    return engine::Engine::open(options);
  }
};

}  // namespace vista::cli

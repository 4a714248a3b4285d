// `vista inspect-checkpoint FILE [--json]`: what a weights file holds, read without Python.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/command.h"
#include "common/logging.h"
#include "encoder/checkpoint/checkpoint.h"

namespace {

std::string shape_string(const torch::Tensor& t) {
  std::ostringstream os;
  os << "[";
  for (int64_t d = 0; d < t.dim(); ++d) os << (d ? ", " : "") << t.size(d);
  os << "]";
  return os.str();
}

vista::cli::CommandRunner setup_inspect_checkpoint(CLI::App& sub) {
  auto file = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  sub.add_option("FILE", *file, "a .pth (torch.save) or .safetensors weights file")->required();
  sub.add_flag("--json", *as_json,
               "print {\"tensors\": {name: {\"shape\", \"dtype\"}}, \"parameters\": N, "
               "\"format\": ...}");
  return [file, as_json]() {
    const auto start = std::chrono::steady_clock::now();
    auto checkpoint = vista::encoder::read_checkpoint(*file);
    if (!checkpoint.is_ok()) return vista::cli::report_failure(checkpoint.status());
    spdlog::debug("read {} tensors from {} in {:.3f} s", checkpoint->size(), *file,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

    if (*as_json) {
      nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
      for (const auto& [name, t] : checkpoint->tensors()) {
        tensors[name] = {{"shape", t.sizes().vec()},
                         {"dtype", vista::encoder::torch_dtype_name(t.scalar_type())}};
      }
      nlohmann::ordered_json j = {{"tensors", std::move(tensors)},
                                  {"parameters", checkpoint->parameter_count()},
                                  {"format", checkpoint->format()}};
      std::cout << j.dump() << "\n";
      return 0;
    }

    size_t name_width = 4;
    size_t shape_width = 5;
    for (const auto& [name, t] : checkpoint->tensors()) {
      name_width = std::max(name_width, name.size());
      shape_width = std::max(shape_width, shape_string(t).size());
    }
    auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
      std::cout << a << std::string(name_width - a.size() + 2, ' ') << b
                << std::string(shape_width - b.size() + 2, ' ') << c << "\n";
    };
    row("name", "shape", "dtype");
    for (const auto& [name, t] : checkpoint->tensors()) {
      row(name, shape_string(t), vista::encoder::torch_dtype_name(t.scalar_type()));
    }
    std::cout << checkpoint->size() << " tensors, " << checkpoint->parameter_count()
              << " parameters (" << checkpoint->format() << ")\n";
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(inspect_checkpoint, "inspect-checkpoint",
                       "List the tensors (name, shape, dtype) of a .pth or .safetensors file",
                       setup_inspect_checkpoint);

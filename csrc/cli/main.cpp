// The lowbit command line. Sub-commands (train, eval, summary, ...) register here as they land.
#include <lowbit/lowbit.h>

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

std::string version_text() {
  std::string text = "lowbit " LOWBIT_VERSION " (LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
                     std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH) + ", CUDA kernels ";
  text += lowbit::built_with_cuda() ? "built" : "not built";
  text += torch::cuda::is_available() ? ", CUDA device available)" : ", no CUDA device)";
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowbit: train low-bit and binary neural networks with LibTorch", "lowbit"};
  app.set_version_flag("--version", version_text);
  app.require_subcommand(0, 1);

  auto* quantizers = app.add_subcommand("quantizers", "List the quantizers a recipe can name");
  quantizers->callback([] {
    for (const auto& name : lowbit::quant::registered_quantizers()) std::cout << name << "\n";
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
  }
  return 0;
}

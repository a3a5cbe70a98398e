// Model kind "process": the model is an external program, run once per
// predict call in a child process. It is the native counterpart of the
// reference system's isolated model containers: a model written in any
// language becomes a learnware by speaking this protocol.
//
// Protocol "lwdock-predict v1" (CSV over stdin/stdout, ASCII, '\n' line ends):
//   stdin   the dock writes the header line
//             lwdock-predict v1 <rows> <input_dim>
//           then <rows> lines of <input_dim> comma-separated numbers, each
//           printed so that it parses back to the same double (shortest
//           round-trip form, e.g. 0.1, -3, 1e-300), then closes stdin.
//   stdout  the model writes exactly <rows> lines, each <output_dim> numbers
//           separated by commas (spaces around numbers and a trailing '\r'
//           are tolerated; a final empty line is ignored), and exits 0.
//           Every number must be finite. Row i of the output answers row i of
//           the input. Output beyond 1 MiB + 64 bytes per expected value is
//           refused (the process is killed).
//   stderr  free-form; its last 4 KiB are quoted in error messages.
// A model that does not need all of stdin may exit without reading it.
//
// Execution (engine/model/sandbox.h; docs/DESIGN.md, "Model sandbox"):
//   argv        config.command, run directly (no shell). argv[0] is a path
//               relative to the package root, or an absolute path of a
//               system program; a bare name (no '/') that is not a file in
//               the package root is looked up in the sandbox's PATH
//               (/usr/local/bin:/usr/bin:/bin), so ["python3", "predict.py"]
//               works.
//   sandbox     config.sandbox (the dock's SandboxLimits): new namespaces,
//               the package read-only at /package, a private tmpfs at /tmp,
//               no network, rlimits; everything the command started is
//               killed when it exits.
//   directory   the package root (/package).
//   environment only LWDOCK_PACKAGE_ROOT=/package, PATH, HOME=/tmp and
//               TMPDIR=/tmp.
//   limits      config.timeout_seconds of wall-clock time per call, clamped
//               to config.sandbox.wall_seconds_cap; on expiry every process of
//               the run is killed (SIGKILL) and reaped.
// With config.sandbox.unsandboxed (development only) the command runs as a
// plain child in its own process group, with the dock's environment plus
// LWDOCK_PACKAGE_ROOT=<package root>, and bare names use the dock's PATH.
// Failures (lwd::Error naming the command): not found / not executable,
// non-zero exit (with the code), killed by a signal, timeout, wrong number of
// rows or columns, non-numeric or non-finite output, output too large.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.h"
#include "kernels/matrix.h"

namespace lwd {

class ProcessModel final : public Model {
 public:
  static constexpr std::string_view kKind = "process";
  // Per-call cap on what the model may write to stdout, beyond the budget of
  // 64 bytes per expected value.
  static constexpr std::size_t kOutputSlackBytes = std::size_t{1} << 20;
  static constexpr std::size_t kStderrTailBytes = 4096;

  // Resolves the command and checks the config (non-empty command, an
  // executable argv[0] the sandbox can see, input_dim and output_dim >= 1, a
  // finite timeout > 0, valid sandbox limits); throws lwd::Error otherwise.
  // Runs nothing.
  ProcessModel(const ModelConfig& config, const std::filesystem::path& package_root);

  std::string_view kind() const override { return kKind; }
  TaskType task() const override { return task_; }
  std::int64_t input_dim() const override { return input_dim_; }
  std::int64_t output_dim() const override { return output_dim_; }
  // Runs the command once on all rows. Safe to call from several threads
  // (each call has its own child). Zero rows return an empty result without
  // running the command.
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

  const std::filesystem::path& executable() const { return executable_; }
  const std::vector<std::string>& argv() const { return argv_; }
  double timeout_seconds() const { return timeout_seconds_; }  // as configured, before the dock's cap
  const SandboxLimits& sandbox_limits() const { return limits_; }

 private:
  std::filesystem::path package_root_;
  std::filesystem::path executable_;  // resolved argv[0]
  std::vector<std::string> argv_;     // as configured
  TaskType task_;
  std::int64_t input_dim_;
  std::int64_t output_dim_;
  double timeout_seconds_;
  SandboxLimits limits_;
};

}  // namespace lwd

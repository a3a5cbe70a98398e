#include "engine/model/process_model.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "engine/error.h"
#include "engine/model/package_paths.h"
#include "engine/model/sandbox.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

// The request text, produced a chunk at a time so a large input never sits
// in memory twice.
class RequestWriter final : public SandboxInput {
 public:
  RequestWriter(kernels::ConstMatrixView<double> x) : x_(x) {
    text_ = "lwdock-predict v1 " + std::to_string(x.rows) + " " + std::to_string(x.cols) + "\n";
  }

  // Bytes not yet written; refilled from the next rows when drained.
  std::string_view pending() override {
    if (offset_ == text_.size() && next_row_ < x_.rows) refill();
    return std::string_view(text_).substr(offset_);
  }
  void consume(std::size_t n) override { offset_ += n; }

 private:
  void refill() {
    constexpr std::size_t kChunkBytes = 1 << 18;
    text_.clear();
    offset_ = 0;
    char number[32];
    while (next_row_ < x_.rows && text_.size() < kChunkBytes) {
      const double* row = x_.row(next_row_++);
      for (std::int64_t j = 0; j < x_.cols; ++j) {
        if (j > 0) text_.push_back(',');
        const auto end = std::to_chars(number, number + sizeof number, row[j]).ptr;
        text_.append(number, end);
      }
      text_.push_back('\n');
    }
  }

  kernels::ConstMatrixView<double> x_;
  std::string text_;
  std::size_t offset_ = 0;
  std::int64_t next_row_ = 0;
};

std::string quote_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out.push_back(' ');
    out += arg;
  }
  return "process model `" + out + "`";
}

std::string stderr_note(const std::string& tail, bool truncated) {
  auto text = tail;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return "";
  return std::string("; its stderr") + (truncated ? " (last 4 KiB)" : "") + ":\n" + text;
}

std::string number_text(double value) {
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
}

std::string signal_text(int sig) {
  const char* name = sigabbrev_np(sig);
  const char* description = sigdescr_np(sig);
  std::string out = "signal " + std::to_string(sig);
  if (name != nullptr) out += std::string(" (SIG") + name + (description ? std::string(": ") + description : "") + ")";
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

kernels::Matrix<double> parse_output(std::string_view text, std::int64_t rows, std::int64_t cols,
                                     const std::string& context) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    lines.push_back(text.substr(0, newline));
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  if (static_cast<std::int64_t>(lines.size()) != rows)
    throw Error(context + " wrote " + std::to_string(lines.size()) + " lines to stdout, expected " +
                std::to_string(rows) + " (one per input row)");

  kernels::Matrix<double> out(rows, cols);
  for (std::int64_t i = 0; i < rows; ++i) {
    std::string_view line = lines[static_cast<std::size_t>(i)];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::int64_t count = 0;
    const auto where = [&] { return " on output line " + std::to_string(i + 1); };
    for (std::string_view rest = line;;) {
      const auto comma = rest.find(',');
      std::string_view field = trim(rest.substr(0, comma));
      if (!(line.empty() && count == 0)) {
        if (count >= cols)
          throw Error(context + " wrote more than " + std::to_string(cols) + " values" + where() + ", expected " +
                      std::to_string(cols) + " (output_dim)");
        if (field.size() > 1 && field.front() == '+') field.remove_prefix(1);
        double value = 0.0;
        const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
        if (field.empty() || ec != std::errc() || ptr != field.data() + field.size())
          throw Error(context + " wrote \"" + std::string(field.substr(0, 40)) + "\"" + where() + ", value " +
                      std::to_string(count + 1) + ": not a number");
        if (!std::isfinite(value))
          throw Error(context + " wrote the non-finite value \"" + std::string(field) + "\"" + where() + ", value " +
                      std::to_string(count + 1));
        out(i, count++) = value;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (count != cols)
      throw Error(context + " wrote " + std::to_string(count) + " values" + where() + ", expected " +
                  std::to_string(cols) + " (output_dim)");
  }
  return out;
}

bool is_executable_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

fs::path find_in_path(const std::string& name, std::string_view dirs) {
  while (true) {
    const auto colon = dirs.find(':');
    const auto dir = dirs.substr(0, colon);
    const fs::path candidate = fs::path(dir.empty() ? "." : std::string(dir)) / name;
    if (is_executable_file(candidate)) return fs::absolute(candidate);
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

std::string limit_note(const SandboxLimits& limits) {
  if (limits.unsandboxed) return "";
  return " (sandbox limits: " + std::to_string(limits.address_space_bytes >> 20) + " MiB of address space, " +
         std::to_string(limits.processes) + " processes, " + std::to_string(limits.cpu_seconds) + " s of CPU)";
}

}  // namespace

ProcessModel::ProcessModel(const ModelConfig& config, const fs::path& package_root)
    : argv_(config.command),
      task_(config.task),
      input_dim_(config.input_dim),
      output_dim_(config.output_dim),
      timeout_seconds_(config.timeout_seconds),
      limits_(config.sandbox) {
  if (argv_.empty() || argv_.front().empty())
    throw Error("process model: the manifest gives no command (model.command must list the program and its arguments)");
  const std::string context = quote_command(argv_);
  if (input_dim_ < 1) throw Error(context + ": input_dim must be >= 1, got " + std::to_string(input_dim_));
  if (output_dim_ < 1) throw Error(context + ": output_dim must be >= 1, got " + std::to_string(output_dim_));
  if (task_ == TaskType::kClassification && output_dim_ < 2)
    throw Error(context + ": a classifier needs output_dim >= 2 (one score column per class), got " +
                std::to_string(output_dim_));
  validate_sandbox_limits(limits_);
  // Refuses what no clamp can fix (inf, nan, <= 0); a finite value above the
  // dock's cap is clamped when the model runs.
  sandbox_wall_seconds(timeout_seconds_, limits_, context);

  std::error_code ec;
  package_root_ = fs::absolute(package_root, ec).lexically_normal();
  if (ec || !fs::is_directory(package_root_, ec))
    throw Error(context + ": package root \"" + package_root.string() + "\" is not a directory");

  const fs::path program(argv_.front());
  if (program.is_absolute()) {
    executable_ = program;
  } else if (argv_.front().find('/') != std::string::npos) {
    executable_ = model_detail::resolve_inside_package(package_root_, program, "command");
  } else if (fs::exists(package_root_ / program, ec)) {
    executable_ = package_root_ / program;
  } else {
    // A sandboxed model sees only the sandbox's PATH, so that is where a bare
    // name is looked up; unsandboxed, the dock's own.
    const char* dock_path = std::getenv("PATH");
    const std::string_view dirs =
        limits_.unsandboxed ? (dock_path != nullptr ? dock_path : kSandboxPath) : kSandboxPath;
    executable_ = find_in_path(argv_.front(), dirs);
    if (executable_.empty())
      throw Error(context + ": command \"" + argv_.front() + "\" is neither a file in the package root (" +
                  package_root_.string() + ") nor a program on PATH (" + std::string(dirs) + ")");
  }
  if (!fs::exists(executable_, ec)) throw Error(context + ": command not found: " + executable_.string());
  if (!is_executable_file(executable_))
    throw Error(context + ": " + executable_.string() + " is not an executable file (is its execute bit set?)");
  const auto inside = executable_.lexically_relative(package_root_);
  const bool in_package = !inside.empty() && *inside.begin() != "..";
  if (!limits_.unsandboxed && !in_package && !visible_in_sandbox(executable_))
    throw Error(context + ": " + executable_.string() +
                " is outside both the package and the system folders the model sandbox shows (/usr, /etc, /bin, "
                "/lib...)");
}

kernels::Matrix<double> ProcessModel::predict(kernels::ConstMatrixView<double> x) const {
  const std::string context = quote_command(argv_);
  if (x.cols != input_dim_)
    throw Error(context + ": input has " + std::to_string(x.cols) + " columns but the model takes " +
                std::to_string(input_dim_));
  if (x.rows == 0) return kernels::Matrix<double>(0, output_dim_);

  SandboxCommand command;
  command.executable = executable_;
  command.argv = argv_;
  command.package_root = package_root_;
  command.timeout_seconds = timeout_seconds_;
  command.context = context;
  const std::size_t output_cap =
      kOutputSlackBytes + static_cast<std::size_t>(x.rows) * static_cast<std::size_t>(output_dim_) * 64;
  RequestWriter request(x);
  const SandboxRun run = run_sandboxed(command, limits_, request, output_cap);

  const std::string note = stderr_note(run.stderr_tail, run.stderr_truncated);
  switch (run.end) {
    case SandboxRun::End::kTimedOut: {
      std::string limit = number_text(run.wall_seconds) + " s (timeout_seconds";
      if (run.wall_seconds < timeout_seconds_)
        limit += " " + number_text(timeout_seconds_) + ", capped by the dock at " + number_text(run.wall_seconds);
      throw Error(context + ": timed out after " + limit + "); every process of the run was killed" + note);
    }
    case SandboxRun::End::kOutputTooLarge:
      throw Error(context + " wrote more than " + std::to_string(output_cap) + " bytes to stdout for " +
                  std::to_string(x.rows) + " rows of " + std::to_string(output_dim_) +
                  " values; output refused as too large");
    case SandboxRun::End::kSignaled:
      throw Error(context + " was killed by " + signal_text(run.signal) + limit_note(limits_) + note);
    case SandboxRun::End::kExited:
      if (run.exit_code != 0)
        throw Error(context + " exited with code " + std::to_string(run.exit_code) + limit_note(limits_) + note);
      break;
  }
  return parse_output(run.stdout_text, x.rows, output_dim_, context);
}

}  // namespace lwd

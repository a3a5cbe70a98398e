// The "process" model kind: small shell/awk models written into a scratch
// package, run through the lwdock-predict v1 protocol.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/process_model.h"
#include "tests/model/model_test_util.h"

namespace lwd {
namespace {

using kernels::Matrix;
using test::expect_error_mentions;
using test::ScratchDir;

// Reads the header, then prints each row's sum (awk streams: it answers while
// the dock is still writing).
constexpr const char* kRowSumScript = R"(#!/bin/bash
awk -F, 'NR == 1 { if ($0 !~ /^lwdock-predict v1 [0-9]+ [0-9]+$/) exit 9; next }
         { s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.17g\n", s }'
)";

ModelConfig process_config(std::vector<std::string> command, std::int64_t input_dim, std::int64_t output_dim,
                           double timeout_seconds = 30.0) {
  ModelConfig config;
  config.kind = "process";
  config.task = TaskType::kRegression;
  config.input_dim = input_dim;
  config.output_dim = output_dim;
  config.command = std::move(command);
  config.timeout_seconds = timeout_seconds;
  return config;
}

Matrix<double> random_rows(std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(-10, 10);
  Matrix<double> m(rows, cols);
  for (auto& v : m.values()) v = uniform(rng);
  return m;
}

void expect_row_sums(const Matrix<double>& x, const Matrix<double>& out) {
  ASSERT_EQ(out.rows(), x.rows());
  ASSERT_EQ(out.cols(), 1);
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < x.cols(); ++j) sum += x(i, j);
    EXPECT_NEAR(out(i, 0), sum, 1e-9 * (1 + std::abs(sum)));
  }
}

TEST(ProcessModel, RowSumScriptAnswersEveryRow) {
  ScratchDir package;
  package.write("sum.sh", kRowSumScript, true);
  const auto model = load_model(process_config({"./sum.sh"}, 4, 1), package.path());
  EXPECT_EQ(model->kind(), "process");
  const auto x = random_rows(7, 4, 1);
  expect_row_sums(x, model->predict(x.cview()));
}

TEST(ProcessModel, InputRoundTripsExactlyThroughTheProtocol) {
  ScratchDir package;
  // Echoes the single input column back: the dock's formatting must lose nothing.
  package.write("echo.sh", "#!/bin/bash\ntail -n +2\n", true);
  const ProcessModel model(process_config({"echo.sh"}, 1, 1), package.path());
  const Matrix<double> x(5, 1, std::vector<double>{0.1, -1e-300, 1.0 / 3.0, 123456789.125, 6.02214076e23});
  EXPECT_EQ(model.predict(x.cview()), x);
}

TEST(ProcessModel, RunsInThePackageRootWithItsPathExported) {
  ScratchDir package;
  package.write("scale.txt", "3\n");
  package.write("model.sh", R"SH(#!/bin/bash
[ "$(pwd -P)" = "$(cd "$LWDOCK_PACKAGE_ROOT" && pwd -P)" ] || { echo "wrong directory $(pwd)" >&2; exit 5; }
scale=$(cat scale.txt)
tail -n +2 | awk -F, -v k="$scale" '{ print $1 * k "," $2 * k }'
)SH",
                true);
  const ProcessModel model(process_config({"model.sh"}, 2, 2), package.path());
  const Matrix<double> x(2, 2, std::vector<double>{1, 2, 3, 4});
  EXPECT_EQ(model.predict(x.cview()), Matrix<double>(2, 2, std::vector<double>{3, 6, 9, 12}));
}

TEST(ProcessModel, BareProgramNamesAreFoundOnPath) {
  ScratchDir package;
  package.write("sum.sh", kRowSumScript);  // not executable: run through bash
  const ProcessModel model(process_config({"bash", "sum.sh"}, 3, 1), package.path());
  const auto x = random_rows(3, 3, 2);
  expect_row_sums(x, model.predict(x.cview()));
}

TEST(ProcessModel, ClassifierScoresComeBackAsColumns) {
  ScratchDir package;
  package.write("classify.sh", R"(#!/bin/bash
tail -n +2 | awk -F, '{ if ($1 > 0) print "0.1, 0.9"; else print "0.8,0.2\r" }'
)",
                true);
  auto config = process_config({"./classify.sh"}, 1, 2);
  config.task = TaskType::kClassification;
  const auto model = load_model(config, package.path());
  const Matrix<double> x(3, 1, std::vector<double>{1, -1, 2});
  EXPECT_EQ(argmax_labels(model->predict(x.cview())), (std::vector<std::int64_t>{1, 0, 1}));
}

TEST(ProcessModel, NonZeroExitIsReportedWithItsCodeAndStderr) {
  ScratchDir package;
  package.write("fail.sh", "#!/bin/bash\necho 'model weights are corrupt' >&2\nexit 3\n", true);
  const ProcessModel model(process_config({"./fail.sh"}, 2, 1), package.path());
  const Matrix<double> x(2, 2, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"./fail.sh", "exited with code 3", "weights are corrupt"});
}

TEST(ProcessModel, DeathBySignalIsReported) {
  ScratchDir package;
  package.write("crash.sh", "#!/bin/bash\nkill -SEGV $$\n", true);
  const ProcessModel model(process_config({"./crash.sh"}, 1, 1), package.path());
  const Matrix<double> x(1, 1, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"killed by signal 11", "SEGV"});
}

TEST(ProcessModel, HangingModelIsKilledAtTheTimeoutWithEverythingItStarted) {
  ScratchDir package;
  const std::string helper = test::unique_process_name("hang");
  // The script starts a helper under a name of its own, says so on stderr
  // and waits for it. If the timeout never fired, the call would end with
  // the helper (100 s) and fail on the message below, not hang.
  package.write("hang.sh", "#!/bin/bash\n(exec -a " + helper + " sleep 100) &\necho started >&2\nwait\n", true);
  // On a loaded machine the shell may not reach its first line before a short
  // timeout fires; that is a correct timeout too, but leaves nothing to
  // check, so the call is repeated with a longer timeout until it got there.
  bool started = false;
  for (const double timeout : {0.5, 4.0, 30.0}) {
    const ProcessModel model(process_config({"./hang.sh"}, 1, 1, timeout), package.path());
    const Matrix<double> x(1, 1, 1.0);
    const auto start = std::chrono::steady_clock::now();
    try {
      model.predict(x.cview());
      ADD_FAILURE() << "a model that never answers returned";
    } catch (const Error& e) {
      const std::string message = e.what();
      for (const char* fragment : {"./hang.sh", "timed out after", "timeout_seconds", "every process of the run was killed"})
        EXPECT_NE(message.find(fragment), std::string::npos) << message;
      started = message.find("started") != std::string::npos;
    }
    // Never before the timeout (a lower bound load cannot break: it only
    // makes calls slower). No upper bound: how late the kill lands is up to
    // the scheduler, and the message above already shows which way the call ended.
    // (A millisecond is left for the rounding of the deadline to clock ticks.)
    EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), timeout - 1e-3);
    if (started) break;
  }
  ASSERT_TRUE(started) << "the script never started within any timeout";
  // The model was reaped before predict returned, and its helper is gone.
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "a child was left unreaped";
  EXPECT_TRUE(test::no_process_named(helper)) << "a process the model started survived the timeout";
}

TEST(ProcessModel, HelpersLeftRunningInTheBackgroundDoNotHoldTheCallOpen) {
  ScratchDir package;
  const std::string helper = test::unique_process_name("helper");
  // The helper inherits stdout; once the model itself exits the dock ends
  // everything it started, so the call returns instead of waiting for the
  // helper's end of output. Had it waited, the 20 s timeout (far below the
  // helper's 100 s) would have made predict throw: returning the answer is
  // the whole check, with no clock involved.
  package.write("leaky.sh", "#!/bin/bash\ncat > /dev/null\n(exec -a " + helper + " sleep 100) &\necho 5\n", true);
  const ProcessModel model(process_config({"./leaky.sh"}, 1, 1, 20.0), package.path());
  const Matrix<double> x(1, 1, 1.0);
  Matrix<double> out;
  ASSERT_NO_THROW(out = model.predict(x.cview()));
  EXPECT_EQ(out(0, 0), 5.0);
  EXPECT_TRUE(test::no_process_named(helper)) << "the background helper outlived the call";
}

TEST(ProcessModel, TooFewRowsIsAnError) {
  ScratchDir package;
  package.write("short.sh", "#!/bin/bash\ncat > /dev/null\necho 1\necho 2\n", true);
  const ProcessModel model(process_config({"./short.sh"}, 1, 1), package.path());
  const Matrix<double> x(3, 1, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"wrote 2 lines", "expected 3"});
}

TEST(ProcessModel, WrongNumberOfColumnsIsAnError) {
  ScratchDir package;
  package.write("wide.sh", "#!/bin/bash\ncat > /dev/null\necho 1,2\necho 3,4,5\n", true);
  const ProcessModel model(process_config({"./wide.sh"}, 1, 2), package.path());
  const Matrix<double> x(2, 1, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"more than 2 values on output line 2"});
}

TEST(ProcessModel, NonNumericOutputIsAnError) {
  ScratchDir package;
  package.write("garbage.sh", "#!/bin/bash\ncat > /dev/null\necho 1.5\necho hello\n", true);
  const ProcessModel model(process_config({"./garbage.sh"}, 1, 1), package.path());
  const Matrix<double> x(2, 1, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"\"hello\"", "output line 2", "not a number"});
}

TEST(ProcessModel, NonFiniteOutputIsAnError) {
  ScratchDir package;
  package.write("nan.sh", "#!/bin/bash\ncat > /dev/null\necho nan\n", true);
  const ProcessModel model(process_config({"./nan.sh"}, 1, 1), package.path());
  const Matrix<double> x(1, 1, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"non-finite", "output line 1"});
}

TEST(ProcessModel, EndlessOutputIsCutOffAsTooLarge) {
  ScratchDir package;
  package.write("chatty.sh", "#!/bin/bash\nexec yes 1\n", true);
  const ProcessModel model(process_config({"./chatty.sh"}, 1, 1), package.path());
  const Matrix<double> x(2, 1, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"too large"});
}

TEST(ProcessModel, MissingExecutableIsAnErrorAtLoad) {
  ScratchDir package;
  expect_error_mentions([&] { load_model(process_config({"./absent.sh"}, 1, 1), package.path()); },
                        {"command not found", "absent.sh"});
  expect_error_mentions([&] { load_model(process_config({"no-such-program-lwd"}, 1, 1), package.path()); },
                        {"no-such-program-lwd", "PATH"});
}

TEST(ProcessModel, NonExecutableFileIsAnErrorAtLoad) {
  ScratchDir package;
  package.write("plain.sh", kRowSumScript, false);
  expect_error_mentions([&] { load_model(process_config({"./plain.sh"}, 1, 1), package.path()); },
                        {"plain.sh", "not an executable file"});
}

TEST(ProcessModel, CommandsOutsideThePackageRootAreRefused) {
  ScratchDir package;
  expect_error_mentions([&] { load_model(process_config({"../escape.sh"}, 1, 1), package.path()); },
                        {"outside the package root"});
  expect_error_mentions([&] { load_model(process_config({}, 1, 1), package.path()); }, {"no command"});
}

TEST(ProcessModel, LargeInputDoesNotDeadlock) {
  ScratchDir package;
  package.write("sum.sh", kRowSumScript, true);
  const ProcessModel model(process_config({"./sum.sh"}, 50, 1), package.path());
  const auto x = random_rows(20000, 50, 3);
  expect_row_sums(x, model.predict(x.cview()));
}

TEST(ProcessModel, ModelThatIgnoresItsInputStillSucceeds) {
  ScratchDir package;
  // Answers without reading stdin: the dock's writes hit a closed pipe, which
  // must neither kill the dock (SIGPIPE) nor fail the call.
  package.write("constant.sh", "#!/bin/bash\nexec awk 'BEGIN { for (i = 0; i < 20000; i++) print 7 }' < /dev/null\n",
                true);
  const ProcessModel model(process_config({"./constant.sh"}, 50, 1), package.path());
  const auto x = random_rows(20000, 50, 4);
  const auto out = model.predict(x.cview());
  ASSERT_EQ(out.rows(), 20000);
  EXPECT_EQ(out(19999, 0), 7.0);
}

TEST(ProcessModel, ZeroRowsRunNothing) {
  ScratchDir package;
  package.write("fail.sh", "#!/bin/bash\nexit 1\n", true);
  const ProcessModel model(process_config({"./fail.sh"}, 2, 3), package.path());
  const Matrix<double> x(0, 2);
  const auto out = model.predict(x.cview());
  EXPECT_EQ(out.rows(), 0);
  EXPECT_EQ(out.cols(), 3);
}

TEST(ProcessModel, WidthMismatchIsAnError) {
  ScratchDir package;
  package.write("sum.sh", kRowSumScript, true);
  const ProcessModel model(process_config({"./sum.sh"}, 3, 1), package.path());
  const Matrix<double> x(1, 2, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"2 columns", "takes 3"});
}

std::size_t open_descriptor_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

TEST(ProcessModel, CallsLeaveNoDescriptorsOrChildrenBehind) {
  ScratchDir package;
  package.write("sum.sh", kRowSumScript, true);
  package.write("fail.sh", "#!/bin/bash\nexit 2\n", true);
  package.write("hang.sh", "#!/bin/bash\nsleep 100\n", true);
  package.write("chatty.sh", "#!/bin/bash\nexec yes 1\n", true);
  const auto x = random_rows(100, 2, 5);
  const std::size_t before = open_descriptor_count();
  for (const char* script : {"./sum.sh", "./fail.sh", "./hang.sh", "./chatty.sh"}) {
    const ProcessModel model(process_config({script}, 2, 1, 0.3), package.path());
    try {
      model.predict(x.cview());
    } catch (const Error&) {
    }
  }
  EXPECT_EQ(open_descriptor_count(), before);
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "a child was left unreaped";
  EXPECT_EQ(errno, ECHILD);
}

TEST(ProcessModel, ConcurrentCallsEachGetTheirOwnChild) {
  ScratchDir package;
  package.write("sum.sh", kRowSumScript, true);
  const ProcessModel model(process_config({"./sum.sh"}, 5, 1), package.path());
  std::vector<Matrix<double>> inputs, outputs(4);
  for (unsigned t = 0; t < 4; ++t) inputs.push_back(random_rows(500, 5, 10 + t));
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) threads.emplace_back([&, t] { outputs[t] = model.predict(inputs[t].cview()); });
  for (auto& thread : threads) thread.join();
  for (std::size_t t = 0; t < 4; ++t) expect_row_sums(inputs[t], outputs[t]);
}

}  // namespace
}  // namespace lwd

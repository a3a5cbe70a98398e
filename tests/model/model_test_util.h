// Small helpers shared by the model suites: a scratch directory removed at
// the end of each test, and an assertion on lwd::Error messages.
#pragma once

#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "engine/error.h"
#include "engine/model/model.h"

namespace lwd::test {


// A manifest's model section for a file-backed kind.
inline ModelConfig file_model_config(std::string kind, std::filesystem::path file, TaskType task,
                                     std::int64_t input_dim, std::int64_t output_dim) {
  ModelConfig config;
  config.kind = std::move(kind);
  config.file = std::move(file);
  config.task = task;
  config.input_dim = input_dim;
  config.output_dim = output_dim;
  return config;
}

// Runs `action`, expecting lwd::Error whose message contains every fragment.
inline void expect_error_mentions(const std::function<void()>& action, std::initializer_list<std::string> fragments) {
  try {
    action();
  } catch (const lwd::Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message \"" << message << "\" lacks \"" << fragment << "\"";
    return;
  }
  ADD_FAILURE() << "expected an lwd::Error";
}

}  // namespace lwd::test

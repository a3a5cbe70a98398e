// Helpers shared by the text suites: a scratch directory removed after each
// test, and an assertion on lwd::Error messages.
#pragma once

#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include "engine/error.h"

namespace lwd::test {

using TextScratchDir = ::lwd::test::ScratchDir;

// Runs `action`, expecting an lwd::Error whose message contains every fragment.
inline void expect_error_mentions(const std::function<void()>& action, std::initializer_list<std::string> fragments) {
  try {
    action();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "message \"" << message << "\" lacks \"" << fragment << "\"";
    return;
  }
  ADD_FAILURE() << "expected an lwd::Error";
}

}  // namespace lwd::test

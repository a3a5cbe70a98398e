#include "engine/store/learnware_index.h"

#include <ctime>
#include <exception>

#include "engine/error.h"

namespace lwd {

std::string_view to_string(LearnwareStatus status) {
  switch (status) {
    case LearnwareStatus::invalid:
      return "invalid";
    case LearnwareStatus::not_usable:
      return "not_usable";
    case LearnwareStatus::usable:
      return "usable";
  }
  return "invalid";
}

LearnwareStatus parse_learnware_status(std::string_view text) {
  for (auto status : {LearnwareStatus::invalid, LearnwareStatus::not_usable, LearnwareStatus::usable}) {
    if (text == to_string(status)) return status;
  }
  throw Error("unknown learnware status \"" + std::string(text) + "\" (expected invalid, not_usable or usable)");
}

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

bool is_valid_learnware_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void LearnwareIndex::transaction(const std::function<void()>& body) {
  begin();
  try {
    body();
    commit();
  } catch (...) {
    // The original failure is what the caller needs to see; a failing rollback
    // after it (e.g. the connection is gone) must not replace it.
    try {
      if (in_transaction()) rollback();
    } catch (...) {
    }
    throw;
  }
}

}  // namespace lwd

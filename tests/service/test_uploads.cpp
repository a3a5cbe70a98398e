// Chunked, resumable uploads (service/uploads.h) on SQLite and PostgreSQL:
// chunks in any order, identical retries, conflicting bytes, gaps, the final
// hash, hostile names and sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <thread>

#include "service/api.h"
#include "tests/service/submission_test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace lwd::service;
using lwd::test::sha256_of;

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

ApiCode code_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const ApiError& e) {
    return e.code();
  }
  ADD_FAILURE() << "no ApiError";
  return ApiCode::ok;
}

class Uploads : public lwd::test::SubmissionBackendTest {
 protected:
  void SetUp() override {
    SubmissionBackendTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    limits_.max_package_bytes = 1 << 20;
    store_ = std::make_unique<UploadStore>(*db_, uploads_dir(market_dir_), limits_);
  }
  std::string chunk(const std::string& data, std::size_t at, std::size_t n) { return data.substr(at, n); }

  UploadLimits limits_;
  std::unique_ptr<UploadStore> store_;
  fs::path destination() const { return tmp_.path() / "done.zip"; }
};

TEST_P(Uploads, ChunksOutOfOrderWithRetriesAssembleTheFile) {
  const std::string data = random_bytes(100'000, 1);
  UploadState s = store_->create(7, "pkg.zip", static_cast<std::int64_t>(data.size()), sha256_of(data));
  EXPECT_EQ(s.received_bytes, 0);
  EXPECT_FALSE(s.all_received());
  // Last chunk first, then the first, each sent twice (a retry after a lost reply).
  for (const std::size_t at : {60'000u, 0u, 60'000u, 0u, 30'000u}) {
    s = store_->write_chunk(s.id, 7, static_cast<std::int64_t>(at), chunk(data, at, 30'000 + (at == 60'000 ? 10'000 : 0)));
  }
  EXPECT_EQ(s.received_bytes, 100'000);
  ASSERT_EQ(s.received.size(), 1u);
  EXPECT_EQ(s.received[0], std::make_pair(std::int64_t{0}, std::int64_t{100'000}));
  bool also_ran = false;
  store_->complete(s.id, 7, destination(), [&](const UploadState&) { also_ran = true; });
  EXPECT_TRUE(also_ran);
  EXPECT_EQ(lwd::test::file_bytes(destination()), data);
  // Forgotten, file and all.
  EXPECT_EQ(code_of([&] { store_->get(s.id, 7); }), ApiCode::not_found);
  EXPECT_TRUE(fs::is_empty(uploads_dir(market_dir_)));
}

TEST_P(Uploads, TheStatusListsTheRangesReceivedSoAClientResumesTheGaps) {
  const std::string data = random_bytes(50'000, 2);
  UploadState s = store_->create(7, "pkg.zip", 50'000, sha256_of(data));
  store_->write_chunk(s.id, 7, 0, chunk(data, 0, 10'000));
  store_->write_chunk(s.id, 7, 20'000, chunk(data, 20'000, 10'000));
  store_->write_chunk(s.id, 7, 45'000, chunk(data, 45'000, 5'000));
  // A new store object, as after a server restart, sees the same.
  UploadStore again(*db_, uploads_dir(market_dir_), limits_);
  s = again.get(s.id, 7);
  using R = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(s.received, (std::vector<R>{{0, 10'000}, {20'000, 30'000}, {45'000, 50'000}}));
  // Completing with gaps names them and changes nothing.
  try {
    again.complete(s.id, 7, destination(), [](const UploadState&) {});
    ADD_FAILURE() << "an incomplete upload was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), ApiCode::conflict);
    EXPECT_NE(std::string(e.what()).find("[10000, 20000)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[30000, 45000)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(destination()));
  again.write_chunk(s.id, 7, 10'000, chunk(data, 10'000, 10'000));
  again.write_chunk(s.id, 7, 30'000, chunk(data, 30'000, 15'000));
  again.complete(s.id, 7, destination(), [](const UploadState&) {});
  EXPECT_EQ(lwd::test::file_bytes(destination()), data);
}

TEST_P(Uploads, DifferentBytesWhereSomeWereReceivedAreAConflict) {
  const std::string data = random_bytes(10'000, 3);
  const UploadState s = store_->create(7, "pkg.zip", 10'000, sha256_of(data));
  store_->write_chunk(s.id, 7, 0, chunk(data, 0, 5'000));
  std::string other = chunk(data, 0, 5'000);
  other[100] ^= 1;
  EXPECT_EQ(code_of([&] { store_->write_chunk(s.id, 7, 0, other); }), ApiCode::conflict);
  // Overlapping at another offset: the shared bytes decide.
  EXPECT_EQ(code_of([&] { store_->write_chunk(s.id, 7, 50, other.substr(0, 1000)); }), ApiCode::conflict);
  EXPECT_NO_THROW(store_->write_chunk(s.id, 7, 4'000, chunk(data, 4'000, 6'000)));
  EXPECT_EQ(store_->get(s.id, 7).received_bytes, 10'000);
  store_->complete(s.id, 7, destination(), [](const UploadState&) {});
  EXPECT_EQ(lwd::test::file_bytes(destination()), data);
}

TEST_P(Uploads, AWrongFinalHashDiscardsTheUpload) {
  const std::string data = random_bytes(4'000, 4);
  const UploadState s = store_->create(7, "pkg.zip", 4'000, sha256_of(data + "x"));
  store_->write_chunk(s.id, 7, 0, data);
  bool also_ran = false;
  try {
    store_->complete(s.id, 7, destination(), [&](const UploadState&) { also_ran = true; });
    ADD_FAILURE() << "a file with the wrong hash was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), ApiCode::unprocessable);
    EXPECT_NE(std::string(e.what()).find(sha256_of(data)), std::string::npos) << e.what();
  }
  EXPECT_FALSE(also_ran);
  EXPECT_FALSE(fs::exists(destination()));
  EXPECT_EQ(code_of([&] { store_->get(s.id, 7); }), ApiCode::not_found);
  EXPECT_TRUE(fs::is_empty(uploads_dir(market_dir_)));
}

TEST_P(Uploads, AFailingStepAfterTheHashLeavesTheUploadWhole) {
  const std::string data = random_bytes(4'000, 5);
  const UploadState s = store_->create(7, "pkg.zip", 4'000, sha256_of(data));
  store_->write_chunk(s.id, 7, 0, data);
  EXPECT_THROW(store_->complete(s.id, 7, destination(), [](const UploadState&) { throw std::runtime_error("no"); }),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(destination()));
  EXPECT_TRUE(store_->get(s.id, 7).all_received());
  store_->complete(s.id, 7, destination(), [](const UploadState&) {});
  EXPECT_EQ(lwd::test::file_bytes(destination()), data);
}

TEST_P(Uploads, SizesBeyondTheLimitAreRefusedAs413AndBadDeclarationsAs400) {
  const std::string hash = sha256_of("x");
  EXPECT_EQ(code_of([&] { store_->create(7, "big.zip", (1 << 20) + 1, hash); }), ApiCode::payload_too_large);
  EXPECT_EQ(code_of([&] { store_->create(7, "zero.zip", 0, hash); }), ApiCode::malformed_request);
  EXPECT_EQ(code_of([&] { store_->create(7, "neg.zip", -5, hash); }), ApiCode::malformed_request);
  EXPECT_EQ(code_of([&] { store_->create(7, "pkg.zip", 10, "abc"); }), ApiCode::malformed_request);
  EXPECT_EQ(code_of([&] { store_->create(7, "pkg.zip", 10, std::string(64, 'g')); }), ApiCode::malformed_request);
  const UploadState s = store_->create(7, "pkg.zip", 10, hash);
  EXPECT_EQ(code_of([&] { store_->write_chunk(s.id, 7, 5, "123456"); }), ApiCode::malformed_request);
  EXPECT_EQ(code_of([&] { store_->write_chunk(s.id, 7, -1, "1"); }), ApiCode::malformed_request);
  EXPECT_EQ(code_of([&] { store_->write_chunk(s.id, 7, 0, ""); }), ApiCode::malformed_request);
}

TEST_P(Uploads, ATraversalFilenameIsOnlyEverAName) {
  for (const std::string& name : std::vector<std::string>{"../../etc/passwd", "..", "/abs/path/evil.zip", "a\\b\\..\\c.zip", "", "...",
                                 std::string("nul\0byte.zip", 12), std::string(500, 'n')}) {
    const UploadState s = store_->create(7, name, 10, sha256_of("0123456789"));
    EXPECT_EQ(s.filename.find('/'), std::string::npos) << s.filename;
    EXPECT_EQ(s.filename.find('\\'), std::string::npos) << s.filename;
    EXPECT_NE(s.filename, "..");
    EXPECT_NE(s.filename, ".");
    EXPECT_LE(s.filename.size(), 100u);
    EXPECT_FALSE(s.filename.empty());
    store_->write_chunk(s.id, 7, 0, "0123456789");
    store_->complete(s.id, 7, destination(), [](const UploadState&) {});
  }
  // The files went where the server put them, nowhere else.
  EXPECT_FALSE(fs::exists(uploads_dir(market_dir_) / ".." / ".." / "etc"));
  EXPECT_TRUE(fs::is_empty(uploads_dir(market_dir_)));
}

TEST_P(Uploads, AnotherUsersUploadIsNotFound) {
  const UploadState s = store_->create(7, "pkg.zip", 10, sha256_of("0123456789"));
  EXPECT_EQ(code_of([&] { store_->get(s.id, 8); }), ApiCode::not_found);
  EXPECT_EQ(code_of([&] { store_->write_chunk(s.id, 8, 0, "0123456789"); }), ApiCode::not_found);
  EXPECT_EQ(code_of([&] { store_->complete(s.id, 8, destination(), [](const UploadState&) {}); }),
            ApiCode::not_found);
  EXPECT_EQ(code_of([&] { store_->abandon(s.id, 8); }), ApiCode::not_found);
  EXPECT_EQ(store_->get(s.id, 7).received_bytes, 0);
  store_->abandon(s.id, 7);
  EXPECT_EQ(code_of([&] { store_->get(s.id, 7); }), ApiCode::not_found);
}

TEST_P(Uploads, ConcurrentWritersOfOneUploadEachLandOnce) {
  const std::string data = random_bytes(64 * 1000, 6);
  const UploadState s = store_->create(7, "pkg.zip", static_cast<std::int64_t>(data.size()), sha256_of(data));
  // Four connections (as four server threads or replicas), each sending
  // every chunk, in different orders.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto db = open_submission_database(url(), market_dir_);
        UploadStore mine(*db, uploads_dir(market_dir_), limits_);
        std::vector<int> order(64);
        for (int i = 0; i < 64; ++i) order[i] = i;
        std::shuffle(order.begin(), order.end(), std::mt19937(t));
        for (const int i : order) mine.write_chunk(s.id, 7, i * 1000, data.substr(static_cast<std::size_t>(i) * 1000, 1000));
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  store_->complete(s.id, 7, destination(), [](const UploadState&) {});
  EXPECT_EQ(lwd::test::file_bytes(destination()), data);
}

// A server killed in the middle of a chunk (after some of its bytes reached
// the file, before its range was recorded) leaves bytes nobody counts: the
// upload is not complete, the client sends the chunk again.
TEST_P(Uploads, BytesOfAnInterruptedChunkAreNeverCountedAsReceived) {
  const std::string data = random_bytes(8'000, 7);
  const UploadState s = store_->create(7, "pkg.zip", 8'000, sha256_of(data));
  store_->write_chunk(s.id, 7, 0, chunk(data, 0, 4'000));
  {
    // What the killed server left: half of the second chunk in the file.
    std::fstream part(uploads_dir(market_dir_) / (s.id + ".part"), std::ios::in | std::ios::out | std::ios::binary);
    part.seekp(4'000);
    part.write(data.data() + 4'000, 2'000);
  }
  UploadStore restarted(*db_, uploads_dir(market_dir_), limits_);
  const UploadState after = restarted.get(s.id, 7);
  EXPECT_EQ(after.received_bytes, 4'000);
  EXPECT_FALSE(after.all_received());
  EXPECT_EQ(code_of([&] { restarted.complete(s.id, 7, destination(), [](const UploadState&) {}); }),
            ApiCode::conflict);
  EXPECT_FALSE(fs::exists(destination()));
  restarted.write_chunk(s.id, 7, 4'000, chunk(data, 4'000, 4'000));
  restarted.complete(s.id, 7, destination(), [](const UploadState&) {});
  EXPECT_EQ(lwd::test::file_bytes(destination()), data);
}

TEST_P(Uploads, IdleUploadsExpire) {
  const UploadState s = store_->create(7, "pkg.zip", 10, sha256_of("0123456789"));
  EXPECT_EQ(store_->expire(std::chrono::hours(1)), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(store_->expire(std::chrono::milliseconds(1)), 1);
  EXPECT_EQ(code_of([&] { store_->get(s.id, 7); }), ApiCode::not_found);
  EXPECT_TRUE(fs::is_empty(uploads_dir(market_dir_)));
}

INSTANTIATE_TEST_SUITE_P(Backends, Uploads, ::testing::Values("sqlite", "postgresql"), lwd::test::backend_name);

}  // namespace

// Word vectors: the wink JSON format (fixture written here), truncated and
// inconsistent variants, the binary cache round trip, its corruption
// detection, and load_word_vectors' choice between cache and JSON.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "datasets/fetched/word_vectors.h"
#include "engine/error.h"
#include "fixture_files.h"

namespace lwd::datasets {
namespace {

using testing::damaged;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The words as they appear in "words" (JSON-escaped) and as decoded.
struct FixtureWord {
  std::string json;
  std::string decoded;
};
const std::vector<FixtureWord> kWords = {
    {"the", "the"}, {",", ","}, {"\\\"", "\""}, {"\\\\", "\\"}, {"caf\\u00e9", "caf\xc3\xa9"},
    {"\xe2\x80\x9c", "\xe2\x80\x9c"}, {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"}, {"market", "market"}};
constexpr int kDim = 3;

float fixture_value(std::size_t word, int k) { return static_cast<float>(word) * 0.25f - static_cast<float>(k) * 0.5f; }

// The package's layout; vectors listed in reverse order to show that each is
// placed by its word index, not by its position.
std::string wink_fixture_text() {
  std::string s = "{\"precision\":8,\"l2NormIndex\":3,\"wordIndex\":4,\"size\":" + std::to_string(kWords.size()) +
                  ",\"dimensions\":3,\"words\":[";
  for (std::size_t i = 0; i < kWords.size(); ++i) s += (i ? ",\"" : "\"") + kWords[i].json + "\"";
  s += "],\"vectors\":{";
  for (std::size_t n = 0; n < kWords.size(); ++n) {
    const std::size_t i = kWords.size() - 1 - n;
    s += (n ? ",\"" : "\"") + kWords[i].json + "\":[";
    for (int k = 0; k < kDim; ++k) s += std::to_string(fixture_value(i, k)) + ",";
    s += "1.5," + std::to_string(i) + "]";
  }
  return s + "},\"unkVector\":[0,0,0,0,-1]}";
}

void expect_fixture_content(const WordVectors& v) {
  ASSERT_EQ(v.size(), static_cast<std::int64_t>(kWords.size()));
  ASSERT_EQ(v.dim(), kDim);
  for (std::size_t i = 0; i < kWords.size(); ++i) {
    EXPECT_EQ(v.word(static_cast<std::int64_t>(i)), kWords[i].decoded);
    const auto found = v.find(kWords[i].decoded);
    ASSERT_TRUE(found.has_value()) << kWords[i].decoded;
    EXPECT_EQ(*found, static_cast<std::int64_t>(i));
    for (int k = 0; k < kDim; ++k) EXPECT_FLOAT_EQ(v.vector(*found)[static_cast<std::size_t>(k)], fixture_value(i, k));
  }
  EXPECT_FALSE(v.find("absent").has_value());
  EXPECT_FALSE(v.find("").has_value());
  EXPECT_FALSE(v.find("The").has_value());  // case-sensitive
}

TEST(WordVectorsJson, ParsesWordsEscapesAndVectorsPlacedByWordIndex) {
  ScratchDir dir;
  write_file(dir / "v.json", wink_fixture_text());
  const WordVectors v = parse_word_vectors_json(dir / "v.json");
  expect_fixture_content(v);
  EXPECT_FALSE(v.is_mapped());
  EXPECT_EQ(v.matrix().rows, static_cast<std::int64_t>(kWords.size()));
  EXPECT_EQ(v.matrix()(2, 1), fixture_value(2, 1));
}

TEST(WordVectorsJson, EveryTruncationIsAnErrorNamingTheFile) {
  ScratchDir dir;
  const std::string full = wink_fixture_text();
  for (std::size_t cut = 0; cut + 1 < full.size(); cut += 5) {
    write_file(dir / "v.json", full.substr(0, cut));
    const std::string message = error_of([&] { parse_word_vectors_json(dir / "v.json"); });
    ASSERT_NE(message.find("v.json"), std::string::npos) << "cut at " << cut << ": '" << message << "'";
  }
}

TEST(WordVectorsJson, InconsistentContentIsAnErrorSayingWhat) {
  ScratchDir dir;
  const std::string full = wink_fixture_text();
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string s = full;
    const std::size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    s.replace(at, from.size(), to);
    write_file(dir / "v.json", s);
    return error_of([&] { parse_word_vectors_json(dir / "v.json"); });
  };
  EXPECT_NE(with("1.5,7]", "1.5,6]").find("names \"\xf0\x9f\x98\x80\""), std::string::npos);  // index of another word
  EXPECT_NE(with("1.5,7]", "1.5,99]").find("word index 99 out of range"), std::string::npos);
  EXPECT_NE(with("1.5,7]", "7]").find("4 numbers in the vector of \"market\""), std::string::npos);
  EXPECT_NE(with("1.5,7]", "1.5,7,7]").find("more than 5 numbers"), std::string::npos);
  EXPECT_NE(with("1.5,7]", "1.5,7.5]").find("not a 64-bit integer"), std::string::npos);
  EXPECT_NE(with("\"size\":8", "\"size\":9").find("\"size\" is 9"), std::string::npos);
  EXPECT_NE(with("\"dimensions\":3", "\"dimensions\":0").find("must come after \"dimensions\""), std::string::npos);
  // A second vector for "market" (its key renamed from "the", which then has none).
  EXPECT_NE(with(",\"the\":[", ",\"market\":[").find("names \"the\""), std::string::npos);
  EXPECT_NE(with("\"words\":[", "\"words\":[\"extra\",").find("\"size\" is 8 but \"words\" holds 9"), std::string::npos);
  EXPECT_NE(with("\"caf\\u00e9\"", "\"caf\\u00zz\"").find("not a hex digit"), std::string::npos);
  EXPECT_NE(with("\"\\ud83d\\ude00\"", "\"\\ud83d\"").find("unpaired UTF-16 surrogate"), std::string::npos);
}

TEST(WordVectorsJson, AWordWithoutAVectorAndVectorsBeforeWordsAreErrors) {
  ScratchDir dir;
  write_file(dir / "v.json",
             "{\"dimensions\":2,\"words\":[\"a\",\"b\"],\"vectors\":{\"a\":[0.5,0.5,0.7,0]},\"unkVector\":[0,0,0,-1]}");
  EXPECT_NE(error_of([&] { parse_word_vectors_json(dir / "v.json"); }).find("word \"b\" (index 1) has no vector"),
            std::string::npos);
  write_file(dir / "v.json", "{\"dimensions\":2,\"vectors\":{\"a\":[0.5,0.5,0.7,0]},\"words\":[\"a\"]}");
  EXPECT_NE(error_of([&] { parse_word_vectors_json(dir / "v.json"); }).find("must come after"), std::string::npos);
  write_file(dir / "v.json", "{\"dimensions\":2,\"words\":[\"a\"],\"vectors\":{\"a\":[0.5,0.5,0.7,0],\"a\":[1,1,1.4,0]}}");
  EXPECT_NE(error_of([&] { parse_word_vectors_json(dir / "v.json"); }).find("a second vector"), std::string::npos);
  write_file(dir / "v.json", "{\"dimensions\":2,\"words\":[\"a\",\"a\"],\"vectors\":{\"a\":[0.5,0.5,0.7,0],\"a\":[1,1,1.4,1]}}");
  EXPECT_NE(error_of([&] { parse_word_vectors_json(dir / "v.json"); }).find("appears twice"), std::string::npos);
}

TEST(WordVectorsJson, RandomDamageEndsInAnErrorNeverACrash) {
  ScratchDir dir;
  const std::string full = wink_fixture_text();
  int errors = 0;
  for (std::uint32_t seed = 0; seed < 300; ++seed) {
    write_file(dir / "v.json", damaged(full, 2, seed));
    try {
      parse_word_vectors_json(dir / "v.json");
    } catch (const Error& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find("v.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 150);
}

TEST(WordVectorsCache, RoundTripMapsTheSameWordsVectorsAndLookups) {
  ScratchDir dir;
  write_file(dir / "v.json", wink_fixture_text());
  const WordVectors parsed = parse_word_vectors_json(dir / "v.json");
  write_word_vector_cache(parsed, dir / "v.lwdvec", 123, 456);
  const WordVectors mapped = read_word_vector_cache(dir / "v.lwdvec");
  EXPECT_TRUE(mapped.is_mapped());
  expect_fixture_content(mapped);
  // Same bytes but for the source stamp and the header CRC.
  ASSERT_EQ(mapped.image().size(), parsed.image().size());
  EXPECT_EQ(std::memcmp(mapped.image().data() + 128, parsed.image().data() + 128, parsed.image().size() - 128), 0);
  EXPECT_EQ(std::memcmp(mapped.image().data(), parsed.image().data(), 80), 0);
  // Copies share the mapping and outlive the original.
  WordVectors copy;
  {
    const WordVectors again = read_word_vector_cache(dir / "v.lwdvec");
    copy = again;
  }
  expect_fixture_content(copy);
}

TEST(WordVectorsCache, ManyWordsAreAllFoundThroughTheStoredHashTable) {
  std::mt19937 rng(7);
  std::vector<std::string> words;
  for (int i = 0; i < 5000; ++i) {
    std::string w = std::to_string(i);  // appended piecewise: GCC 12 misreports "lit" + string (-Wrestrict)
    w.insert(0, 1, 'w');
    w += '_';
    w += std::to_string(rng() % 1000);
    words.push_back(std::move(w));
  }
  kernels::Matrix<float> m(5000, 4);
  for (std::int64_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(i % 97) / 7.0f;
  ScratchDir dir;
  write_word_vector_cache(WordVectors::from_words(words, m), dir / "w.lwdvec", 0, 0);
  const WordVectors v = read_word_vector_cache(dir / "w.lwdvec");
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto found = v.find(words[i]);
    ASSERT_TRUE(found.has_value()) << words[i];
    ASSERT_EQ(*found, static_cast<std::int64_t>(i));
    ASSERT_EQ(v.vector(*found)[3], m(static_cast<std::int64_t>(i), 3));
  }
  EXPECT_FALSE(v.find("w5000_1").has_value());
}

TEST(WordVectorsCache, DamageAnywhereIsDetected) {
  ScratchDir dir;
  write_file(dir / "v.json", wink_fixture_text());
  write_word_vector_cache(parse_word_vectors_json(dir / "v.json"), dir / "good.lwdvec", 1, 2);
  const std::string good = read_file(dir / "good.lwdvec");
  const auto message_for = [&](const std::string& bytes) {
    write_file(dir / "bad.lwdvec", bytes);
    return error_of([&] { read_word_vector_cache(dir / "bad.lwdvec"); });
  };
  std::string s = good;
  s[s.size() - 3] ^= 0x40;  // a vector component
  EXPECT_NE(message_for(s).find("content checksum mismatch"), std::string::npos);
  s = good;
  s[130] ^= 0x01;  // a word offset
  EXPECT_NE(message_for(s).find("content checksum mismatch"), std::string::npos);
  s = good;
  s[17] ^= 0x01;  // the word count
  EXPECT_NE(message_for(s).find("header checksum mismatch"), std::string::npos);
  s = good;
  s[0] = 'X';
  EXPECT_NE(message_for(s).find("bad magic"), std::string::npos);
  s = good;
  s[8] = 9;
  EXPECT_NE(message_for(s).find("format version 9"), std::string::npos);
  EXPECT_NE(message_for(good.substr(0, good.size() - 4)).find("truncated"), std::string::npos);
  EXPECT_NE(message_for(good.substr(0, 100)).find("too short"), std::string::npos);
  EXPECT_NE(message_for("").find("too short"), std::string::npos);
  // Every single-byte change anywhere is caught (CRC-32 detects all of them).
  for (std::size_t at = 0; at < good.size(); at += 3) {
    s = good;
    s[at] = static_cast<char>(s[at] ^ 0x5a);
    const std::string message = message_for(s);
    ASSERT_NE(message.find("bad.lwdvec: "), std::string::npos) << "byte " << at << ": '" << message << "'";
    ASSERT_NE(message.find("rebuilds it"), std::string::npos) << message;
  }
}

TEST(LoadWordVectors, FirstLoadParsesAndCachesLaterLoadsMapTheCache) {
  ScratchDir dir;
  write_file(dir / "v.json", wink_fixture_text());
  const WordVectorLoad first = load_word_vectors(dir / "v.json");
  EXPECT_FALSE(first.from_cache);
  EXPECT_EQ(first.cache_rebuild_reason, "no cache yet");
  EXPECT_TRUE(std::filesystem::exists(dir / "v.lwdvec"));
  expect_fixture_content(first.vectors);

  const WordVectorLoad second = load_word_vectors(dir / "v.json");
  EXPECT_TRUE(second.from_cache);
  EXPECT_TRUE(second.vectors.is_mapped());
  expect_fixture_content(second.vectors);
}

TEST(LoadWordVectors, AChangedJsonOrADamagedCacheIsRebuilt) {
  ScratchDir dir;
  write_file(dir / "v.json", wink_fixture_text());
  load_word_vectors(dir / "v.json");
  // A different modification time means a different source.
  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "v.json").c_str(), times, 0), 0);
  const WordVectorLoad after_touch = load_word_vectors(dir / "v.json");
  EXPECT_FALSE(after_touch.from_cache);
  EXPECT_EQ(after_touch.cache_rebuild_reason, "the JSON changed since the cache was written");
  EXPECT_TRUE(load_word_vectors(dir / "v.json").from_cache);

  std::string cache = read_file(dir / "v.lwdvec");
  cache[cache.size() / 2] ^= 1;
  write_file(dir / "v.lwdvec", cache);
  const WordVectorLoad after_damage = load_word_vectors(dir / "v.json");
  EXPECT_FALSE(after_damage.from_cache);
  EXPECT_NE(after_damage.cache_rebuild_reason.find("invalid cache"), std::string::npos);
  expect_fixture_content(after_damage.vectors);
  EXPECT_TRUE(load_word_vectors(dir / "v.json").from_cache);
}

TEST(LoadWordVectors, TheCacheServesAloneOnceTheJsonIsDeleted) {
  ScratchDir dir;
  write_file(dir / "v.json", wink_fixture_text());
  load_word_vectors(dir / "v.json");
  std::filesystem::remove(dir / "v.json");
  const WordVectorLoad load = load_word_vectors(dir / "v.json");
  EXPECT_TRUE(load.from_cache);
  expect_fixture_content(load.vectors);
  std::filesystem::remove(dir / "v.lwdvec");
  EXPECT_NE(error_of([&] { load_word_vectors(dir / "v.json"); }).find("v.json: missing, and no word-vector cache"),
            std::string::npos);
}

TEST(WordVectors, FromWordsRejectsDuplicatesEmptyWordsAndNonFiniteValues) {
  kernels::Matrix<float> m(2, 2, 1.0f);
  EXPECT_NE(error_of([&] { WordVectors::from_words({"a", "a"}, m); }).find("'a' appears twice"), std::string::npos);
  EXPECT_NE(error_of([&] { WordVectors::from_words({"a", ""}, m); }).find("empty word"), std::string::npos);
  EXPECT_NE(error_of([&] { WordVectors::from_words({"a"}, m); }).find("1 words but 2 vectors"), std::string::npos);
  m(1, 1) = std::numeric_limits<float>::infinity();
  EXPECT_NE(error_of([&] { WordVectors::from_words({"a", "b"}, m); }).find("non-finite value in the vector of 'b'"),
            std::string::npos);
}

}  // namespace
}  // namespace lwd::datasets

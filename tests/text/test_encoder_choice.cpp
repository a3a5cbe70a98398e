// The one encoder policy (engine/text/encoder_choice.h): what auto, sif and
// hashing choose with and without the word vectors, and what they say.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/text/encoder_choice.h"
#include "tests/text/text_test_util.h"

namespace {

using namespace lwd;
using lwd::test::expect_error_mentions;

text::WordVectorLocation absent_vectors() {
  text::WordVectorLocation v;
  v.name = "vecs 1.0";
  v.dir = "/data";
  v.fetch_command = "lwdock data fetch vecs --dir /data";
  v.load = [](std::string&) -> std::shared_ptr<const text::WordVectorTable> {
    throw Error("absent vectors must not be loaded");
  };
  return v;
}

text::WordVectorLocation present_vectors() {
  text::WordVectorLocation v = absent_vectors();
  v.present = true;
  v.load = [](std::string& note) {
    note = "word vectors: 3 x 2 from memory";
    std::vector<std::string> words = {"the", "cat", "sat"};
    kernels::Matrix<float> vectors(3, 2, std::vector<float>{0.9f, 0.8f, 1.2f, -0.5f, -0.4f, 1.1f});
    return std::shared_ptr<const text::WordVectorTable>(
        std::make_shared<text::InMemoryWordVectorTable>(std::move(words), std::move(vectors)));
  };
  return v;
}

TEST(EncoderChoice, HashingIsWhatWasAskedWithTheCallersSettings) {
  text::HashingOptions hashing;
  hashing.dim = 64;
  const text::EncoderChoice c = text::choose_sentence_encoder("hashing", present_vectors(), hashing, {}, "--encoder");
  EXPECT_EQ(c.encoder->id().name, "hashing");
  EXPECT_EQ(c.encoder->dim(), 64);
  EXPECT_NE(c.explanation.find("as asked by --encoder hashing"), std::string::npos) << c.explanation;
  EXPECT_TRUE(c.load_note.empty());
}

TEST(EncoderChoice, AutoTakesSifWhenTheVectorsAreThere) {
  const text::EncoderChoice c = text::choose_sentence_encoder("auto", present_vectors(), {}, {}, "--text-encoder");
  EXPECT_EQ(c.encoder->id().name, "sif");
  EXPECT_EQ(c.encoder->dim(), 2);
  EXPECT_EQ(c.explanation, "sif (--text-encoder auto: the word vectors vecs 1.0 are in /data)");
  EXPECT_EQ(c.load_note, "word vectors: 3 x 2 from memory");
}

TEST(EncoderChoice, AutoFallsBackToHashingAndSaysHowToGetSif) {
  const text::EncoderChoice c = text::choose_sentence_encoder("auto", absent_vectors(), {}, {});
  EXPECT_EQ(c.encoder->id().name, "hashing");
  EXPECT_EQ(c.encoder->dim(), 256);
  EXPECT_NE(c.explanation.find("--encoder auto: the word vectors vecs 1.0 are not in /data; "
                               "`lwdock data fetch vecs --dir /data` brings them for sif"),
            std::string::npos)
      << c.explanation;
  text::WordVectorLocation no_dir;
  no_dir.name = "vecs 1.0";
  no_dir.no_dir_reason = "set HOME";
  const text::EncoderChoice d = text::choose_sentence_encoder("auto", no_dir, {}, {});
  EXPECT_EQ(d.encoder->id().name, "hashing");
  EXPECT_NE(d.explanation.find("no data directory for the word vectors (set HOME)"), std::string::npos);
}

TEST(EncoderChoice, SifWithoutTheVectorsNamesTheFetchCommand) {
  expect_error_mentions([] { text::choose_sentence_encoder("sif", absent_vectors(), {}, {}); },
                        {"--encoder sif needs the word vectors vecs 1.0", "not in /data",
                         "`lwdock data fetch vecs --dir /data`", "or use --encoder hashing"});
  text::WordVectorLocation no_dir;
  no_dir.name = "vecs 1.0";
  no_dir.no_dir_reason = "set HOME";
  expect_error_mentions([&] { text::choose_sentence_encoder("sif", no_dir, {}, {}); }, {"vecs 1.0", "set HOME"});
  const text::EncoderChoice c = text::choose_sentence_encoder("sif", present_vectors(), {}, {});
  EXPECT_EQ(c.explanation, "sif over vecs 1.0 in /data, as asked by --encoder sif");
}

TEST(EncoderChoice, RefusesUnknownNames) {
  expect_error_mentions([] { text::choose_sentence_encoder("bert", present_vectors(), {}, {}); },
                        {"unknown text encoder 'bert'", "auto, sif, hashing"});
}

}  // namespace

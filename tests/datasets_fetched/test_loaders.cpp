// MNIST digit files and the Brown corpus: small fixtures in the packages' own
// formats, then truncated and damaged copies, each of which must end in an
// lwd::Error that names the file (and where in it), never in a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/mnist_digits.h"
#include "engine/error.h"
#include "fixture_files.h"

namespace lwd::datasets {
namespace {

using testing::damaged;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

// The package writes byte/255 with three decimals ("0.992", "0", "1").
std::string grey_level_text(int byte) {
  if (byte == 0) return "0";
  if (byte == 255) return "1";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.3f", byte / 255.0);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();  // "0.200" -> "0.2", as the package writes it
  return s;
}

int fixture_pixel(int digit, int image, int pixel) { return (pixel * 7 + digit * 13 + image * 31) % 256; }

std::string digit_file_text(int digit, int images) {
  std::string s = "{ \"data\": [";
  for (int i = 0; i < images; ++i) {
    for (int p = 0; p < MnistDigits::kPixels; ++p) {
      if (i + p > 0) s += ',';
      s += grey_level_text(fixture_pixel(digit, i, p));
    }
  }
  return s + "]}";
}

// Digit d gets d % 3 + 1 images, so the per-digit counts differ.
void write_mnist_fixture(const std::filesystem::path& package_dir) {
  for (int d = 0; d < 10; ++d) {
    write_file(package_dir / "src" / "digits" / (std::to_string(d) + ".json"), digit_file_text(d, d % 3 + 1));
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(MnistDigits, LoadsEveryImageWithItsDigitInDigitOrder) {
  ScratchDir dir;
  write_mnist_fixture(dir.path());
  const MnistDigits digits = load_mnist_digits(dir.path());
  ASSERT_EQ(digits.pixels.cols(), 784);
  std::int64_t row = 0;
  for (int d = 0; d < 10; ++d) {
    for (int i = 0; i < d % 3 + 1; ++i, ++row) {
      ASSERT_EQ(digits.labels[static_cast<std::size_t>(row)], d);
      for (int p = 0; p < 784; ++p) ASSERT_EQ(digits.pixels(row, p), fixture_pixel(d, i, p)) << "digit " << d << " pixel " << p;
    }
  }
  EXPECT_EQ(digits.size(), row);
  EXPECT_EQ(digits.labels.size(), static_cast<std::size_t>(row));
}

TEST(MnistDigits, ThreeDecimalGreyLevelsDecodeToTheOriginalBytes) {
  ScratchDir dir;
  std::string s = "{\"data\":[";
  for (int p = 0; p < 784; ++p) {
    if (p > 0) s += ',';
    s += grey_level_text(p % 256);
  }
  write_file(dir / "levels.json", s + "]}");
  MnistDigits digits;
  append_mnist_digit_file(dir / "levels.json", 4, digits);
  for (int p = 0; p < 784; ++p) ASSERT_EQ(digits.pixels(0, p), p % 256);
  const kernels::Matrix<float> f = digits.pixels_as_float();
  EXPECT_FLOAT_EQ(f(0, 255), 1.0f);
  EXPECT_FLOAT_EQ(f(0, 51), 51.0f / 255.0f);
}

TEST(MnistDigits, EveryTruncationOfADigitFileIsAnErrorNamingFileAndOffset) {
  ScratchDir dir;
  const std::string full = digit_file_text(3, 1);
  for (std::size_t cut = 0; cut < full.size(); cut += 97) {
    write_file(dir / "3.json", full.substr(0, cut));
    MnistDigits digits;
    const std::string message = error_of([&] { append_mnist_digit_file(dir / "3.json", 3, digits); });
    ASSERT_NE(message.find("3.json"), std::string::npos) << "cut at " << cut << ": " << message;
    ASSERT_NE(message.find("byte "), std::string::npos) << message;
  }
  // A cut right before the closing brackets too.
  write_file(dir / "3.json", full.substr(0, full.size() - 2));
  MnistDigits digits;
  EXPECT_NE(error_of([&] { append_mnist_digit_file(dir / "3.json", 3, digits); }).find("end of file"), std::string::npos);
}

TEST(MnistDigits, AnArrayThatIsNotWholeImagesIsAnError) {
  ScratchDir dir;
  std::string s = "{\"data\":[0";
  for (int p = 1; p < 785; ++p) s += ",0";
  write_file(dir / "x.json", s + "]}");
  MnistDigits digits;
  EXPECT_NE(error_of([&] { append_mnist_digit_file(dir / "x.json", 0, digits); }).find("multiple of 784"), std::string::npos);
  write_file(dir / "x.json", "{\"data\":[]}");
  EXPECT_NE(error_of([&] { append_mnist_digit_file(dir / "x.json", 0, digits); }).find("multiple of 784"), std::string::npos);
}

TEST(MnistDigits, ValuesOutsideTheUnitIntervalOrNotNumbersAreErrors) {
  ScratchDir dir;
  for (const std::string bad : {"1.5", "-0.1", "1e999", "NaN", "0.5x", "\"0.5\"", "+0.5", ".5", "1."}) {
    std::string s = "{\"data\":[" + bad;
    for (int p = 1; p < 784; ++p) s += ",0";
    write_file(dir / "x.json", s + "]}");
    MnistDigits digits;
    const std::string message = error_of([&] { append_mnist_digit_file(dir / "x.json", 0, digits); });
    EXPECT_NE(message.find("x.json: line 1, byte "), std::string::npos) << bad << ": " << message;
  }
}

TEST(MnistDigits, AFileWithoutDataOrWithTrailingGarbageIsAnError) {
  ScratchDir dir;
  MnistDigits digits;
  write_file(dir / "x.json", "{\"pixels\":[0]}");
  EXPECT_NE(error_of([&] { append_mnist_digit_file(dir / "x.json", 0, digits); }).find("no \"data\""), std::string::npos);
  write_file(dir / "x.json", digit_file_text(0, 1) + "]");
  EXPECT_NE(error_of([&] { append_mnist_digit_file(dir / "x.json", 0, digits); }).find("after the end"), std::string::npos);
  write_file(dir / "x.json", digit_file_text(0, 1) + std::string(1, '\0'));
  EXPECT_NE(error_of([&] { append_mnist_digit_file(dir / "x.json", 0, digits); }).find("0x00"), std::string::npos);
}

TEST(MnistDigits, AMissingDigitFileIsNamed) {
  ScratchDir dir;
  write_mnist_fixture(dir.path());
  std::filesystem::remove(dir.path() / "src" / "digits" / "7.json");
  EXPECT_NE(error_of([&] { load_mnist_digits(dir.path()); }).find("7.json: missing"), std::string::npos);
}

TEST(MnistDigits, RandomDamageEndsInAnErrorNeverACrash) {
  ScratchDir dir;
  const std::string full = digit_file_text(5, 2);
  int errors = 0;
  for (std::uint32_t seed = 0; seed < 200; ++seed) {
    write_file(dir / "5.json", damaged(full, 3, seed));
    MnistDigits digits;
    try {
      append_mnist_digit_file(dir / "5.json", 5, digits);
      ASSERT_EQ(digits.size(), 2);  // damage that kept it valid JSON of the same shape
    } catch (const Error& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find("5.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 100);
}

// ---- Brown corpus ------------------------------------------------------------

// Two documents in the package's tagged form: tab-indented sentences separated
// by blank lines, a fraction "1/2/cd", a bare slash "//in", a headline line.
const char* kNewsDocument =
    "\n\n\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` 1/2/cd ''/'' ./.\n\n\n"
    "\tIt/pps urged/vbd //in action/nn ./.\n\n\n"
    "Merger/nn-hl proposed/vbn-hl \n";
const char* kHumorDocument = "\n\n\tIt/pps was/bedz funny/jj ./.\n";

void write_brown_fixture(const std::filesystem::path& dir) {
  write_file(dir / "cats.txt", "ca01 news\ncr01 humor\n\nca02 news\n");
  write_file(dir / "ca01", kNewsDocument);
  write_file(dir / "cr01", kHumorDocument);
  write_file(dir / "ca02", kHumorDocument);
}

TEST(BrownCorpus, LoadsDocumentsWithTheirCategoriesTokensAndSentences) {
  ScratchDir dir;
  write_brown_fixture(dir.path());
  const BrownCorpus corpus = load_brown_corpus(dir.path());
  ASSERT_EQ(corpus.documents.size(), 3u);
  EXPECT_EQ(corpus.categories, (std::vector<std::string>{"humor", "news"}));
  const BrownDocument& news = corpus.documents[0];
  EXPECT_EQ(news.id, "ca01");
  EXPECT_EQ(news.category, "news");
  EXPECT_EQ(news.category_index, 1);
  EXPECT_EQ(corpus.documents[1].category_index, 0);
  EXPECT_EQ(news.words, (std::vector<std::string>{"The", "Fulton", "County", "said", "``", "1/2", "''", ".", "It", "urged",
                                                  "/", "action", ".", "Merger", "proposed"}));
  EXPECT_EQ(news.tags[1], "np-tl");
  EXPECT_EQ(news.tags[5], "cd");
  EXPECT_EQ(news.tags[10], "in");
  EXPECT_EQ(news.sentence_starts, (std::vector<std::int64_t>{0, 8, 13}));
  EXPECT_EQ(news.text(), "The Fulton County said `` 1/2 '' .\nIt urged / action .\nMerger proposed\n");
}

TEST(BrownCorpus, ATokenWithoutWordOrTagIsAnErrorNamingFileAndLine) {
  ScratchDir dir;
  for (const std::string bad : {"jury", "jury/", "/nn"}) {
    write_file(dir / "ca01", "\n\n\tThe/at " + bad + " said/vbd\n");
    const std::string message = error_of([&] { read_brown_document(dir / "ca01", "ca01", "news"); });
    EXPECT_NE(message.find("ca01:3: token '" + bad + "' is not word/tag"), std::string::npos) << message;
  }
}

TEST(BrownCorpus, TruncatedDocumentsAreErrors) {
  ScratchDir dir;
  const std::string full = kNewsDocument;
  // Cut inside "Fulton" (before its slash) and right after a slash.
  for (const std::size_t cut : {full.find("Fulton") + 3, full.find("said/") + 5}) {
    write_file(dir / "ca01", full.substr(0, cut));
    const std::string message = error_of([&] { read_brown_document(dir / "ca01", "ca01", "news"); });
    EXPECT_NE(message.find("ca01:3:"), std::string::npos) << message;
  }
  write_file(dir / "ca01", "\n\n");  // truncated before the first sentence
  EXPECT_NE(error_of([&] { read_brown_document(dir / "ca01", "ca01", "news"); }).find("no word/tag tokens"),
            std::string::npos);
}

TEST(BrownCorpus, ATruncatedOrHostileCategoryListIsAnError) {
  ScratchDir dir;
  write_brown_fixture(dir.path());
  write_file(dir / "cats.txt", "ca01 news\nca0");  // cut mid-line
  EXPECT_NE(error_of([&] { load_brown_corpus(dir.path()); }).find("cats.txt:2: expected 'file_id category'"),
            std::string::npos);
  write_file(dir / "cats.txt", "ca01 news\nca09 news\n");  // names a file that is not there
  EXPECT_NE(error_of([&] { load_brown_corpus(dir.path()); }).find("ca09: missing"), std::string::npos);
  write_file(dir / "cats.txt", "../etc news\n");
  EXPECT_NE(error_of([&] { load_brown_corpus(dir.path()); }).find("not a plain name"), std::string::npos);
  write_file(dir / "cats.txt", "ca01 news\nca01 humor\n");
  EXPECT_NE(error_of([&] { load_brown_corpus(dir.path()); }).find("listed twice"), std::string::npos);
  write_file(dir / "cats.txt", "");
  EXPECT_NE(error_of([&] { load_brown_corpus(dir.path()); }).find("no 'file_id category' lines"), std::string::npos);
}

TEST(BrownCorpus, BinaryGarbageIsAnErrorNotACrash) {
  ScratchDir dir;
  int errors = 0;
  for (std::uint32_t seed = 0; seed < 100; ++seed) {
    write_file(dir / "ca01", damaged(kNewsDocument, 6, seed));
    try {
      read_brown_document(dir / "ca01", "ca01", "news");
    } catch (const Error& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find("ca01:"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 30);
  write_file(dir / "ca01", std::string("\tThe/at \x01jury/nn\n"));
  EXPECT_NE(error_of([&] { read_brown_document(dir / "ca01", "ca01", "news"); }).find("control byte"), std::string::npos);
}

}  // namespace
}  // namespace lwd::datasets

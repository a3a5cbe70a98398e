// Numeric CSV reading and writing (engine/io/csv.h) and the atomic file
// writes underneath (engine/io/atomic_file.h).
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/csv.h"

namespace lwd::io {
namespace {

namespace fs = std::filesystem;
using kernels::Matrix;

fs::path test_data_dir() {
  if (const char* dir = std::getenv("LWD_TEST_DATA")) return dir;
  return fs::path(__FILE__).parent_path() / "data";
}

using TempDir = ::lwd::test::ScratchDir;

NumericTable parse(const std::string& text) {
  std::istringstream in(text);
  return parse_numeric_csv(in, "t.csv");
}

// The lwd::Error message of parsing `text`, or "" if it parsed.
std::string parse_error(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  return names;
}

void write_raw(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// ---- reading ---------------------------------------------------------------

TEST(ReadNumericCsv, ParsesRowsWithoutHeader) {
  const NumericTable t = parse("1,2,3\n4,5,6\n");
  EXPECT_TRUE(t.column_names.empty());
  ASSERT_EQ(t.values.rows(), 2);
  ASSERT_EQ(t.values.cols(), 3);
  EXPECT_EQ(t.values.values(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST(ReadNumericCsv, DetectsHeaderWhenFirstRowHasText) {
  const NumericTable t = parse("age,income\n31,1000.5\n");
  EXPECT_EQ(t.column_names, (std::vector<std::string>{"age", "income"}));
  ASSERT_EQ(t.values.rows(), 1);
  EXPECT_EQ(t.values(0, 1), 1000.5);
}

TEST(ReadNumericCsv, OneTextFieldMakesTheFirstRowAHeader) {
  const NumericTable t = parse("1,b\n2,3\n");
  EXPECT_EQ(t.column_names, (std::vector<std::string>{"1", "b"}));
  EXPECT_EQ(t.values.rows(), 1);
}

TEST(ReadNumericCsv, FirstRowOfNumbersAndMissingValuesIsData) {
  const NumericTable t = parse("nan,,inf\n1,2,3\n");
  EXPECT_TRUE(t.column_names.empty());
  EXPECT_EQ(t.values.rows(), 2);
}

TEST(ReadNumericCsv, ReadsNonFiniteTokensAndEmptyFieldsAsNonFinite) {
  const NumericTable t = parse("a,b,c,d,e,f,g\nnan,NaN,inf,-inf,Infinity,,-Infinity\n");
  const double* r = t.values.row(0);
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_TRUE(std::isnan(r[1]));
  EXPECT_EQ(r[2], std::numeric_limits<double>::infinity());
  EXPECT_EQ(r[3], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(r[4], std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(r[5]));
  EXPECT_EQ(r[6], -std::numeric_limits<double>::infinity());
}

TEST(ReadNumericCsv, ReadsCommonMissingValueTokensAsNaN) {
  const NumericTable t = parse("a,b,c,d,e,f\nNA,N/A,NULL,null,None,#N/A\n");
  for (std::int64_t j = 0; j < t.values.cols(); ++j) EXPECT_TRUE(std::isnan(t.values(0, j))) << "column " << j;
}

TEST(ReadNumericCsv, TrailingCommaIsAnEmptyLastField) {
  const NumericTable t = parse("1,2,\n3,4,5\n");
  ASSERT_EQ(t.values.cols(), 3);
  EXPECT_TRUE(std::isnan(t.values(0, 2)));
}

TEST(ReadNumericCsv, AcceptsCrlfLineEndings) {
  const NumericTable t = parse("x,y\r\n1.5,2\r\n3,4\r\n");
  EXPECT_EQ(t.column_names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(t.values.values(), (std::vector<double>{1.5, 2, 3, 4}));
}

TEST(ReadNumericCsv, TrimsSpacesAndTabsAroundFields) {
  const NumericTable t = parse(" x , y\n  1 ,\t2 \n");
  EXPECT_EQ(t.column_names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(t.values.values(), (std::vector<double>{1, 2}));
}

TEST(ReadNumericCsv, SkipsBlankLinesIncludingTrailingOnes) {
  const NumericTable t = parse("1,2\n\n3,4\n  \n\r\n\n");
  EXPECT_EQ(t.values.rows(), 2);
}

TEST(ReadNumericCsv, AcceptsMissingFinalNewline) { EXPECT_EQ(parse("1,2\n3,4").values.rows(), 2); }

TEST(ReadNumericCsv, SkipsUtf8ByteOrderMark) {
  const NumericTable t = parse("\xEF\xBB\xBFx,y\n1,2\n");
  EXPECT_EQ(t.column_names, (std::vector<std::string>{"x", "y"}));
}

TEST(ReadNumericCsv, AcceptsExponentsLeadingPlusAndBareDecimalPoints) {
  const NumericTable t = parse("1e3,+2.5,-.5,7.,1E-2\n");
  EXPECT_EQ(t.values.values(), (std::vector<double>{1000, 2.5, -0.5, 7, 0.01}));
}

TEST(ReadNumericCsv, OverflowingNumbersReadAsInfinity) {
  const NumericTable t = parse("1e999,-1e999\n");
  EXPECT_EQ(t.values(0, 0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.values(0, 1), -std::numeric_limits<double>::infinity());
}

TEST(ReadNumericCsv, UnquotesQuotedFields) {
  const NumericTable t = parse("\"price, usd\",\"say \"\"hi\"\"\"\n\"1.5\",2\n");
  EXPECT_EQ(t.column_names, (std::vector<std::string>{"price, usd", "say \"hi\""}));
  EXPECT_EQ(t.values.values(), (std::vector<double>{1.5, 2}));
}

TEST(ReadNumericCsv, SingleColumn) {
  const NumericTable t = parse("v\n1\n2\n3\n");
  EXPECT_EQ(t.values.rows(), 3);
  EXPECT_EQ(t.values.cols(), 1);
}

TEST(ReadNumericCsv, RaggedRowIsAnErrorNamingFileAndLine) {
  const std::string msg = parse_error("a,b,c\n1,2,3\n4,5\n");
  EXPECT_NE(msg.find("t.csv:3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 fields"), std::string::npos) << msg;
  EXPECT_NE(msg.find("has 3"), std::string::npos) << msg;
}

TEST(ReadNumericCsv, RowLongerThanHeaderIsAnError) {
  const std::string msg = parse_error("a,b\n1,2\n3,4,5\n");
  EXPECT_NE(msg.find("t.csv:3:"), std::string::npos) << msg;
}

TEST(ReadNumericCsv, LineNumbersCountBlankLines) {
  const std::string msg = parse_error("1,2\n\n\n3\n");
  EXPECT_NE(msg.find("t.csv:4:"), std::string::npos) << msg;
}

TEST(ReadNumericCsv, TextAfterHeaderIsAnErrorNamingLineAndColumn) {
  const std::string msg = parse_error("a,b\n1,2\n3,abc\n");
  EXPECT_NE(msg.find("t.csv:3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"b\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"abc\" is not a number"), std::string::npos) << msg;
}

TEST(ReadNumericCsv, TextInDataWithoutHeaderIsAnError) {
  const std::string msg = parse_error("1,2\n3,4x\n");
  EXPECT_NE(msg.find("t.csv:2: column 2"), std::string::npos) << msg;
}

TEST(ReadNumericCsv, NumberWithTrailingGarbageIsNotANumber) {
  EXPECT_NE(parse_error("a\n1.5.2\n").find("is not a number"), std::string::npos);
  EXPECT_NE(parse_error("a\n--1\n").find("is not a number"), std::string::npos);
  EXPECT_NE(parse_error("a\n+-1\n").find("is not a number"), std::string::npos);
  EXPECT_NE(parse_error("a\n0x10\n").find("is not a number"), std::string::npos);
}

TEST(ReadNumericCsv, EmptyInputIsAnError) {
  EXPECT_NE(parse_error("").find("no data rows"), std::string::npos);
  EXPECT_NE(parse_error("\n\n  \n").find("no data rows"), std::string::npos);
}

TEST(ReadNumericCsv, HeaderWithoutRowsIsAnError) {
  const std::string msg = parse_error("a,b,c\n");
  EXPECT_NE(msg.find("t.csv: no data rows"), std::string::npos) << msg;
}

TEST(ReadNumericCsv, UnterminatedQuoteIsAnError) {
  const std::string msg = parse_error("\"a,b\n1,2\n");
  EXPECT_NE(msg.find("t.csv:1:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unterminated"), std::string::npos) << msg;
}

TEST(ReadNumericCsv, MissingFileIsAnErrorNamingThePath) {
  TempDir dir;
  try {
    read_numeric_csv(dir / "absent.csv");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.csv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

TEST(ReadNumericCsv, DirectoryIsAnError) {
  TempDir dir;
  EXPECT_THROW(read_numeric_csv(dir.path()), Error);
}

TEST(ReadNumericCsv, ErrorsFromFilesNameThePath) {
  try {
    read_numeric_csv(test_data_dir() / "table_ragged.csv");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("table_ragged.csv:4:"), std::string::npos) << e.what();
  }
}

TEST(ReadNumericCsv, ReadsTheFixtures) {
  const NumericTable small = read_numeric_csv(test_data_dir() / "table_small.csv");
  EXPECT_EQ(small.column_names, (std::vector<std::string>{"x1", "x2", "x3"}));
  EXPECT_EQ(small.values.rows(), 60);
  EXPECT_TRUE(std::isnan(small.values(5, 1)));
  EXPECT_TRUE(std::isnan(small.values(17, 2)));
  EXPECT_TRUE(std::isinf(small.values(41, 0)));

  const NumericTable no_header = read_numeric_csv(test_data_dir() / "table_no_header.csv");
  EXPECT_TRUE(no_header.column_names.empty());
  EXPECT_EQ(no_header.values.rows(), 30);
  EXPECT_EQ(no_header.values.cols(), 2);
}

TEST(ReadNumericCsv, ReadsManyRowsExactly) {
  const std::int64_t rows = 20000, cols = 17;
  std::string text;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) text += std::to_string(i * cols + j) + (j + 1 < cols ? "," : "\n");
  const NumericTable t = parse(text);
  ASSERT_EQ(t.values.rows(), rows);
  ASSERT_EQ(t.values.cols(), cols);
  for (std::int64_t k = 0; k < rows * cols; ++k) ASSERT_EQ(t.values.values()[k], static_cast<double>(k));
}

// ---- writing ---------------------------------------------------------------

TEST(WriteNumericCsv, RoundTripsEveryDoubleExactly) {
  TempDir dir;
  const std::vector<double> awkward = {0.1,
                                       1.0 / 3.0,
                                       -2.5e-300,
                                       std::numeric_limits<double>::denorm_min(),
                                       std::numeric_limits<double>::max(),
                                       -std::numeric_limits<double>::min(),
                                       123456789012345678.0,
                                       -0.0,
                                       0.0,
                                       std::nextafter(1.0, 2.0),
                                       std::numeric_limits<double>::infinity(),
                                       -std::numeric_limits<double>::infinity()};
  const Matrix<double> m(4, 3, awkward);
  write_numeric_csv(dir / "m.csv", m, {"a", "b", "c"});
  const NumericTable back = read_numeric_csv(dir / "m.csv");
  EXPECT_EQ(back.column_names, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(back.values.rows(), 4);
  for (std::size_t k = 0; k < awkward.size(); ++k)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back.values.values()[k]), std::bit_cast<std::uint64_t>(awkward[k]))
        << "entry " << k;
}

TEST(WriteNumericCsv, RoundTripsNaN) {
  TempDir dir;
  const Matrix<double> m(1, 2, std::vector<double>{std::numeric_limits<double>::quiet_NaN(), 1.0});
  write_numeric_csv(dir / "m.csv", m);
  const NumericTable back = read_numeric_csv(dir / "m.csv");
  EXPECT_TRUE(std::isnan(back.values(0, 0)));
  EXPECT_EQ(back.values(0, 1), 1.0);
}

TEST(WriteNumericCsv, WritesPercent17gWithoutHeaderByDefault) {
  TempDir dir;
  write_numeric_csv(dir / "m.csv", Matrix<double>(1, 2, std::vector<double>{0.1, 2.0}));
  EXPECT_EQ(read_text_file(dir / "m.csv"), "0.10000000000000001,2\n");
}

TEST(WriteNumericCsv, QuotesColumnNamesThatNeedIt) {
  TempDir dir;
  write_numeric_csv(dir / "m.csv", Matrix<double>(1, 2, std::vector<double>{1, 2}), {"a,b", "say \"x\""});
  EXPECT_EQ(read_text_file(dir / "m.csv"), "\"a,b\",\"say \"\"x\"\"\"\n1,2\n");
  EXPECT_EQ(read_numeric_csv(dir / "m.csv").column_names, (std::vector<std::string>{"a,b", "say \"x\""}));
}

TEST(WriteNumericCsv, WrongNumberOfColumnNamesIsAnErrorAndWritesNothing) {
  TempDir dir;
  EXPECT_THROW(write_numeric_csv(dir / "m.csv", Matrix<double>(1, 2), {"a"}), Error);
  EXPECT_TRUE(files_in(dir.path()).empty());
}

TEST(WriteNumericCsv, MissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  try {
    write_numeric_csv(dir / "no" / "such" / "m.csv", Matrix<double>(1, 1));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.csv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

// ---- atomic writes ---------------------------------------------------------

TEST(AtomicFile, WritesAndReadsBack) {
  TempDir dir;
  write_text_file_atomically(dir / "f.txt", "hello\nworld");
  EXPECT_EQ(read_text_file(dir / "f.txt"), "hello\nworld");
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"f.txt"}));
}

TEST(AtomicFile, ReplacesAnExistingFile) {
  TempDir dir;
  write_raw(dir / "f.txt", "old content that is longer");
  write_text_file_atomically(dir / "f.txt", "new");
  EXPECT_EQ(read_text_file(dir / "f.txt"), "new");
}

TEST(AtomicFile, WriterExceptionLeavesTargetUntouchedAndNoTemporary) {
  TempDir dir;
  write_raw(dir / "f.txt", "original");
  EXPECT_THROW(write_file_atomically(dir / "f.txt",
                                     [](std::ostream& out) {
                                       out << std::string(1 << 20, 'x');  // past the stream's buffer
                                       throw std::runtime_error("writer failed");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read_text_file(dir / "f.txt"), "original");
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"f.txt"}));
}

TEST(AtomicFile, WriterExceptionCreatesNoTarget) {
  TempDir dir;
  EXPECT_THROW(write_file_atomically(dir / "f.txt", [](std::ostream&) { throw Error("no"); }), Error);
  EXPECT_TRUE(files_in(dir.path()).empty());
}

TEST(AtomicFile, TargetThatIsADirectoryIsAnError) {
  TempDir dir;
  fs::create_directory(dir / "sub");
  EXPECT_THROW(write_text_file_atomically(dir / "sub", "x"), Error);
  EXPECT_TRUE(fs::is_directory(dir / "sub"));
}

TEST(AtomicFile, KeepsThePermissionsOfAReplacedFile) {
  TempDir dir;
  write_raw(dir / "f.txt", "old");
  fs::permissions(dir / "f.txt", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  write_text_file_atomically(dir / "f.txt", "new");
  EXPECT_EQ(fs::status(dir / "f.txt").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}

TEST(AtomicFile, ReadingAMissingFileNamesIt) {
  TempDir dir;
  try {
    read_text_file(dir / "nope.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lwd::io

// Averaging: mean, vote by label and vote by probability equal the values
// computed by hand from the members' outputs; misuse gives clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/error.h"
#include "engine/reuse/averaging.h"
#include "tests/reuse/reuse_fixture.h"

namespace {

using lwd::AveragingMode;
using lwd::AveragingReuser;
using lwd::kernels::Matrix;
using namespace lwd::testing_reuse;

const Matrix<double> kData = gaussian_rows(50, 2, 0.0, 7);
const Matrix<double> kRows(3, 2, std::vector<double>{1.0, 2.0, -1.0, 0.5, 0.0, -3.0});

TEST(Averaging, MeanIsTheAverageOfTheRegressionOutputs) {
  AveragingReuser reuser({ridge_learnware("a", {1.0, 2.0}, 0.0, kData), ridge_learnware("b", {3.0, -1.0}, 1.0, kData)},
                         AveragingMode::kMean);
  const Matrix<double> out = reuser.predict(kRows.view());
  ASSERT_EQ(out.rows(), 3);
  ASSERT_EQ(out.cols(), 1);
  // a: x0 + 2 x1, b: 3 x0 - x1 + 1.
  EXPECT_DOUBLE_EQ(out(0, 0), ((1 + 4) + (3 - 2 + 1)) / 2.0);
  EXPECT_DOUBLE_EQ(out(1, 0), ((-1 + 1) + (-3 - 0.5 + 1)) / 2.0);
  EXPECT_DOUBLE_EQ(out(2, 0), ((0 - 6) + (0 + 3 + 1)) / 2.0);
}

// Three 3-class logistic members whose argmax is class (x0 > 0 ? k : 2) for member k = 0, 1, 1.
std::vector<lwd::Learnware> three_voters() {
  auto member = [](const std::string& id, int favourite) {
    Matrix<double> coef(3, 2, 0.0);
    coef(favourite, 0) = 10.0;  // wins when x0 > 0
    coef(2, 0) = -10.0;         // class 2 wins when x0 < 0
    return logistic_learnware(id, coef, {0.0, 0.0, 0.0}, kData);
  };
  return {member("m0", 0), member("m1", 1), member("m2", 1)};
}

TEST(Averaging, VoteByLabelGivesTheVoteFractionsAndTheMajorityLabel) {
  AveragingReuser reuser(three_voters(), AveragingMode::kVoteByLabel);
  const Matrix<double> out = reuser.predict(kRows.view());
  ASSERT_EQ(out.cols(), 3);
  // Row 0 (x0 = 1): votes 0, 1, 1 -> fractions {1/3, 2/3, 0}.
  EXPECT_DOUBLE_EQ(out(0, 0), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(out(0, 1), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(out(0, 2), 0.0);
  // Row 1 (x0 = -1): everyone votes 2.
  EXPECT_DOUBLE_EQ(out(1, 2), 1.0);
  // Row 2 (x0 = 0): all scores tie, every member's label is 0 (lowest index).
  EXPECT_DOUBLE_EQ(out(2, 0), 1.0);
  EXPECT_EQ(lwd::argmax_labels(out), (std::vector<std::int64_t>{1, 2, 0}));
}

TEST(Averaging, VoteByLabelBreaksTiesTowardsTheLowestLabel) {
  auto voters = three_voters();
  voters.pop_back();  // members 0 and 1 now split the vote on x0 > 0
  AveragingReuser reuser(std::move(voters), AveragingMode::kVoteByLabel);
  const Matrix<double> out = reuser.predict(kRows.view());
  EXPECT_DOUBLE_EQ(out(0, 0), 0.5);
  EXPECT_DOUBLE_EQ(out(0, 1), 0.5);
  EXPECT_EQ(lwd::argmax_labels(out)[0], 0);
}

TEST(Averaging, VoteByProbAveragesTheSoftmaxOfEachMembersOutput) {
  const auto voters = three_voters();
  AveragingReuser reuser(voters, AveragingMode::kVoteByProb);
  const Matrix<double> out = reuser.predict(kRows.view());
  for (std::int64_t i = 0; i < kRows.rows(); ++i) {
    std::vector<double> expected(3, 0.0);
    for (const auto& lw : voters) {
      const Matrix<double> p = lw.predict(kRows.view().row_block(i, 1));
      double z = 0.0;
      for (int c = 0; c < 3; ++c) z += std::exp(p(0, c));
      for (int c = 0; c < 3; ++c) expected[c] += std::exp(p(0, c)) / z / 3.0;
    }
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(out(i, c), expected[c], 1e-15) << "row " << i << " class " << c;
  }
}

TEST(Averaging, MissingValuesAreFilledWithColumnMeans) {
  AveragingReuser reuser({ridge_learnware("a", {1.0, 2.0}, 0.0, kData)}, AveragingMode::kMean);
  Matrix<double> gappy = kRows;
  gappy(1, 1) = std::nan("");
  Matrix<double> filled = kRows;
  filled(1, 1) = (2.0 - 3.0) / 2.0;  // mean of the other entries of column 1
  EXPECT_EQ(reuser.predict(gappy.view()), reuser.predict(filled.view()));
}

TEST(Averaging, AnEmptyListIsAnError) {
  EXPECT_THROW(AveragingReuser({}, AveragingMode::kMean), lwd::Error);
}

TEST(Averaging, AModeThatDoesNotFitTheTaskIsAnError) {
  EXPECT_THROW(AveragingReuser({ridge_learnware("a", {1.0, 2.0}, 0.0, kData)}, AveragingMode::kVoteByProb), lwd::Error);
  EXPECT_THROW(AveragingReuser(three_voters(), AveragingMode::kMean), lwd::Error);
}

TEST(Averaging, LearnwaresOfDifferentWidthsAreAnError) {
  const Matrix<double> wide = gaussian_rows(50, 3, 0.0, 8);
  try {
    AveragingReuser({ridge_learnware("a", {1.0, 2.0}, 0.0, kData), ridge_learnware("b", {1.0, 1.0, 1.0}, 0.0, wide)},
                    AveragingMode::kMean);
    FAIL() << "expected an error";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("learnware b takes 3 feature(s)"), std::string::npos) << e.what();
  }
}

TEST(Averaging, DataOfTheWrongWidthIsAnError) {
  AveragingReuser reuser({ridge_learnware("a", {1.0, 2.0}, 0.0, kData)}, AveragingMode::kMean);
  const Matrix<double> wrong(4, 3, 0.0);
  EXPECT_THROW(reuser.predict(wrong.view()), lwd::Error);
}

TEST(Averaging, FitIsRefusedBecauseAveragingUsesNoLabels) {
  AveragingReuser reuser({ridge_learnware("a", {1.0, 2.0}, 0.0, kData)}, AveragingMode::kMean);
  EXPECT_FALSE(reuser.uses_labels());
  const std::vector<double> y{1.0, 2.0, 3.0};
  EXPECT_THROW(reuser.fit(kRows.view(), y), lwd::Error);
}

TEST(Averaging, ModeNamesRoundTrip) {
  for (auto mode : {AveragingMode::kMean, AveragingMode::kVoteByLabel, AveragingMode::kVoteByProb})
    EXPECT_EQ(lwd::parse_averaging_mode(lwd::to_string(mode)), mode);
  EXPECT_THROW(lwd::parse_averaging_mode("median"), lwd::Error);
}

}  // namespace

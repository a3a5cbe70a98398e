// The "linear" model kind: ridge and logistic fits, the JSON file format, and
// the model-interface plumbing (load_model, model_kinds, argmax_labels).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/model/linear_model.h"
#include "engine/model/model.h"
#include "tests/model/model_test_util.h"

namespace lwd {
namespace {

using kernels::Matrix;
using test::expect_error_mentions;
using test::file_model_config;
using test::ScratchDir;

Matrix<double> random_matrix(std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  Matrix<double> m(rows, cols);
  for (auto& v : m.values()) v = normal(rng);
  return m;
}

// Solves A z = b by Gaussian elimination with partial pivoting (A square).
std::vector<double> gauss_solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const std::size_t n = b.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t pivot = k;
    for (std::size_t i = k + 1; i < n; ++i)
      if (std::abs(a[i][k]) > std::abs(a[pivot][k])) pivot = i;
    std::swap(a[k], a[pivot]);
    std::swap(b[k], b[pivot]);
    for (std::size_t i = k + 1; i < n; ++i) {
      const double f = a[i][k] / a[k][k];
      for (std::size_t j = k; j < n; ++j) a[i][j] -= f * a[k][j];
      b[i] -= f * b[k];
    }
  }
  std::vector<double> z(n);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t j = i + 1; j < n; ++j) s -= a[i][j] * z[j];
    z[i] = s / a[i][i];
  }
  return z;
}

// Three Gaussian blobs in 2-D, centres `spread` apart.
void make_blobs(std::int64_t per_class, double spread, unsigned seed, Matrix<double>& x,
                std::vector<std::int64_t>& labels) {
  const double centres[3][2] = {{0, 0}, {spread, 0}, {0, spread}};
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  x = Matrix<double>(3 * per_class, 2);
  labels.assign(static_cast<std::size_t>(3 * per_class), 0);
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t i = 0; i < per_class; ++i) {
      const std::int64_t r = c * per_class + i;
      x(r, 0) = centres[c][0] + normal(rng);
      x(r, 1) = centres[c][1] + normal(rng);
      labels[static_cast<std::size_t>(r)] = c;
    }
}

TEST(LinearModelRidge, FitEqualsNaiveNormalEquationsWithUnpenalisedIntercept) {
  const auto x = random_matrix(30, 4, 1);
  const auto y = random_matrix(30, 2, 2);
  const double alpha = 0.7;
  const auto model = fit_ridge(x.cview(), y.cview(), alpha);

  // [X 1] z = y with penalty alpha on the weights, none on the intercept.
  const std::size_t p = 5;
  for (std::int64_t out = 0; out < 2; ++out) {
    std::vector<std::vector<double>> a(p, std::vector<double>(p, 0.0));
    std::vector<double> b(p, 0.0);
    for (std::int64_t i = 0; i < 30; ++i) {
      const double row[5] = {x(i, 0), x(i, 1), x(i, 2), x(i, 3), 1.0};
      for (std::size_t r = 0; r < p; ++r) {
        for (std::size_t c = 0; c < p; ++c) a[r][c] += row[r] * row[c];
        b[r] += row[r] * y(i, out);
      }
    }
    for (std::size_t r = 0; r < 4; ++r) a[r][r] += alpha;
    const auto z = gauss_solve(a, b);
    for (std::int64_t j = 0; j < 4; ++j)
      EXPECT_NEAR(model.coef()(out, j), z[static_cast<std::size_t>(j)],
                  1e-10 * std::abs(z[static_cast<std::size_t>(j)]));
    EXPECT_NEAR(model.intercept()[static_cast<std::size_t>(out)], z[4], 1e-10 * std::abs(z[4]));
  }
}

TEST(LinearModelRidge, ZeroAlphaRecoversAnExactLinearFunction) {
  const auto x = random_matrix(20, 3, 3);
  std::vector<double> y(20);
  for (std::int64_t i = 0; i < 20; ++i) y[static_cast<std::size_t>(i)] = 2 * x(i, 0) - x(i, 1) + 0.5 * x(i, 2) + 4;
  const auto model = fit_ridge(x.cview(), std::span<const double>(y), 0.0);
  EXPECT_NEAR(model.coef()(0, 0), 2.0, 1e-12);
  EXPECT_NEAR(model.coef()(0, 1), -1.0, 1e-12);
  EXPECT_NEAR(model.coef()(0, 2), 0.5, 1e-12);
  EXPECT_NEAR(model.intercept()[0], 4.0, 1e-12);
  const auto pred = model.predict(x.cview());
  for (std::int64_t i = 0; i < 20; ++i) EXPECT_NEAR(pred(i, 0), y[static_cast<std::size_t>(i)], 1e-11);
}

TEST(LinearModelRidge, ZeroAlphaOnRankDeficientDataIsAnError) {
  auto x = random_matrix(10, 3, 4);
  for (std::int64_t i = 0; i < 10; ++i) x(i, 2) = x(i, 0) + x(i, 1);
  const std::vector<double> y(10, 1.0);
  expect_error_mentions([&] { fit_ridge(x.cview(), std::span<const double>(y), 0.0); },
                        {"rank deficient", "alpha > 0"});
}

// Rows of out_cols columns computed from each row of x by f(x_row, out_row).
template <typename F>
Matrix<double> map_rows(const Matrix<double>& x, std::int64_t out_cols, F f) {
  Matrix<double> out(x.rows(), out_cols);
  for (std::int64_t i = 0; i < x.rows(); ++i) f(x.row(i), out.row(i));
  return out;
}

// Gradient of (1/n) sum -log softmax(Wx+b)_y + (l2/2)||W||^2, written out plainly.
std::vector<double> naive_logistic_gradient(const LinearModel& model, const Matrix<double>& x,
                                            const std::vector<std::int64_t>& labels, double l2) {
  const std::int64_t c = model.coef().rows(), d = x.cols(), n = x.rows();
  std::vector<double> grad(static_cast<std::size_t>(c * (d + 1)), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<double> s(static_cast<std::size_t>(c));
    double top = -1e300;
    for (std::int64_t k = 0; k < c; ++k) {
      double v = model.intercept()[static_cast<std::size_t>(k)];
      for (std::int64_t j = 0; j < d; ++j) v += model.coef()(k, j) * x(i, j);
      s[static_cast<std::size_t>(k)] = v;
      top = std::max(top, v);
    }
    double z = 0;
    for (auto& v : s) z += (v = std::exp(v - top));
    for (std::int64_t k = 0; k < c; ++k) {
      const double r = s[static_cast<std::size_t>(k)] / z - (labels[static_cast<std::size_t>(i)] == k ? 1.0 : 0.0);
      for (std::int64_t j = 0; j < d; ++j) grad[static_cast<std::size_t>(k * (d + 1) + j)] += r * x(i, j) / n;
      grad[static_cast<std::size_t>(k * (d + 1) + d)] += r / n;
    }
  }
  for (std::int64_t k = 0; k < c; ++k)
    for (std::int64_t j = 0; j < d; ++j) grad[static_cast<std::size_t>(k * (d + 1) + j)] += l2 * model.coef()(k, j);
  return grad;
}

TEST(LinearModelLogistic, FitReachesAStationaryPointOfTheRegularisedObjective) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(60, 1.5, 5, x, labels);  // overlapping: the optimum is finite even with tiny l2
  const double l2 = 1e-3;
  const auto model = fit_logistic(x.cview(), labels, 3, l2, 1000);
  const auto grad = naive_logistic_gradient(model, x, labels, l2);
  for (double g : grad) EXPECT_LT(std::abs(g), 1e-8);
}

// Columns in wildly different units (x1000, x1, x0.001, and a large offset):
// the fit must still reach the stationary point of the raw objective.
TEST(LinearModelLogistic, BadlyScaledColumnsStillReachTheStationaryPoint) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(60, 1.5, 11, x, labels);
  const Matrix<double> scaled = map_rows(x, 3, [](const double* in, double* out) {
    out[0] = 1000.0 * in[0] + 5000.0;
    out[1] = in[1];
    out[2] = 0.001 * in[0] - 0.002 * in[1];
  });
  const double l2 = 1e-3;
  LogisticFitOptions options;
  options.l2 = l2;
  options.gradient_tol = 1e-12;
  const auto model = fit_logistic(scaled.cview(), labels, 3, options);
  const auto grad = naive_logistic_gradient(model, scaled, labels, l2);
  // Scaled back to each column's units, every partial derivative vanishes.
  const double column_scale[] = {1000.0, 1.0, 0.001};
  for (std::int64_t k = 0; k < 3; ++k) {
    for (std::int64_t j = 0; j < 3; ++j) EXPECT_LT(std::abs(grad[static_cast<std::size_t>(k * 4 + j)]) / column_scale[j], 1e-9);
    EXPECT_LT(std::abs(grad[static_cast<std::size_t>(k * 4 + 3)]), 1e-9);
  }
}

// Features in other units: x -> s x with lambda -> s^2 lambda is the same
// problem in W' = W / s, so the probabilities stay and W shrinks by s.
TEST(LinearModelLogistic, ChangingTheFeaturesUnitsRescalesTheCoefficients) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(45, 2.0, 12, x, labels);
  const double l2 = 1e-2, s = 255.0;
  const auto model = fit_logistic(x.cview(), labels, 3, l2, 1000);
  const Matrix<double> scaled = map_rows(x, 2, [s](const double* in, double* out) {
    out[0] = s * in[0];
    out[1] = s * in[1];
  });
  const auto rescaled = fit_logistic(scaled.cview(), labels, 3, l2 * s * s, 1000);
  for (std::int64_t k = 0; k < 3; ++k) {
    for (std::int64_t j = 0; j < x.cols(); ++j) EXPECT_NEAR(rescaled.coef()(k, j) * s, model.coef()(k, j), 1e-8);
    EXPECT_NEAR(rescaled.intercept()[static_cast<std::size_t>(k)], model.intercept()[static_cast<std::size_t>(k)], 1e-8);
  }
}

// A constant column (a blank pixel) only shifts every score, which the
// intercept absorbs: its weight is 0 and the rest is the fit without it.
TEST(LinearModelLogistic, AConstantColumnGetsWeightZero) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(40, 2.0, 15, x, labels);
  const Matrix<double> padded = map_rows(x, 3, [](const double* in, double* out) {
    out[0] = in[0];
    out[1] = 0.1;  // not exactly representable: its mean may differ from 0.1 by rounding
    out[2] = in[1];
  });
  const auto model = fit_logistic(x.cview(), labels, 3, 1e-2, 1000);
  const auto with_constant = fit_logistic(padded.cview(), labels, 3, 1e-2, 1000);
  for (std::int64_t k = 0; k < 3; ++k) {
    EXPECT_EQ(with_constant.coef()(k, 1), 0.0);
    EXPECT_NEAR(with_constant.coef()(k, 0), model.coef()(k, 0), 1e-9);
    EXPECT_NEAR(with_constant.coef()(k, 2), model.coef()(k, 1), 1e-9);
    EXPECT_NEAR(with_constant.intercept()[static_cast<std::size_t>(k)], model.intercept()[static_cast<std::size_t>(k)], 1e-9);
  }
  // Every column constant: only the intercepts are fitted, to the class frequencies.
  Matrix<double> blank(x.rows(), 2, 3.0);
  std::vector<std::int64_t> skewed(labels.size(), 0);
  for (std::size_t i = 0; i < skewed.size(); i += 4) skewed[i] = 1;
  const auto prior = fit_logistic(blank.cview(), skewed, 2, 1e-2, 1000);
  const auto p = prior.predict(blank.cview());
  EXPECT_NEAR(p(0, 1), 30.0 / 120.0, 1e-9);
}

TEST(LinearModelLogistic, WarmStartReachesTheSameMinimiser) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(60, 1.5, 13, x, labels);
  LogisticFitOptions options;
  options.l2 = 1e-2;
  const auto cold = fit_logistic(x.cview(), labels, 3, options);
  options.l2 = 1.0;
  const auto far = fit_logistic(x.cview(), labels, 3, options);
  options.l2 = 1e-2;
  const auto warm = fit_logistic(x.cview(), labels, 3, options, far);
  for (std::int64_t k = 0; k < 3; ++k) {
    for (std::int64_t j = 0; j < x.cols(); ++j) EXPECT_NEAR(warm.coef()(k, j), cold.coef()(k, j), 1e-8);
    EXPECT_NEAR(warm.intercept()[static_cast<std::size_t>(k)], cold.intercept()[static_cast<std::size_t>(k)], 1e-8);
  }
}

TEST(LinearModelLogistic, WarmStartOfTheWrongShapeIsAnError) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(30, 3.0, 14, x, labels);
  const auto three = fit_logistic(x.cview(), labels, 3, 1e-2, 100);
  std::vector<std::int64_t> binary = labels;
  for (auto& l : binary) l = l == 0 ? 0 : 1;
  expect_error_mentions([&] { fit_logistic(x.cview(), binary, 2, LogisticFitOptions{}, three); },
                        {"warm start", "2-class"});
  const auto ridge = fit_ridge(x.cview(), std::span<const double>(std::vector<double>(90, 1.0)), 1.0);
  expect_error_mentions([&] { fit_logistic(x.cview(), labels, 3, LogisticFitOptions{}, ridge); }, {"warm start", "ridge"});
}

TEST(LinearModelLogistic, FitClassifiesSeparableDataAndOutputsProbabilities) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(40, 12.0, 6, x, labels);
  const auto model = fit_logistic(x.cview(), labels, 3, 1e-2, 1000);
  EXPECT_EQ(model.task(), TaskType::kClassification);
  EXPECT_EQ(model.output_dim(), 3);
  const auto probabilities = model.predict(x.cview());
  ASSERT_EQ(probabilities.rows(), x.rows());
  ASSERT_EQ(probabilities.cols(), 3);
  for (std::int64_t i = 0; i < probabilities.rows(); ++i) {
    double sum = 0;
    for (std::int64_t k = 0; k < 3; ++k) sum += probabilities(i, k);
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
  EXPECT_EQ(argmax_labels(probabilities), labels);
}

TEST(LinearModelLogistic, BinaryFitGivesTwoProbabilityColumns) {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
  make_blobs(30, 10.0, 7, x, labels);
  for (auto& l : labels) l = l == 0 ? 0 : 1;
  const auto model = fit_logistic(x.cview(), labels, 2, 1e-2, 1000);
  const auto p = model.predict(x.cview());
  ASSERT_EQ(p.cols(), 2);
  EXPECT_EQ(argmax_labels(p), labels);
}

TEST(LinearModelLogistic, SingleRowCoefScoresClassOneAgainstClassZero) {
  const LinearModel model(LinearModel::Type::kLogistic, Matrix<double>(1, 1, std::vector<double>{2.0}), {-1.0});
  EXPECT_EQ(model.output_dim(), 2);
  const Matrix<double> x(2, 1, std::vector<double>{0.5, 3.0});
  const auto p = model.predict(x.cview());
  for (std::int64_t i = 0; i < 2; ++i) {
    const double p1 = 1.0 / (1.0 + std::exp(-(2.0 * x(i, 0) - 1.0)));
    EXPECT_NEAR(p(i, 1), p1, 1e-15);
    EXPECT_NEAR(p(i, 0), 1.0 - p1, 1e-15);
  }
}

TEST(LinearModelFile, JsonRoundTripKeepsCoefficientsExactly) {
  ScratchDir dir;
  const auto x = random_matrix(25, 3, 8);
  const auto y = random_matrix(25, 1, 9);
  const auto ridge = fit_ridge(x.cview(), y.cview(), 0.1);
  save_linear_model(ridge, dir.path() / "ridge.json");
  const auto ridge_back = load_linear_model(dir.path() / "ridge.json");
  EXPECT_EQ(ridge_back.type(), LinearModel::Type::kRidge);
  EXPECT_EQ(ridge_back.coef(), ridge.coef());
  EXPECT_EQ(ridge_back.intercept(), ridge.intercept());
  EXPECT_EQ(ridge_back.predict(x.cview()), ridge.predict(x.cview()));

  const LinearModel logistic(LinearModel::Type::kLogistic, random_matrix(3, 3, 10), {0.1, -0.2, 0.1}, {7, 8, 9});
  save_linear_model(logistic, dir.path() / "logistic.json");
  const auto logistic_back = load_linear_model(dir.path() / "logistic.json");
  EXPECT_EQ(logistic_back.type(), LinearModel::Type::kLogistic);
  EXPECT_EQ(logistic_back.coef(), logistic.coef());
  EXPECT_EQ(logistic_back.classes(), logistic.classes());
  EXPECT_EQ(logistic_back.predict(x.cview()), logistic.predict(x.cview()));
}

TEST(LinearModelFile, MissingCoefIsNamed) {
  expect_error_mentions([] { LinearModel::parse(R"({"type":"ridge","intercept":[0]})", "m.json"); },
                        {"m.json", "missing field \"coef\""});
}

TEST(LinearModelFile, RaggedCoefIsNamed) {
  expect_error_mentions(
      [] { LinearModel::parse(R"({"type":"ridge","coef":[[1,2],[3]],"intercept":[0,0]})", "m.json"); },
      {"m.json", "ragged", "row 1 has 1"});
}

TEST(LinearModelFile, NonFiniteNumberIsNamed) {
  expect_error_mentions([] { LinearModel::parse(R"({"type":"ridge","coef":[[1,1e999]],"intercept":[0]})", "m.json"); },
                        {"m.json", "not finite"});
  expect_error_mentions([] { LinearModel::parse(R"({"type":"ridge","coef":[[1,NaN]],"intercept":[0]})", "m.json"); },
                        {"m.json", "not finite"});
  expect_error_mentions([] { LinearModel::parse(R"({"type":"ridge","coef":[[1,null]],"intercept":[0]})", "m.json"); },
                        {"\"coef\"[0][1]", "not a number"});
}

TEST(LinearModelFile, InterceptLengthMustMatchCoefRows) {
  expect_error_mentions([] { LinearModel::parse(R"({"type":"ridge","coef":[[1],[2]],"intercept":[0]})", "m.json"); },
                        {"m.json", "intercept has 1 entries", "2 rows"});
}

TEST(LinearModelFile, UnknownTypeAndInvalidJsonAreNamed) {
  expect_error_mentions([] { LinearModel::parse(R"({"type":"lasso","coef":[[1]],"intercept":[0]})", "m.json"); },
                        {"\"lasso\"", "ridge", "logistic"});
  expect_error_mentions([] { LinearModel::parse("{\"type\": ", "m.json"); }, {"m.json", "not valid JSON"});
}

TEST(LinearModelFile, WidthsDisagreeingWithTheManifestAreErrors) {
  ScratchDir dir;
  dir.write("m.json", R"({"type":"ridge","coef":[[1,2,3]],"intercept":[0]})");
  auto config = file_model_config("linear", "m.json", TaskType::kRegression, 4, 1);
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"m.json", "3 input columns", "input_dim = 4"});
  config.input_dim = 3;
  config.output_dim = 2;
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"1 output columns", "output_dim = 2"});
  config.output_dim = 1;
  config.task = TaskType::kClassification;
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"regression", "classification"});
}

TEST(LinearModelFile, MissingFileIsAnErrorNamingIt) {
  ScratchDir dir;
  const auto config = file_model_config("linear", "absent.json", TaskType::kRegression, 1, 1);
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"absent.json"});
}

TEST(LinearModelPredict, WidthMismatchIsAnError) {
  const LinearModel model(LinearModel::Type::kRidge, Matrix<double>(1, 3, 1.0), {0.0});
  const Matrix<double> x(2, 4, 1.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"4 columns", "takes 3"});
}

TEST(LinearModelPredict, StridedViewsAreRead) {
  const LinearModel model(LinearModel::Type::kRidge, Matrix<double>(1, 2, std::vector<double>{1.0, 10.0}), {0.5});
  const std::vector<double> storage = {1, 2, 99, 3, 4, 99};  // two rows of width 2, stride 3
  const auto p = model.predict(kernels::ConstMatrixView<double>(storage.data(), 2, 2, 3));
  EXPECT_DOUBLE_EQ(p(0, 0), 21.5);
  EXPECT_DOUBLE_EQ(p(1, 0), 43.5);
}

TEST(ModelInterface, LoadModelReadsALinearModelFromThePackageRoot) {
  ScratchDir dir;
  std::filesystem::create_directory(dir.path() / "model");
  dir.write("model/m.json", R"({"type":"ridge","coef":[[1,2]],"intercept":[3]})");
  const auto config = file_model_config("linear", "model/m.json", TaskType::kRegression, 2, 1);
  const auto model = load_model(config, dir.path());
  EXPECT_EQ(model->kind(), "linear");
  EXPECT_EQ(model->task(), TaskType::kRegression);
  const Matrix<double> x(1, 2, std::vector<double>{1, 1});
  EXPECT_DOUBLE_EQ(model->predict(x.cview())(0, 0), 6.0);
}

TEST(ModelInterface, ModelFilesOutsideThePackageRootAreRefused) {
  ScratchDir dir;
  const auto escaping = file_model_config("linear", "../m.json", TaskType::kRegression, 2, 1);
  expect_error_mentions([&] { load_model(escaping, dir.path()); }, {"outside the package root"});
  const auto absolute = file_model_config("linear", "/etc/passwd", TaskType::kRegression, 2, 1);
  expect_error_mentions([&] { load_model(absolute, dir.path()); }, {"relative to the package root"});
}

TEST(ModelInterface, UnknownKindListsTheKnownKinds) {
  const auto config = file_model_config("torch", "m.pt", TaskType::kRegression, 0, 0);
  expect_error_mentions([&] { load_model(config, "."); }, {"\"torch\"", "\"linear\"", "\"xgboost\"", "\"process\""});
}

TEST(ModelInterface, ModelKindsIsTheExplicitList) {
  EXPECT_EQ(model_kinds(), (std::vector<std::string>{"linear", "xgboost", "process"}));
}

TEST(ModelInterface, TaskTypeTextRoundTrips) {
  EXPECT_EQ(parse_task_type(to_string(TaskType::kRegression)), TaskType::kRegression);
  EXPECT_EQ(parse_task_type(to_string(TaskType::kClassification)), TaskType::kClassification);
  expect_error_mentions([] { parse_task_type("clustering"); }, {"\"clustering\"", "regression", "classification"});
}

TEST(ModelInterface, ArgmaxLabelsBreaksTiesTowardsTheLowestIndex) {
  const Matrix<double> scores(3, 3, std::vector<double>{0.2, 0.5, 0.3, 0.4, 0.4, 0.2, 1, 1, 1});
  EXPECT_EQ(argmax_labels(scores), (std::vector<std::int64_t>{1, 0, 0}));
}

}  // namespace
}  // namespace lwd

// Feature alignment (engine/reuse/feature_align.h): the loss and its
// gradient against plain references, planted maps recovered (a column
// permutation with and without descriptions, per-column scaling and shift),
// predictions through aligned learnwares, determinism, the registry's align
// methods, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/reuse/averaging.h"
#include "engine/reuse/feature_align.h"
#include "engine/reuse/method_registry.h"
#include "tests/reuse/reuse_fixture.h"

namespace {

using namespace lwd;
using kernels::Context;
using kernels::Matrix;
using testing_reuse::ridge_model;

constexpr std::int64_t kDim = 4;

// Rows of the source's training data and of each planted user: large
// enough that the two samples' own differences (a shift of the mean by
// sampling noise is a shift the map rightly copies) stay well below the
// tolerances.
constexpr std::int64_t kSourceRows = 10000;
constexpr std::int64_t kUserRows = 8000;

// Source rows: four columns with distinct marginals (normal, log-normal,
// uniform, a reflected exponential), so that moments alone can tell them apart.
Matrix<double> source_rows(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 3.0);
  std::exponential_distribution<double> exponential(1.0);
  Matrix<double> x(n, kDim);
  for (std::int64_t i = 0; i < n; ++i) {
    x(i, 0) = normal(rng);
    x(i, 1) = std::exp(0.5 * normal(rng));
    x(i, 2) = uniform(rng);
    x(i, 3) = 2.0 - exponential(rng);
  }
  return x;
}

const std::vector<std::string> kDescriptions = {"customer age in years", "monthly income in thousands of euros",
                                                "number of store visits last month",
                                                "days until the loyalty membership expires"};

FeatureSemantics described(const std::vector<std::string>& texts) {
  FeatureSemantics f{static_cast<std::int64_t>(texts.size()), {}};
  for (std::size_t i = 0; i < texts.size(); ++i) f.descriptions[static_cast<std::int64_t>(i)] = texts[i];
  return f;
}

RKMETableSpec spec_of(const Matrix<double>& x, std::uint64_t seed) {
  kernels::RkmeOptions o;
  o.k = 60;
  return RKMETableSpec::generate(Context{1, seed}, x, o);
}

// The source learnware's RKME (built once: every test's source shares it).
const RKMETableSpec& source_spec() {
  static const RKMETableSpec spec = spec_of(source_rows(kSourceRows, 1), 2);
  return spec;
}

// The learnware of the source space: a ridge model over its four columns.
Learnware source_learnware(const std::string& id = "source", std::vector<double> coef = {1.0, -2.0, 0.5, 1.5}) {
  auto model = std::make_shared<LinearModel>(ridge_model(std::move(coef), 0.3));
  SemanticSpec semantic = testing_reuse::table_semantic(kDim, id, "Regression", 1);
  semantic.input = described(kDescriptions);
  return make_learnware(id, model, source_spec(), semantic);
}

// Rows x with column c taken from column from[c] of the source rows.
Matrix<double> permuted(const Matrix<double>& x, const std::vector<std::int64_t>& from) {
  Matrix<double> out(x.rows(), static_cast<std::int64_t>(from.size()));
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (std::size_t c = 0; c < from.size(); ++c) out(i, static_cast<std::int64_t>(c)) = x(i, from[c]);
  return out;
}

// RMSE of a against b, over the standard deviation of b.
double relative_rmse(const Matrix<double>& a, const Matrix<double>& b) {
  double mean = 0.0;
  for (double v : b.values()) mean += v;
  mean /= static_cast<double>(b.size());
  double se = 0.0, var = 0.0;
  for (std::int64_t i = 0; i < b.size(); ++i) {
    se += (a.values()[i] - b.values()[i]) * (a.values()[i] - b.values()[i]);
    var += (b.values()[i] - mean) * (b.values()[i] - mean);
  }
  return std::sqrt(se / var);
}

RKMETableSpec user_spec(const Matrix<double>& x, double gamma) {
  kernels::RkmeOptions o;
  o.k = 60;
  o.gamma = gamma;
  return user_spec_for_alignment(x.view(), o, Context{1, 4});
}

// ---- the loss ----------------------------------------------------------------

struct SmallProblem {
  Matrix<double> zu, zl;
  std::vector<double> bu, bl;
  FeatureMap map;
  std::vector<double> start;
};

// Random point sets (user 7 x 3, learnware 6 x d_l), weights of mixed sign,
// and a map with non-trivial standardisation and parameters away from the start.
SmallProblem small_problem(FeatureMapKind kind, std::int64_t dl = 4) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal(0.0, 1.0);
  SmallProblem p;
  const std::int64_t du = 3;
  p.zu = Matrix<double>(7, du);
  p.zl = Matrix<double>(6, dl);
  for (double& v : p.zu.values()) v = 2.0 * normal(rng) + 1.0;
  for (double& v : p.zl.values()) v = normal(rng);
  for (int i = 0; i < 7; ++i) p.bu.push_back(0.1 + 0.2 * std::abs(normal(rng)));
  for (int j = 0; j < 6; ++j) p.bl.push_back(0.3 * normal(rng));
  p.map.kind = kind;
  p.map.input_dim = du;
  p.map.output_dim = dl;
  p.map.hidden = kind == FeatureMapKind::kMlp ? 5 : 0;
  for (int c = 0; c < du; ++c) {
    p.map.in_mean.push_back(normal(rng));
    p.map.in_scale.push_back(0.5 + std::abs(normal(rng)));
  }
  for (int r = 0; r < dl; ++r) {
    p.map.out_mean.push_back(normal(rng));
    p.map.out_scale.push_back(0.5 + std::abs(normal(rng)));
  }
  const std::int64_t count = FeatureMap::parameter_count(kind, du, dl, p.map.hidden);
  for (std::int64_t q = 0; q < count; ++q) {
    p.start.push_back(0.5 * normal(rng));
    p.map.params.push_back(p.start.back() + 0.3 * normal(rng));
  }
  return p;
}

void expect_gradient_matches_central_differences(FeatureMapKind kind) {
  SmallProblem p = small_problem(kind);
  const WeightedPoints user{p.zu.view(), p.bu}, target{p.zl.view(), p.bl};
  const double gamma = 0.3, ridge = 0.05;
  const AlignmentLoss at = alignment_loss(p.map, p.start, user, target, gamma, ridge);
  ASSERT_EQ(at.gradient.size(), p.map.params.size());
  const double h = 1e-5;
  for (std::size_t q = 0; q < p.map.params.size(); ++q) {
    FeatureMap plus = p.map, minus = p.map;
    plus.params[q] += h;
    minus.params[q] -= h;
    const double fd = (alignment_loss(plus, p.start, user, target, gamma, ridge).value -
                       alignment_loss(minus, p.start, user, target, gamma, ridge).value) /
                      (2.0 * h);
    EXPECT_NEAR(at.gradient[q], fd, 1e-8 + 1e-6 * std::abs(fd)) << "parameter " << q;
  }
}

TEST(FeatureAlignLoss, AffineGradientMatchesCentralDifferences) {
  expect_gradient_matches_central_differences(FeatureMapKind::kAffine);
}

TEST(FeatureAlignLoss, MlpGradientMatchesCentralDifferences) {
  expect_gradient_matches_central_differences(FeatureMapKind::kMlp);
}

TEST(FeatureAlignLoss, ValueIsPlainMmdOfTheMappedPointsPlusTheRidge) {
  for (const FeatureMapKind kind : {FeatureMapKind::kAffine, FeatureMapKind::kMlp}) {
    SmallProblem p = small_problem(kind, 2);
    const double gamma = 0.7, ridge = 0.02;
    const AlignmentLoss loss = alignment_loss(p.map, p.start, {p.zu.view(), p.bu}, {p.zl.view(), p.bl}, gamma, ridge);
    const Matrix<double> y = p.map.apply(p.zu.view());
    const auto k = [&](const double* a, const double* b) {
      double s = 0.0;
      for (int r = 0; r < 2; ++r) s += (a[r] - b[r]) * (a[r] - b[r]);
      return std::exp(-gamma * s);
    };
    double mmd2 = 0.0;
    for (int i = 0; i < 7; ++i)
      for (int j = 0; j < 7; ++j) mmd2 += p.bu[i] * p.bu[j] * k(y.row(i), y.row(j));
    for (int i = 0; i < 7; ++i)
      for (int j = 0; j < 6; ++j) mmd2 -= 2.0 * p.bu[i] * p.bl[j] * k(y.row(i), p.zl.row(j));
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) mmd2 += p.bl[i] * p.bl[j] * k(p.zl.row(i), p.zl.row(j));
    double penalty = 0.0;
    for (std::size_t q = 0; q < p.start.size(); ++q)
      penalty += ridge * (p.map.params[q] - p.start[q]) * (p.map.params[q] - p.start[q]);
    EXPECT_NEAR(loss.mmd2, mmd2, 1e-12 * (1.0 + std::abs(mmd2)));
    EXPECT_NEAR(loss.penalty, penalty, 1e-12);
    EXPECT_NEAR(loss.value, mmd2 + penalty, 1e-12 * (1.0 + std::abs(mmd2)));
  }
}

TEST(FeatureAlignLoss, LinearPartAndOffsetReproduceTheAffineMap) {
  const SmallProblem p = small_problem(FeatureMapKind::kAffine);
  const Matrix<double> y = p.map.apply(p.zu.view());
  const Matrix<double> a = p.map.linear_part();
  const std::vector<double> b = p.map.offset();
  for (std::int64_t i = 0; i < p.zu.rows(); ++i)
    for (std::int64_t r = 0; r < 4; ++r) {
      double v = b[r];
      for (std::int64_t c = 0; c < 3; ++c) v += a(r, c) * p.zu(i, c);
      EXPECT_NEAR(y(i, r), v, 1e-12 * (1.0 + std::abs(v)));
    }
}

// ---- planted maps ----------------------------------------------------------------

// The user's columns are the source's in the order {2, 0, 3, 1}, their
// descriptions with them: the recovered map is the inverse permutation, and
// the aligned learnware predicts what the source model predicts on the
// original rows.
TEST(FeatureAlignPlanted, PermutationWithDescriptionsIsRecovered) {
  const Learnware source = source_learnware();
  const std::vector<std::int64_t> from = {2, 0, 3, 1};
  const Matrix<double> original = source_rows(kUserRows, 9);
  const Matrix<double> user = permuted(original, from);
  std::vector<std::string> texts;
  for (std::int64_t c : from) texts.push_back(kDescriptions[static_cast<std::size_t>(c)]);
  const Learnware aligned =
      align_learnware(source, user_spec(user, source.spec.gamma()), described(texts), FeatureAlignOptions{});
  const AlignedMap* map = aligned_map_of(aligned);
  ASSERT_NE(map, nullptr);
  EXPECT_EQ(map->start, "descriptions");
  EXPECT_LE(map->loss, map->loss_init);
  const Matrix<double> a = map->map.linear_part();
  const std::vector<double> b = map->map.offset();
  double worst = 0.0;
  for (std::int64_t r = 0; r < kDim; ++r) {
    for (std::int64_t c = 0; c < kDim; ++c) worst = std::max(worst, std::abs(a(r, c) - (from[c] == r ? 1.0 : 0.0)));
    worst = std::max(worst, std::abs(b[r]));
  }
  const double rel = relative_rmse(aligned.predict(user.view()), source.predict(original.view()));
  std::printf("[planted permutation, descriptions] max |A - P|, |b|: %.4f; relative RMSE: %.4f; %s\n", worst, rel,
              map->describe().c_str());
  EXPECT_LT(worst, 0.1);
  EXPECT_LT(rel, 0.1);
}

// The aligned learnware's spec: the user's RKME points, reweighted by the
// learnware's kernel mean at their images -- checked against the formula
// written out plainly.
TEST(FeatureAlignPlanted, TheAlignedSpecWeighsTheUserPointsByTheLearnwaresDensity) {
  const Learnware source = source_learnware();
  const Matrix<double> user = source_rows(2000, 21);
  const RKMETableSpec spec = user_spec(user, source.spec.gamma());
  const Learnware aligned = align_learnware(source, spec, described(kDescriptions),
                                            FeatureAlignOptions{});
  const AlignedMap* map = aligned_map_of(aligned);
  ASSERT_NE(map, nullptr);
  const Matrix<double> images = map->apply(spec.z().view());
  std::vector<double> expected(spec.beta().size());
  double total = 0;
  for (std::int64_t i = 0; i < spec.size(); ++i) {
    double density = 0;
    for (std::int64_t j = 0; j < source.spec.size(); ++j) {
      double d2 = 0;
      for (std::int64_t c = 0; c < source.spec.dim(); ++c)
        d2 += (images(i, c) - source.spec.z()(j, c)) * (images(i, c) - source.spec.z()(j, c));
      density += source.spec.beta()[static_cast<std::size_t>(j)] * std::exp(-map->gamma * d2);
    }
    expected[static_cast<std::size_t>(i)] = spec.beta()[static_cast<std::size_t>(i)] * density;
    total += expected[static_cast<std::size_t>(i)];
  }
  ASSERT_GT(total, 0.0);
  ASSERT_EQ(aligned.spec.size(), spec.size());
  EXPECT_EQ(aligned.spec.z(), spec.z());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(aligned.spec.beta()[i], expected[i] / total, 1e-12);
}

// Per-column scaling and shift (descriptions kept): the map undoes them.
TEST(FeatureAlignPlanted, ScalingAndShiftAreUndone) {
  const Learnware source = source_learnware();
  const std::vector<double> scale = {10.0, 0.5, 3.0, 100.0}, shift = {5.0, -2.0, 0.0, 1000.0};
  const Matrix<double> original = source_rows(kUserRows, 10);
  Matrix<double> user = original;
  for (std::int64_t i = 0; i < user.rows(); ++i)
    for (std::int64_t c = 0; c < kDim; ++c) user(i, c) = scale[c] * user(i, c) + shift[c];
  const Learnware aligned =
      align_learnware(source, user_spec(user, source.spec.gamma()), described(kDescriptions), FeatureAlignOptions{});
  const AlignedMap* map = aligned_map_of(aligned);
  ASSERT_NE(map, nullptr);
  // In the user's units: A s should be the identity, b + A t zero.
  const Matrix<double> a = map->map.linear_part();
  const std::vector<double> b = map->map.offset();
  double worst = 0.0;
  for (std::int64_t r = 0; r < kDim; ++r) {
    double at = b[r];
    for (std::int64_t c = 0; c < kDim; ++c) {
      worst = std::max(worst, std::abs(a(r, c) * scale[c] - (r == c ? 1.0 : 0.0)));
      at += a(r, c) * shift[c];
    }
    worst = std::max(worst, std::abs(at));
  }
  const double rel = relative_rmse(aligned.predict(user.view()), source.predict(original.view()));
  std::printf("[planted scale+shift] max |A diag(s) - I|, |A t + b|: %.4f; relative RMSE: %.4f; %s\n", worst, rel,
              map->describe().c_str());
  EXPECT_LT(worst, 0.1);
  EXPECT_LT(rel, 0.1);
}

// No descriptions: the columns' shapes (skewness, kurtosis) pick the
// permutation, and the restarts keep the lowest loss.
TEST(FeatureAlignPlanted, PermutationWithoutDescriptionsIsRecoveredFromTheMarginals) {
  Learnware source = source_learnware();
  source.semantic.reset();
  const std::vector<std::int64_t> from = {3, 2, 1, 0};
  const Matrix<double> original = source_rows(kUserRows, 11);
  const Matrix<double> user = permuted(original, from);
  const Learnware aligned = align_learnware(source, user_spec(user, source.spec.gamma()), std::nullopt, FeatureAlignOptions{});
  const AlignedMap* map = aligned_map_of(aligned);
  ASSERT_NE(map, nullptr);
  EXPECT_EQ(map->starts_tried, 4);
  const Matrix<double> a = map->map.linear_part();
  double worst = 0.0;
  for (std::int64_t r = 0; r < kDim; ++r)
    for (std::int64_t c = 0; c < kDim; ++c) worst = std::max(worst, std::abs(a(r, c) - (from[c] == r ? 1.0 : 0.0)));
  const double rel = relative_rmse(aligned.predict(user.view()), source.predict(original.view()));
  std::printf("[planted permutation, no descriptions] max |A - P|: %.4f; relative RMSE: %.4f; %s\n", worst, rel,
              map->describe().c_str());
  EXPECT_LT(worst, 0.15);
  EXPECT_LT(rel, 0.1);
}

TEST(FeatureAlignPlanted, MlpMapPredictsAsWellAsTheAffineOne) {
  const Learnware source = source_learnware();
  const std::vector<std::int64_t> from = {1, 3, 0, 2};
  const Matrix<double> original = source_rows(kUserRows, 12);
  const Matrix<double> user = permuted(original, from);
  std::vector<std::string> texts;
  for (std::int64_t c : from) texts.push_back(kDescriptions[static_cast<std::size_t>(c)]);
  FeatureAlignOptions o;
  o.map = "mlp";
  const Learnware aligned = align_learnware(source, user_spec(user, source.spec.gamma()), described(texts), o);
  const AlignedMap* map = aligned_map_of(aligned);
  ASSERT_NE(map, nullptr);
  EXPECT_EQ(map->map.kind, FeatureMapKind::kMlp);
  EXPECT_LE(map->loss, map->loss_init);
  const double rel = relative_rmse(aligned.predict(user.view()), source.predict(original.view()));
  std::printf("[planted permutation, mlp] relative RMSE: %.4f; %s\n", rel, map->describe().c_str());
  EXPECT_LT(rel, 0.1);
}

// ---- the aligned learnware ----------------------------------------------------------

TEST(FeatureAlignLearnware, ReadsTheUsersWidthAndKeepsTheTargetsIdentity) {
  const Learnware source = source_learnware();
  // Five user columns: the source's four (reordered) and one the learnware never saw.
  Matrix<double> user = permuted(source_rows(800, 13), {1, 0, 2, 3, 0});
  for (std::int64_t i = 0; i < user.rows(); ++i) user(i, 4) = std::sin(static_cast<double>(i));
  std::vector<std::string> texts = {kDescriptions[1], kDescriptions[0], kDescriptions[2], kDescriptions[3],
                                    "colour code of the receipt paper"};
  const RKMETableSpec spec = user_spec(user, source.spec.gamma());
  const Learnware aligned = align_learnware(source, spec, described(texts), FeatureAlignOptions{});
  EXPECT_EQ(aligned.id, source.id);
  EXPECT_EQ(aligned.input_dim(), 5);
  EXPECT_EQ(aligned.output_dim(), 1);
  EXPECT_EQ(aligned.task(), TaskType::kRegression);
  EXPECT_EQ(aligned.spec.z(), spec.z());
  ASSERT_TRUE(aligned.semantic && aligned.semantic->input);
  EXPECT_EQ(aligned.semantic->input->dimension, 5);
  EXPECT_EQ(aligned.semantic->name, source.semantic->name);
  EXPECT_EQ(aligned_map_of(source), nullptr);
  const nlohmann::json summary = aligned_map_of(aligned)->summary();
  EXPECT_EQ(summary["input_dim"], 5);
  EXPECT_EQ(summary["output_dim"], 4);
  EXPECT_EQ(summary["start"], "descriptions");
  // An ordinary learnware now: the existing reusers take a list of them.
  AveragingReuser averaging({aligned, aligned}, AveragingMode::kMean);
  EXPECT_EQ(averaging.predict(user.view()), aligned.predict(user.view()));
  EXPECT_THROW((void)aligned.predict(source_rows(3, 1).view()), Error);
}

// ---- determinism ----------------------------------------------------------------------

TEST(FeatureAlignDeterminism, SameSeedSameMapAndThreadCountDoesNotMatter) {
  const Learnware source = source_learnware();
  const Matrix<double> user = permuted(source_rows(600, 14), {3, 1, 2, 0});
  // A reduced user RKME (the loss on one thread) and the unreduced rows
  // (600 points: the loss's rows in parallel blocks).
  kernels::RkmeOptions unreduced;
  unreduced.reduce = false;
  const std::vector<RKMETableSpec> specs = {user_spec(user, source.spec.gamma()),
                                            user_spec_for_alignment(user.view(), unreduced)};
  FeatureAlignOptions o;
  o.iterations = 10;
  o.restarts = 3;  // marginals, identity, one seeded random start
  o.seed = 7;
  for (const RKMETableSpec& spec : specs) {
    for (const char* kind : {"affine", "mlp"}) {
      o.map = kind;
      const AlignedMap one = fit_feature_alignment(spec, source.spec, std::nullopt, std::nullopt, o, Context{1, 0});
      const AlignedMap again = fit_feature_alignment(spec, source.spec, std::nullopt, std::nullopt, o, Context{1, 0});
      const AlignedMap two = fit_feature_alignment(spec, source.spec, std::nullopt, std::nullopt, o, Context{2, 0});
      EXPECT_EQ(one.map.params, again.map.params) << kind << " " << spec.size();
      EXPECT_EQ(one.map.params, two.map.params) << kind << " " << spec.size();
      EXPECT_EQ(one.loss, two.loss) << kind << " " << spec.size();
      EXPECT_EQ(one.start_index, two.start_index) << kind << " " << spec.size();
    }
  }
}

// ---- the registry's align methods -------------------------------------------------------

struct HeterogeneousUser {
  Matrix<double> original, x;  // the rows in the source's space, and as the user has them
  FeatureSemantics columns;
};

HeterogeneousUser heterogeneous_user(std::uint64_t seed, std::int64_t rows) {
  HeterogeneousUser u;
  u.original = source_rows(rows, seed);
  u.x = permuted(u.original, {2, 3, 1, 0, 0});
  for (std::int64_t i = 0; i < u.x.rows(); ++i) u.x(i, 4) = std::cos(0.7 * static_cast<double>(i));
  u.columns = described({kDescriptions[2], kDescriptions[3], kDescriptions[1], kDescriptions[0], "weather code"});
  return u;
}

TEST(FeatureAlignMethods, RegisteredAsAligningMethodsWithTheirModes) {
  MethodRegistry r;
  register_builtin_methods(r);
  const ReuseMethodEntry& align = r.reuse_method(kAlign);
  EXPECT_TRUE(align.aligns_features);
  EXPECT_FALSE(align.needs_labels);
  EXPECT_EQ(align.modes, (std::vector<std::string>{"top1", "average"}));
  EXPECT_TRUE(r.reuse_method(kAlignAugment).needs_labels);
  EXPECT_TRUE(r.reuse_method(kAlignAugment).aligns_features);
  EXPECT_TRUE(r.reuse_method(kAlignPrune).needs_labels);
  EXPECT_TRUE(r.reuse_method(kAlignPrune).aligns_features);
  EXPECT_FALSE(r.reuse_method(kTop1Reuse).aligns_features);
}

TEST(FeatureAlignMethods, ReuseLearnwaresOfAnotherWidthOnTheUsersRows) {
  MethodRegistry r;
  register_builtin_methods(r);
  const std::vector<Learnware> learnwares = {source_learnware("a"), source_learnware("b", {0.5, -1.0, 0.2, 1.0})};
  const HeterogeneousUser user = heterogeneous_user(15, 600);
  const HeterogeneousUser labelled = heterogeneous_user(16, 200);
  std::vector<double> y;
  const Matrix<double> truth_labelled = learnwares[0].predict(labelled.original.view());
  for (std::int64_t i = 0; i < truth_labelled.rows(); ++i) y.push_back(truth_labelled(i, 0));

  ReuseInput in;
  in.single = learnwares;
  in.multiple = learnwares;
  in.x_test = user.x.view();
  in.user_columns = &user.columns;
  in.ctx = Context{1, 3};
  std::string note;
  in.note = &note;
  const Matrix<double> top1 = r.reuse_method(kAlign).predict(in);
  EXPECT_NE(note.find("aligned a MMD"), std::string::npos) << note;
  const Matrix<double> truth = learnwares[0].predict(user.original.view());
  const double rel_top1 = relative_rmse(top1, truth);
  in.mode = "average";
  const Matrix<double> average = r.reuse_method(kAlign).predict(in);
  Matrix<double> mean_truth = truth;
  const Matrix<double> truth_b = learnwares[1].predict(user.original.view());
  for (std::int64_t i = 0; i < truth.rows(); ++i) mean_truth(i, 0) = 0.5 * (truth(i, 0) + truth_b(i, 0));
  const double rel_average = relative_rmse(average, mean_truth);

  in.mode = "";
  in.x_labelled = labelled.x.view();
  in.y_labelled = y;
  const Matrix<double> augmented = r.reuse_method(kAlignAugment).predict(in);
  const double rel_augment = relative_rmse(augmented, truth);
  const Matrix<double> pruned = r.reuse_method(kAlignPrune).predict(in);
  EXPECT_NE(note.find("kept a"), std::string::npos) << note;
  const double rel_prune = relative_rmse(pruned, truth);
  std::printf("[align methods, 5 user columns -> 4] relative RMSE: top1 %.4f, average %.4f, augment %.4f, prune %.4f\n",
              rel_top1, rel_average, rel_augment, rel_prune);
  EXPECT_LT(rel_top1, 0.1);
  EXPECT_LT(rel_average, 0.1);
  EXPECT_LT(rel_augment, 0.1);
  EXPECT_LT(rel_prune, 0.1);
}

// ---- bad input ----------------------------------------------------------------------------

template <class F>
void expect_error_containing(F&& f, const std::string& text) {
  try {
    f();
    FAIL() << "expected an lwd::Error containing '" << text << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(FeatureAlignErrors, BadInputIsAnErrorThatSaysWhat) {
  const SmallProblem p = small_problem(FeatureMapKind::kAffine);
  const WeightedPoints user{p.zu.view(), p.bu}, target{p.zl.view(), p.bl};
  const FeatureAlignOptions o;
  const Matrix<double> empty(3, 0);
  expect_error_containing([&] { (void)fit_feature_alignment({empty.view(), p.bu}, target, 0.1, {}, {}, o); },
                          "the user's RKME is empty");
  Matrix<double> with_nan = p.zl;
  with_nan(2, 1) = std::nan("");
  expect_error_containing([&] { (void)fit_feature_alignment(user, {with_nan.view(), p.bl}, 0.1, {}, {}, o); },
                          "the learnware's RKME's point 2 has a non-finite value in column 1");
  const std::vector<double> short_beta(3, 0.1);
  expect_error_containing([&] { (void)fit_feature_alignment({p.zu.view(), short_beta}, target, 0.1, {}, {}, o); },
                          "has 7 point(s) but 3 weight(s)");
  expect_error_containing(
      [&] { (void)fit_feature_alignment(user, target, 0.1, described({"a", "b"}), {}, o); },
      "the user's column descriptions are for 2 column(s), the user's data has 3");
  FeatureSemantics outside{4, {{0, "a"}, {7, "b"}}};
  expect_error_containing([&] { (void)fit_feature_alignment(user, target, 0.1, {}, outside, o); },
                          "name column 7, outside 0..3");
  expect_error_containing([&] { (void)fit_feature_alignment(user, target, 0.0, {}, {}, o); }, "gamma");
  expect_error_containing(
      [&] { (void)alignment_loss(p.map, std::vector<double>(2), user, target, 0.1, 0.0); }, "the start has 2");

  const Learnware source = source_learnware();
  expect_error_containing([&] { (void)align_learnware(source, RKMETableSpec{}, std::nullopt, o); },
                          "aligning learnware source: the user's RKME is empty");
  expect_error_containing(
      [&] {
        (void)align_learnware(source, user_spec(source_rows(50, 3), 0.1), described({"a", "b"}), o);
      },
      "aligning learnware source: feature alignment: the user's column descriptions are for 2");
  expect_error_containing([&] { (void)user_spec_for_alignment(empty.view(), {}); }, "the user's data is empty");
}

TEST(FeatureAlignErrors, BadOptionsNameTheOption) {
  const auto bad = [](auto edit, const std::string& text) {
    FeatureAlignOptions o;
    edit(o);
    expect_error_containing([&] { o.validate(); }, text);
  };
  bad([](FeatureAlignOptions& o) { o.map = "cubic"; }, "map 'cubic' is not a map kind (affine, mlp)");
  bad([](FeatureAlignOptions& o) { o.learning_rate = 0.0; }, "learning_rate");
  bad([](FeatureAlignOptions& o) { o.learning_rate = std::nan(""); }, "learning_rate");
  bad([](FeatureAlignOptions& o) { o.iterations = -1; }, "iterations");
  bad([](FeatureAlignOptions& o) { o.restarts = 0; }, "restarts");
  bad([](FeatureAlignOptions& o) { o.hidden = 0; }, "hidden");
  bad([](FeatureAlignOptions& o) { o.ridge = -1.0; }, "ridge");
  bad([](FeatureAlignOptions& o) { o.gamma = -0.1; }, "gamma");
  bad([](FeatureAlignOptions& o) { o.temperature = 0.0; }, "temperature");
  bad([](FeatureAlignOptions& o) { o.min_similarity = 2.0; }, "min_similarity");
  EXPECT_NO_THROW(FeatureAlignOptions{}.validate());
}

}  // namespace

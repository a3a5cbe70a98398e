// Random Fourier feature embedding of RKMEs (kernels/rff_embedding.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/error.h"
#include "kernels/random.h"
#include "kernels/rff_embedding.h"
#include "kernels/rkme.h"

namespace lwd::kernels {
namespace {

struct PointSet {
  Matrix<double> z;
  std::vector<double> beta;
};

PointSet random_set(std::int64_t k, std::int64_t d, std::uint64_t seed, double shift = 0.0) {
  Rng rng(seed);
  PointSet p{Matrix<double>(k, d), std::vector<double>(static_cast<std::size_t>(k))};
  for (auto& v : p.z.values()) v = 0.7 * rng.normal() + shift;
  double total = 0.0;
  for (auto& b : p.beta) total += (b = rng.uniform() + 0.1);
  for (auto& b : p.beta) b /= total;
  return p;
}

std::vector<double> embed(const Context& ctx, const RffMap& map, const PointSet& p) {
  std::vector<double> out(static_cast<std::size_t>(map.features()));
  rff_embed(ctx, map, p.z.view(), p.beta, out);
  return out;
}

std::vector<double> embed_ref(const RffMap& map, const PointSet& p) {
  std::vector<double> out(static_cast<std::size_t>(map.features()));
  rff_embed_ref(map, p.z.view(), p.beta, out);
  return out;
}

double squared_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

TEST(RffEmbedding, MatchesTheReferenceOverAwkwardSizes) {
  for (std::int64_t d : {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33}) {
    for (std::int64_t m : {1, 5, 63, 64, 65, 130}) {
      for (std::int64_t k : {1, 2, 13}) {
        const RffMap map = make_rff_map(d, m, 0.1, 42);
        const PointSet p = random_set(k, d, static_cast<std::uint64_t>(d * 1000 + m * 10 + k));
        const auto fast = embed(Context{.n_threads = 2}, map, p);
        const auto ref = embed_ref(map, p);
        for (std::size_t i = 0; i < ref.size(); ++i)
          ASSERT_NEAR(fast[i], ref[i], 1e-13) << "d=" << d << " m=" << m << " k=" << k << " feature " << i;
      }
    }
  }
}

TEST(RffEmbedding, IsTheSameForOneAndSeveralThreads) {
  const RffMap map = make_rff_map(32, 300, 0.1, 7);
  const PointSet p = random_set(100, 32, 3);
  EXPECT_EQ(embed(Context{.n_threads = 1}, map, p), embed(Context{.n_threads = 4}, map, p));
}

TEST(RffEmbedding, TheSeedFixesTheMap) {
  EXPECT_EQ(make_rff_map(8, 16, 0.5, 11).w, make_rff_map(8, 16, 0.5, 11).w);
  EXPECT_NE(make_rff_map(8, 16, 0.5, 11).w, make_rff_map(8, 16, 0.5, 12).w);
}

TEST(RffEmbedding, SquaredDistanceEstimatesMmd2) {
  // Unbiased with standard error O(1/sqrt(m)): 8192 frequencies bring it
  // within a few percent of the exact MMD² for sets at moderate distance.
  const Context ctx{.n_threads = 2};
  const RffMap map = make_rff_map(6, 8192, 0.1, 5);
  const PointSet p = random_set(30, 6, 1);
  for (double shift : {0.5, 1.0, 2.0}) {
    const PointSet q = random_set(30, 6, 2, shift);
    const double exact = rkme_mmd2(ctx, p.z.view(), p.beta, q.z.view(), q.beta, 0.1);
    const double approx = squared_distance(embed(ctx, map, p), embed(ctx, map, q));
    EXPECT_NEAR(approx, exact, 0.05 * exact + 1e-3) << "shift " << shift;
  }
}

TEST(RffEmbedding, InnerProductOfAPointWithItselfIsOne) {
  // Σ_j cos² + sin² = m for a single point with weight 1: phi·phi = k(z, z) = 1 exactly.
  const RffMap map = make_rff_map(4, 50, 0.3, 9);
  PointSet p{Matrix<double>(1, 4), {1.0}};
  for (std::int64_t c = 0; c < 4; ++c) p.z(0, c) = 0.1 * static_cast<double>(c);
  const auto e = embed_ref(map, p);
  double s = 0.0;
  for (double v : e) s += v * v;
  EXPECT_NEAR(s, 1.0, 1e-12);
}

TEST(RffEmbedding, RefusesBadArguments) {
  EXPECT_THROW(make_rff_map(0, 4, 0.1, 1), KernelError);
  EXPECT_THROW(make_rff_map(4, 0, 0.1, 1), KernelError);
  EXPECT_THROW(make_rff_map(4, 4, 0.0, 1), KernelError);
  const RffMap map = make_rff_map(4, 4, 0.1, 1);
  const PointSet p = random_set(3, 5, 1);
  std::vector<double> out(8);
  EXPECT_THROW(rff_embed(Context{}, map, p.z.view(), p.beta, out), KernelError);
}

}  // namespace
}  // namespace lwd::kernels

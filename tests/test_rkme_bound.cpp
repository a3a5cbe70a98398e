// Bounds on the cross inner products of the batched search (kernels/rkme_bound.h):
// every interval holds the float64 product, the kernel equals its plain
// reference, and far members get bounds small enough to be of use.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/random.h"
#include "kernels/rkme.h"
#include "kernels/rkme_bound.h"

namespace lwd::kernels {
namespace {

// A packed market in float64 (what the products are about) and its float32 mirror.
struct Packed {
  std::int64_t d = 0;
  std::vector<double> z;
  std::vector<float> z32;
  std::vector<double> beta;
  std::vector<std::int64_t> offsets{0};

  void add(const Matrix<double>& rows, const std::vector<double>& b) {
    z.insert(z.end(), rows.values().begin(), rows.values().end());
    for (double v : rows.values()) z32.push_back(static_cast<float>(v));
    beta.insert(beta.end(), b.begin(), b.end());
    offsets.push_back(offsets.back() + rows.rows());
  }
  std::int64_t count() const { return static_cast<std::int64_t>(offsets.size()) - 1; }
  std::int64_t rows() const { return offsets.back(); }
  ConstMatrixView<double> view() const { return {z.data(), rows(), d}; }
  ConstMatrixView<float> view32() const { return {z32.data(), rows(), d}; }
  ConstMatrixView<double> member(std::int64_t m) const {
    return {z.data() + offsets[static_cast<std::size_t>(m)] * d,
            offsets[static_cast<std::size_t>(m) + 1] - offsets[static_cast<std::size_t>(m)], d};
  }
  std::span<const double> member_beta(std::int64_t m) const {
    return std::span<const double>(beta).subspan(static_cast<std::size_t>(offsets[static_cast<std::size_t>(m)]),
                                                 static_cast<std::size_t>(offsets[static_cast<std::size_t>(m) + 1] -
                                                                          offsets[static_cast<std::size_t>(m)]));
  }
};

Matrix<double> cloud(std::int64_t n, std::int64_t d, const std::vector<double>& centre, double spread, Rng& rng) {
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c) x(i, c) = centre[static_cast<std::size_t>(c)] + spread * rng.normal();
  return x;
}

std::vector<double> simplex_weights(std::int64_t n, Rng& rng) {
  std::vector<double> b(static_cast<std::size_t>(n));
  double total = 0.0;
  for (double& v : b) total += (v = rng.uniform() + 0.05);
  for (double& v : b) v /= total;
  return b;
}

std::vector<double> signed_weights(std::int64_t n, Rng& rng) {
  std::vector<double> b(static_cast<std::size_t>(n));
  for (double& v : b) v = rng.normal();
  return b;
}

std::vector<double> random_centre(std::int64_t d, double scale, double offset, Rng& rng) {
  std::vector<double> c(static_cast<std::size_t>(d));
  for (double& v : c) v = offset + scale * rng.normal();
  return c;
}

struct Bounds {
  std::vector<double> lower, upper;
};

std::vector<std::int64_t> every_member(const Packed& p) {
  std::vector<std::int64_t> m(static_cast<std::size_t>(p.count()));
  for (std::int64_t i = 0; i < p.count(); ++i) m[static_cast<std::size_t>(i)] = i;
  return m;
}

Bounds bounds(const Context& ctx, const Matrix<double>& user, const std::vector<double>& a, const Packed& p,
              const std::vector<std::int64_t>& members, const std::vector<double>& gammas, bool reference = false) {
  Bounds b;
  b.lower.assign(members.size(), 0.0);
  b.upper.assign(members.size(), 0.0);
  if (reference) {
    rkme_cross_bounds_f32_ref(user.view(), a, p.view32(), p.beta, p.offsets, members, gammas, b.lower, b.upper);
  } else {
    rkme_cross_bounds_f32(ctx, user.view(), a, p.view32(), p.beta, p.offsets, members, gammas, b.lower, b.upper);
  }
  return b;
}

// Markets of every shape the search meets: members far from the user, near
// it, on top of it, spread wide or tight, far from the origin (where the
// float32 mirror's rounding is largest), with simplex or signed weights.
struct Shape {
  const char* name;
  std::int64_t d;
  double centre_scale;  // members' centres ~ offset + centre_scale N(0, I)
  double offset;
  double spread;
  bool signed_weights;
  double gamma;
  // Kernel against reference, relative: the kernel sums w.y_j in float32
  // (SGEMV) and the member's columns in float32 (the direction), the
  // reference both in float64, so the separations differ by up to the float32
  // sums' rounding, ~d 2^-24 |w|_1 max|y|, and the bound by gamma 2 g times
  // that; far from the origin max|y| is 1e3 times the clouds' spread.
  double tolerance;
};

const Shape kShapes[] = {
    {"far apart, d 32", 32, 2.0, 0.0, 1.0, false, 0.1, 2e-5},
    {"overlapping, d 8", 8, 0.3, 0.0, 1.0, false, 0.5, 2e-5},
    {"tight clusters far from the origin", 16, 0.01, 1000.0, 0.002, false, 2000.0, 0.2},
    {"signed weights, d 4", 4, 1.0, 0.0, 0.5, true, 1.0, 2e-5},
    {"one column", 1, 3.0, 0.0, 0.3, false, 1.0, 2e-5},
    {"wide kernel, d 64", 64, 1.0, -5.0, 1.0, false, 0.01, 2e-5},
};

class CrossBounds : public ::testing::TestWithParam<Shape> {};

TEST_P(CrossBounds, EveryIntervalHoldsTheFloat64Product) {
  const Shape s = GetParam();
  Rng rng(17 + static_cast<std::uint64_t>(s.d));
  Packed p;
  p.d = s.d;
  const std::vector<double> user_centre = random_centre(s.d, s.centre_scale, s.offset, rng);
  const Matrix<double> user = cloud(30, s.d, user_centre, s.spread, rng);
  const std::vector<double> a = s.signed_weights ? signed_weights(30, rng) : simplex_weights(30, rng);
  for (std::int64_t m = 0; m < 60; ++m) {
    // A third of the members sit on the user's centre, the rest anywhere.
    const auto centre = m % 3 == 0 ? user_centre : random_centre(s.d, s.centre_scale, s.offset, rng);
    const std::int64_t n = 5 + m % 17;
    p.add(cloud(n, s.d, centre, s.spread, rng), s.signed_weights ? signed_weights(n, rng) : simplex_weights(n, rng));
  }
  const auto members = every_member(p);
  const std::vector<double> gammas(members.size(), s.gamma);
  const Bounds b = bounds(Context{}, user, a, p, members, gammas);
  int useful = 0;
  for (std::int64_t m = 0; m < p.count(); ++m) {
    const double exact = rkme_inner_product(Context{}, user.view(), a, p.member(m), p.member_beta(m), s.gamma);
    EXPECT_LE(b.lower[static_cast<std::size_t>(m)], exact) << s.name << " member " << m;
    EXPECT_GE(b.upper[static_cast<std::size_t>(m)], exact) << s.name << " member " << m;
    if (s.signed_weights) {
      EXPECT_EQ(b.lower[static_cast<std::size_t>(m)], -b.upper[static_cast<std::size_t>(m)]);
    } else {
      EXPECT_EQ(b.lower[static_cast<std::size_t>(m)], 0.0);
    }
    useful += b.upper[static_cast<std::size_t>(m)] < 1e-3;
  }
  if (std::string(s.name) == "far apart, d 32") {
    EXPECT_GE(useful, 30) << "far members should get small bounds";
  }
}

TEST_P(CrossBounds, EqualsItsReferenceAndDoesNotDependOnThreads) {
  const Shape s = GetParam();
  Rng rng(5 + static_cast<std::uint64_t>(s.d));
  Packed p;
  p.d = s.d;
  const Matrix<double> user = cloud(25, s.d, random_centre(s.d, s.centre_scale, s.offset, rng), s.spread, rng);
  const std::vector<double> a = s.signed_weights ? signed_weights(25, rng) : simplex_weights(25, rng);
  for (std::int64_t m = 0; m < 80; ++m) {
    const std::int64_t n = 1 + m % 13;
    p.add(cloud(n, s.d, random_centre(s.d, s.centre_scale, s.offset, rng), s.spread, rng),
          s.signed_weights ? signed_weights(n, rng) : simplex_weights(n, rng));
  }
  // A subset, out of order, with a member twice and a gamma of its own each.
  std::vector<std::int64_t> members;
  std::vector<double> gammas;
  for (std::int64_t m = p.count() - 1; m >= 0; m -= 2) {
    members.push_back(m);
    gammas.push_back(s.gamma * (1.0 + 0.1 * static_cast<double>(m % 3)));
  }
  members.push_back(members.front());
  gammas.push_back(s.gamma);
  const Bounds ref = bounds(Context{}, user, a, p, members, gammas, true);
  const Bounds one = bounds(Context{.n_threads = 1}, user, a, p, members, gammas);
  const Bounds two = bounds(Context{.n_threads = 2}, user, a, p, members, gammas);
  double worst = 0.0;
  for (std::size_t t = 0; t < members.size(); ++t) {
    ASSERT_GT(ref.upper[t], 0.0);
    worst = std::max(worst, std::abs(one.upper[t] - ref.upper[t]) / ref.upper[t]);
    EXPECT_EQ(one.lower[t] == 0.0, ref.lower[t] == 0.0) << s.name << " " << t;
    EXPECT_EQ(one.upper[t], two.upper[t]);
    EXPECT_EQ(one.lower[t], two.lower[t]);
  }
  EXPECT_LE(worst, s.tolerance) << s.name;
  std::printf("%s: largest relative difference from the reference %.3g\n", s.name, worst);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CrossBounds, ::testing::ValuesIn(kShapes));

TEST(CrossBoundsF32, FarCloudsGetATinyBoundAndCoincidentOnesTheTotalWeight) {
  Rng rng(3);
  const std::int64_t d = 32;
  Packed p;
  p.d = d;
  std::vector<double> origin(static_cast<std::size_t>(d), 0.0);
  std::vector<double> far(static_cast<std::size_t>(d), 0.0);
  far[0] = 20.0;  // 20 apart along one axis: every kernel value below e^-(0.1 * (20 - 2 * 4)^2)
  const Matrix<double> user = cloud(100, d, origin, 1.0, rng);
  const std::vector<double> a = simplex_weights(100, rng);
  p.add(cloud(100, d, far, 1.0, rng), simplex_weights(100, rng));
  // Every point at one place, the user's too: the product is sum |a| sum |b| = 1.
  Matrix<double> same(3, d);
  p.add(same, {0.2, 0.3, 0.5});
  const Matrix<double> same_user(2, d);
  const Bounds b = bounds(Context{}, user, a, p, {0}, {0.1});
  EXPECT_LT(b.upper[0], 1e-5);
  EXPECT_GE(b.upper[0], rkme_inner_product(Context{}, user.view(), a, p.member(0), p.member_beta(0), 0.1));
  const Bounds c = bounds(Context{}, same_user, {0.5, 0.5}, p, {1}, {0.1});
  EXPECT_GE(c.upper[0], 1.0);
  EXPECT_LE(c.upper[0], 1.0 + 1e-8);
}

TEST(CrossBoundsF32, RoundingOfTheMirrorIsAllowedFor) {
  // One column. The member's points are 1000 + 3e-5 (1000 in the float32
  // mirror: its spacing there is 6.1e-5) and 992; the user's are 1000 + 3e-5
  // and 1000 - 3e-5, so the direction is exactly 4 and every float32 product
  // along it is exact. The mirror alone puts the member's far point 3e-5
  // short of the user's near one; in float64 they coincide, and with a kernel
  // this narrow that pair is the whole product. The bound must allow for the
  // mirror's rounding.
  Packed p;
  p.d = 1;
  p.add(Matrix<double>(2, 1, std::vector<double>{1000.0 + 3e-5, 992.0}), {0.5, 0.5});
  ASSERT_EQ(p.z32[0], 1000.0f);
  const Matrix<double> user(2, 1, std::vector<double>{1000.0 + 3e-5, 1000.0 - 3e-5});
  const std::vector<double> a{0.999, 0.001};
  const double gamma = 1e10;
  const Bounds b = bounds(Context{}, user, a, p, {0}, {gamma});
  const double exact = rkme_inner_product(Context{}, user.view(), a, p.member(0), p.member_beta(0), gamma);
  EXPECT_NEAR(exact, 0.4995, 1e-9);
  EXPECT_GE(b.upper[0], exact);
  const Bounds r = bounds(Context{}, user, a, p, {0}, {gamma}, true);
  EXPECT_GE(r.upper[0], exact);
}

TEST(CrossBoundsF32, NonFiniteValuesGiveTheWholeLineAndEmptyMembersZero) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Packed p;
  p.d = 2;
  p.add(Matrix<double>(1, 2, std::vector<double>{nan, 0.0}), {1.0});
  p.add(Matrix<double>(1, 2, std::vector<double>{inf, 0.0}), {1.0});
  p.add(Matrix<double>(1, 2, std::vector<double>{0.0, 0.0}), {nan});
  p.add(Matrix<double>(0, 2), {});
  const Matrix<double> user(1, 2);
  const Bounds b = bounds(Context{}, user, {1.0}, p, {0, 1, 2, 3}, {1.0, 1.0, 1.0, 1.0});
  for (int m = 0; m < 3; ++m) {
    EXPECT_EQ(b.upper[static_cast<std::size_t>(m)], inf) << m;
    EXPECT_EQ(b.lower[static_cast<std::size_t>(m)], -inf) << m;
  }
  EXPECT_EQ(b.upper[3], 0.0);
  EXPECT_EQ(b.lower[3], 0.0);
  const Matrix<double> bad_user(1, 2, std::vector<double>{nan, 1.0});
  const Bounds c = bounds(Context{}, bad_user, {1.0}, p, {3, 2}, {1.0, 1.0});
  EXPECT_EQ(c.upper[0], 0.0);  // an empty member has nothing to bound
  EXPECT_EQ(c.upper[1], inf);
}

TEST(CrossBoundsF32, RejectsInconsistentArguments) {
  Packed p;
  p.d = 2;
  p.add(Matrix<double>(2, 2), {0.5, 0.5});
  const Matrix<double> user(1, 2);
  const std::vector<double> a{1.0};
  std::vector<double> lo(1), hi(1);
  const std::vector<std::int64_t> one{0};
  const std::vector<double> g{1.0};
  auto call = [&](ConstMatrixView<double> u, std::span<const double> aw, std::span<const std::int64_t> offsets,
                  std::span<const std::int64_t> members, std::span<const double> gammas, std::span<double> l) {
    rkme_cross_bounds_f32(Context{}, u, aw, p.view32(), p.beta, offsets, members, gammas, l, hi);
  };
  const Matrix<double> wide(1, 3);
  EXPECT_THROW(call(wide.view(), a, p.offsets, one, g, lo), KernelError);
  EXPECT_THROW(call(user.view(), std::vector<double>{1.0, 2.0}, p.offsets, one, g, lo), KernelError);
  EXPECT_THROW(call(user.view(), a, std::vector<std::int64_t>{0, 1}, one, g, lo), KernelError);
  EXPECT_THROW(call(user.view(), a, std::vector<std::int64_t>{}, one, g, lo), KernelError);
  EXPECT_THROW(call(user.view(), a, p.offsets, std::vector<std::int64_t>{1}, g, lo), KernelError);
  EXPECT_THROW(call(user.view(), a, p.offsets, std::vector<std::int64_t>{-1}, g, lo), KernelError);
  EXPECT_THROW(call(user.view(), a, p.offsets, one, std::vector<double>{0.0}, lo), KernelError);
  EXPECT_THROW(call(user.view(), a, p.offsets, one, std::vector<double>{std::nan("")}, lo), KernelError);
  EXPECT_THROW(call(user.view(), a, p.offsets, one, std::vector<double>{1.0, 1.0}, lo), KernelError);
  std::vector<double> short_lo;
  EXPECT_THROW(call(user.view(), a, p.offsets, one, g, short_lo), KernelError);
  EXPECT_NO_THROW(call(user.view(), a, p.offsets, one, g, lo));
}

}  // namespace
}  // namespace lwd::kernels

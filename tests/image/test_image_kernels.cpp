// The image RKME kernels (kernels/image_features.h, kernels/conv_nngp_kernel.h,
// kernels/conv_nngp_features.h)
// against their naive float64 references on tiny images of awkward sizes,
// plus the properties the spec relies on: ZCA whitens, the backward pass is the
// adjoint of the forward one, and results do not depend on the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/conv_nngp_features.h"
#include "kernels/conv_nngp_kernel.h"
#include "kernels/error.h"
#include "kernels/image_features.h"
#include "kernels/random.h"

namespace lwd::kernels {
namespace {

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, double sd = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(sd * rng.normal());
  return v;
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

void expect_close(std::span<const float> fast, std::span<const double> ref, double rel_tol, const char* what) {
  ASSERT_EQ(fast.size(), ref.size()) << what;
  double scale = 1e-12;
  for (const double r : ref) scale = std::max(scale, std::abs(r));
  for (std::size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(fast[i], ref[i], rel_tol * scale) << what << " at " << i;
}

// ---- preprocessing ----

TEST(ImageResize, MatchesReferenceForDownAndUpscalingOfAwkwardSizes) {
  const Context ctx{2, 0};
  const std::int64_t sizes[][4] = {{5, 7, 3, 4}, {3, 3, 8, 5}, {28, 28, 32, 32}, {1, 1, 4, 4},
                                   {33, 17, 32, 32}, {64, 9, 7, 31}, {2, 9, 2, 9}};
  for (const auto& s : sizes) {
    const ImageShape shape{3, 2, s[0], s[1]};
    const auto src = random_floats(static_cast<std::size_t>(shape.total()), 5);
    std::vector<float> fast(static_cast<std::size_t>(3 * 2 * s[2] * s[3]));
    std::vector<double> ref(fast.size());
    resize_images_bilinear(ctx, src, shape, s[2], s[3], fast);
    resize_images_bilinear_ref(src, shape, s[2], s[3], ref);
    expect_close(fast, ref, 1e-5, "resize");
  }
}

TEST(ImageResize, KeepsConstantImagesConstantAndSameSizeImagesUnchanged) {
  const ImageShape shape{1, 1, 13, 11};
  std::vector<float> flat(static_cast<std::size_t>(shape.total()), 42.0f);
  std::vector<float> out(32 * 32);
  resize_images_bilinear(Context{1, 0}, flat, shape, 32, 32, out);
  for (const float v : out) EXPECT_NEAR(v, 42.0f, 1e-4f);
  const auto src = random_floats(static_cast<std::size_t>(shape.total()), 9);
  std::vector<float> same(src.size());
  resize_images_bilinear(Context{1, 0}, src, shape, 13, 11, same);
  for (std::size_t i = 0; i < src.size(); ++i) EXPECT_NEAR(same[i], src[i], 1e-6f);
}

TEST(ImagePreprocessing, StandardisationMatchesReferenceAndGivesZeroMeanUnitSpread) {
  const ImageShape shape{4, 3, 5, 3};
  auto x = random_floats(static_cast<std::size_t>(shape.total()), 3, 7.0);
  for (float& v : x) v += 100.0f;
  auto ref = widen(x);
  standardize_channels(Context{2, 0}, x, shape);
  standardize_channels_ref(ref, shape);
  expect_close(x, ref, 1e-5, "standardize");
  for (std::int64_t c = 0; c < 3; ++c) {
    double sum = 0, sq = 0;
    for (std::int64_t i = 0; i < 4; ++i)
      for (std::int64_t p = 0; p < 15; ++p) {
        const double v = x[static_cast<std::size_t>((i * 3 + c) * 15 + p)];
        sum += v;
        sq += v * v;
      }
    EXPECT_NEAR(sum / 60, 0.0, 1e-5);
    EXPECT_NEAR(sq / 59, 1.0, 1e-4);
  }
}

TEST(ImagePreprocessing, ConstantChannelIsOnlyCentred) {
  const ImageShape shape{2, 1, 2, 2};
  std::vector<float> x(8, 3.0f);
  standardize_channels(Context{1, 0}, x, shape);
  for (const float v : x) EXPECT_EQ(v, 0.0f);
}

TEST(ImagePreprocessing, NonFinitePixelsBecomeTheImageMean) {
  const ImageShape shape{2, 1, 1, 4};
  std::vector<float> x = {1.0f, std::numeric_limits<float>::quiet_NaN(), 5.0f, std::numeric_limits<float>::infinity(),
                          2.0f, 2.0f, 2.0f, 2.0f};
  impute_non_finite_pixels(x, shape);
  EXPECT_EQ(x[1], 3.0f);
  EXPECT_EQ(x[3], 3.0f);
  EXPECT_EQ(x[4], 2.0f);
}

TEST(ImagePreprocessing, ImageWithoutFinitePixelIsAnErrorNamingIt) {
  const ImageShape shape{2, 1, 1, 2};
  std::vector<float> x = {1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()};
  try {
    impute_non_finite_pixels(x, shape);
    FAIL() << "expected an error";
  } catch (const KernelError& e) {
    EXPECT_NE(std::string(e.what()).find("image 1"), std::string::npos) << e.what();
  }
}

// ---- ZCA ----

TEST(ZcaWhitening, MatchesReferenceAndIsSymmetric) {
  const std::int64_t n = 40, d = 7;
  const auto x = random_floats(static_cast<std::size_t>(n * d), 21);
  const auto w = zca_whitening_matrix(Context{2, 0}, ConstMatrixView<float>(x.data(), n, d), 0.1);
  const auto xd = widen(x);
  const auto wr = zca_whitening_matrix_ref(ConstMatrixView<double>(xd.data(), n, d), 0.1);
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      EXPECT_NEAR(w(i, j), wr(i, j), 1e-9);
      EXPECT_EQ(w(i, j), w(j, i));
    }
}

TEST(ZcaWhitening, FewerImagesThanPixelsTakesTheGramRouteToTheSameMatrix) {
  for (const std::int64_t n : {1, 5, 11}) {
    const std::int64_t d = 12;
    const auto x = random_floats(static_cast<std::size_t>(n * d), 22 + static_cast<std::uint64_t>(n));
    const auto w = zca_whitening_matrix(Context{2, 0}, ConstMatrixView<float>(x.data(), n, d), 0.1);
    const auto xd = widen(x);
    const auto wr = zca_whitening_matrix_ref(ConstMatrixView<double>(xd.data(), n, d), 0.1);
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        EXPECT_NEAR(w(i, j), wr(i, j), 1e-8 * (1 + std::abs(wr(i, j)))) << n << ": " << i << "," << j;
        EXPECT_EQ(w(i, j), w(j, i));
      }
  }
}

TEST(ZcaWhitening, WhitensTheRegularisedCovariance) {
  // Correlated columns: x = g A with a mixing matrix A.
  const std::int64_t n = 200, d = 5;
  const auto g = random_floats(static_cast<std::size_t>(n * d), 4);
  std::vector<float> x(g.size(), 0.0f);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j)
      for (std::int64_t k = 0; k <= j; ++k) x[static_cast<std::size_t>(i * d + j)] += (1.0f + k) * g[static_cast<std::size_t>(i * d + k)];
  for (const double reg : {0.0, 0.1}) {
    const auto w = zca_whitening_matrix(Context{1, 0}, ConstMatrixView<float>(x.data(), n, d), reg);
    std::vector<float> white = x;
    apply_whitening(Context{2, 0}, MatrixView<float>(white.data(), n, d), w.cview());
    // Covariance of the whitened data: I without a regulariser; with one, its
    // eigenvalues s / (s + lambda) lie in (0, 1).
    double trace_s = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) trace_s += double(x[static_cast<std::size_t>(i * d + j)]) * x[static_cast<std::size_t>(i * d + j)];
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t b = 0; b < d; ++b) {
        double c = 0;
        for (std::int64_t i = 0; i < n; ++i) c += double(white[static_cast<std::size_t>(i * d + a)]) * white[static_cast<std::size_t>(i * d + b)];
        c /= n;
        if (reg == 0.0) {
          EXPECT_NEAR(c, a == b ? 1.0 : 0.0, 1e-4) << a << "," << b;
        } else if (a == b) {
          EXPECT_TRUE(c > 0.0 && c < 1.0) << c;
        }
      }
  }
}

TEST(ZcaWhitening, SingularCovarianceWithoutRegulariserIsAnError) {
  std::vector<float> x(10 * 3, 0.0f);
  for (int i = 0; i < 10; ++i) x[static_cast<std::size_t>(i * 3)] = static_cast<float>(i);  // columns 1, 2 are zero
  EXPECT_THROW(zca_whitening_matrix(Context{1, 0}, ConstMatrixView<float>(x.data(), 10, 3), 0.0), KernelError);
  EXPECT_NO_THROW(zca_whitening_matrix(Context{1, 0}, ConstMatrixView<float>(x.data(), 10, 3), 0.1));
}

// ---- convolution ----

TEST(Conv3x3, ForwardAndBackwardMatchReferenceOnAwkwardSizes) {
  const std::int64_t cases[][5] = {{1, 1, 1, 1, 1}, {1, 5, 2, 3, 7}, {3, 7, 3, 2, 9},
                                   {2, 4, 1, 17, 1}, {4, 3, 2, 8, 8}, {1, 2, 1, 31, 33}};
  for (const auto& c : cases) {
    const ConvGeometry g{c[0], c[1], c[2], c[3], c[4]};
    const std::int64_t n = g.count * g.height * g.width;
    const auto in = random_floats(static_cast<std::size_t>(g.in_channels * n), 1);
    const auto w = random_floats(static_cast<std::size_t>(g.out_channels * g.in_channels * 9), 2);
    const auto b = random_floats(static_cast<std::size_t>(g.out_channels), 3);
    std::vector<float> out(static_cast<std::size_t>(g.out_channels * n));
    std::vector<double> out_ref(out.size());
    conv3x3_same_forward(g, in, w, b, out);
    conv3x3_same_forward_ref(g, widen(in), widen(w), widen(b), out_ref);
    expect_close(out, out_ref, 1e-5, "conv forward");

    const auto go = random_floats(out.size(), 4);
    std::vector<float> gi(in.size());
    std::vector<double> gi_ref(in.size());
    conv3x3_same_backward_input(g, go, w, gi);
    conv3x3_same_backward_input_ref(g, widen(go), widen(w), gi_ref);
    expect_close(gi, gi_ref, 1e-5, "conv backward");
  }
}

TEST(Conv3x3, BackwardIsTheAdjointOfTheForwardMap) {
  const ConvGeometry g{3, 4, 2, 6, 5};
  const std::int64_t n = g.count * g.height * g.width;
  const auto x = widen(random_floats(static_cast<std::size_t>(g.in_channels * n), 7));
  const auto y = widen(random_floats(static_cast<std::size_t>(g.out_channels * n), 8));
  const auto w = widen(random_floats(static_cast<std::size_t>(g.out_channels * g.in_channels * 9), 9));
  const std::vector<double> zero_bias(static_cast<std::size_t>(g.out_channels), 0.0);
  std::vector<double> ax(y.size()), aty(x.size());
  conv3x3_same_forward_ref(g, x, w, zero_bias, ax);
  conv3x3_same_backward_input_ref(g, y, w, aty);
  const double lhs = std::inner_product(ax.begin(), ax.end(), y.begin(), 0.0);
  const double rhs = std::inner_product(x.begin(), x.end(), aty.begin(), 0.0);
  EXPECT_NEAR(lhs, rhs, 1e-9 * std::abs(lhs));
}

TEST(Conv3x3, WrongBufferSizesAreErrors) {
  const ConvGeometry g{1, 1, 1, 3, 3};
  std::vector<float> in(9), w(9), b(1), out(8);
  EXPECT_THROW(conv3x3_same_forward(g, in, w, b, out), KernelError);
}

// ---- random ConvNets ----

struct NetCase {
  std::int64_t in_channels, width;
  int depth;
  std::int64_t height, width_px, count;
};

TEST(RandomConvNet, FeaturesAndInputGradientsMatchReference) {
  const NetCase cases[] = {{1, 3, 1, 2, 4, 3}, {3, 5, 2, 8, 4, 2}, {2, 4, 2, 12, 4, 17}, {1, 2, 3, 8, 16, 1}};
  for (const auto& c : cases) {
    RandomConvNetConfig cfg;
    cfg.in_channels = c.in_channels;
    cfg.width = c.width;
    cfg.depth = c.depth;
    cfg.height = c.height;
    cfg.width_px = c.width_px;
    const auto net = draw_random_conv_net(cfg, 99);
    const ImageShape shape{c.count, c.in_channels, c.height, c.width_px};
    const auto images = random_floats(static_cast<std::size_t>(shape.total()), 12);
    const std::int64_t f = net.feature_dim();
    ASSERT_EQ(f, c.width * (c.height >> c.depth) * (c.width_px >> c.depth));
    Matrix<float> feats(c.count, f);
    Matrix<double> feats_ref(c.count, f);
    conv_net_features(Context{2, 0}, net, images, shape, feats.view());
    conv_net_features_ref(net, widen(images), shape, feats_ref.view());
    expect_close(feats.values(), feats_ref.values(), 1e-5, "features");

    const auto gf = random_floats(static_cast<std::size_t>(c.count * f), 13);
    std::vector<float> gi(images.size());
    std::vector<double> gi_ref(images.size());
    conv_net_backward(Context{2, 0}, net, images, shape, ConstMatrixView<float>(gf.data(), c.count, f), gi);
    const auto gfd = widen(gf);
    conv_net_backward_ref(net, widen(images), shape, ConstMatrixView<double>(gfd.data(), c.count, f), gi_ref);
    expect_close(gi, gi_ref, 1e-5, "input gradient");
  }
}

TEST(RandomConvNet, ReferenceGradientAgreesWithFiniteDifferences) {
  RandomConvNetConfig cfg;
  cfg.in_channels = 2;
  cfg.width = 3;
  cfg.depth = 2;
  cfg.height = 4;
  cfg.width_px = 8;
  const auto net = draw_random_conv_net(cfg, 5);
  const ImageShape shape{1, 2, 4, 8};
  auto x = widen(random_floats(static_cast<std::size_t>(shape.total()), 6));
  const std::int64_t f = net.feature_dim();
  const auto weights = widen(random_floats(static_cast<std::size_t>(f), 7));  // L = weights . features
  auto loss = [&](const std::vector<double>& img) {
    Matrix<double> out(1, f);
    conv_net_features_ref(net, img, shape, out.view());
    return std::inner_product(weights.begin(), weights.end(), out.values().begin(), 0.0);
  };
  std::vector<double> grad(x.size());
  conv_net_backward_ref(net, x, shape, ConstMatrixView<double>(weights.data(), 1, f), grad);
  const double h = 1e-6;
  for (std::size_t i = 0; i < x.size(); i += 5) {
    auto up = x, down = x;
    up[i] += h;
    down[i] -= h;
    EXPECT_NEAR((loss(up) - loss(down)) / (2 * h), grad[i], 1e-5) << "pixel " << i;
  }
}

TEST(RandomConvNet, FeatureSumIsTheSumOfFeatures) {
  RandomConvNetConfig cfg;
  cfg.in_channels = 1;
  cfg.width = 4;
  cfg.depth = 2;
  cfg.height = cfg.width_px = 8;
  const auto net = draw_random_conv_net(cfg, 1);
  const ImageShape shape{37, 1, 8, 8};
  const auto images = random_floats(static_cast<std::size_t>(shape.total()), 2);
  Matrix<double> feats(37, net.feature_dim());
  conv_net_features_ref(net, widen(images), shape, feats.view());
  std::vector<double> sum(static_cast<std::size_t>(net.feature_dim()));
  conv_net_feature_sum(Context{2, 0}, net, images, shape, sum);
  for (std::int64_t j = 0; j < net.feature_dim(); ++j) {
    double s = 0;
    for (std::int64_t i = 0; i < 37; ++i) s += feats(i, j);
    EXPECT_NEAR(sum[static_cast<std::size_t>(j)], s, 1e-4 * (1 + std::abs(s)));
  }
}

TEST(RandomConvNet, SameSeedSameNetDifferentSeedDifferentNet) {
  RandomConvNetConfig cfg;
  const auto a = draw_random_conv_net(cfg, 3), b = draw_random_conv_net(cfg, 3), c = draw_random_conv_net(cfg, 4);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.biases, b.biases);
  EXPECT_NE(a.weights, c.weights);
}

TEST(RandomConvNet, InputNotDivisibleByTwoToTheDepthIsAnError) {
  RandomConvNetConfig cfg;
  cfg.height = 30;
  EXPECT_THROW(draw_random_conv_net(cfg, 0), KernelError);
}

TEST(RandomConvNet, ResultsAreBitIdenticalForOneAndTwoThreads) {
  RandomConvNetConfig cfg;  // 32 x 32, width 32, depth 3
  const auto net = draw_random_conv_net(cfg, 8);
  const ImageShape shape{45, 1, 32, 32};  // several blocks, one partial
  const auto images = random_floats(static_cast<std::size_t>(shape.total()), 3);
  Matrix<float> f1(45, net.feature_dim()), f2(45, net.feature_dim());
  conv_net_features(Context{1, 0}, net, images, shape, f1.view());
  conv_net_features(Context{2, 0}, net, images, shape, f2.view());
  EXPECT_EQ(f1, f2);
  std::vector<double> s1(static_cast<std::size_t>(net.feature_dim())), s2(s1.size());
  conv_net_feature_sum(Context{1, 0}, net, images, shape, s1);
  conv_net_feature_sum(Context{2, 0}, net, images, shape, s2);
  EXPECT_EQ(s1, s2);
  std::vector<float> g1(images.size()), g2(images.size());
  conv_net_backward(Context{1, 0}, net, images, shape, f1.cview(), g1);
  conv_net_backward(Context{2, 0}, net, images, shape, f1.cview(), g2);
  EXPECT_EQ(g1, g2);
}

// ---- NNGP kernel ----

TEST(ConvNngpKernel, MatchesReferenceOnAwkwardShapes) {
  struct Case {
    std::int64_t c, h, w, na, nb;
    int depth;
  } cases[] = {{1, 2, 2, 3, 2, 1}, {2, 4, 8, 2, 5, 2}, {3, 8, 8, 4, 3, 3}, {1, 16, 4, 1, 1, 2}, {3, 32, 32, 2, 2, 3}};
  for (const auto& c : cases) {
    const ImageShape sa{c.na, c.c, c.h, c.w}, sb{c.nb, c.c, c.h, c.w};
    const auto a = random_floats(static_cast<std::size_t>(sa.total()), 31);
    const auto b = random_floats(static_cast<std::size_t>(sb.total()), 32);
    ConvNngpConfig cfg;
    cfg.depth = c.depth;
    Matrix<double> fast(c.na, c.nb), ref(c.na, c.nb);
    conv_nngp_kernel_matrix(Context{2, 0}, a, sa, b, sb, cfg, false, fast.view());
    conv_nngp_kernel_matrix_ref(a, sa, b, sb, cfg, false, ref.view());
    for (std::int64_t i = 0; i < c.na; ++i)
      for (std::int64_t j = 0; j < c.nb; ++j) EXPECT_NEAR(fast(i, j), ref(i, j), 1e-7 * (1 + std::abs(ref(i, j))));
    // same_inputs: symmetric, and its diagonal is the reference's forced one.
    Matrix<double> self(c.na, c.na), self_ref(c.na, c.na);
    conv_nngp_kernel_matrix(Context{1, 0}, a, sa, a, sa, cfg, true, self.view());
    conv_nngp_kernel_matrix_ref(a, sa, a, sa, cfg, true, self_ref.view());
    for (std::int64_t i = 0; i < c.na; ++i)
      for (std::int64_t j = 0; j < c.na; ++j) {
        EXPECT_NEAR(self(i, j), self_ref(i, j), 1e-7 * (1 + std::abs(self_ref(i, j))));
        EXPECT_EQ(self(i, j), self(j, i));
      }
  }
}

TEST(ConvNngpKernel, IsACovarianceSymmetricWithCauchySchwarz) {
  const ImageShape s{6, 2, 16, 16};
  const auto a = random_floats(static_cast<std::size_t>(s.total()), 41);
  Matrix<double> k(6, 6);
  conv_nngp_kernel_matrix(Context{2, 0}, a, s, a, s, ConvNngpConfig{}, true, k.view());
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) EXPECT_LE(k(i, j) * k(i, j), k(i, i) * k(j, j) * (1 + 1e-9));
  // Cross evaluation of the same images agrees with the self kernel.
  Matrix<double> cross(6, 6);
  conv_nngp_kernel_matrix(Context{2, 0}, a, s, a, s, ConvNngpConfig{}, false, cross.view());
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) EXPECT_NEAR(cross(i, j), k(i, j), 1e-7 * std::abs(k(i, j)));
}

TEST(ConvNngpKernel, BilinearFormEqualsWeightedMatrixSumAndIgnoresThreadCount) {
  const ImageShape sa{5, 1, 8, 8}, sb{3, 1, 8, 8};
  const auto a = random_floats(static_cast<std::size_t>(sa.total()), 51);
  const auto b = random_floats(static_cast<std::size_t>(sb.total()), 52);
  const std::vector<double> u = {0.1, 0.2, 0.3, 0.15, 0.25}, v = {0.5, 0.3, 0.2};
  Matrix<double> k(5, 3);
  conv_nngp_kernel_matrix(Context{1, 0}, a, sa, b, sb, ConvNngpConfig{}, false, k.view());
  double expected = 0;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) expected += u[static_cast<std::size_t>(i)] * k(i, j) * v[static_cast<std::size_t>(j)];
  const double one = conv_nngp_bilinear(Context{1, 0}, u, a, sa, b, sb, v, ConvNngpConfig{}, false);
  const double two = conv_nngp_bilinear(Context{2, 0}, u, a, sa, b, sb, v, ConvNngpConfig{}, false);
  EXPECT_NEAR(one, expected, 1e-12 * std::abs(expected));
  EXPECT_EQ(one, two);
}

// u^T K v summed the way conv_nngp_bilinear sums it -- rows in order, each
// row's terms in order, every term, zero weights included.
double dense_row_order_sum(std::span<const double> u, const Matrix<double>& k, std::span<const double> v) {
  double total = 0.0;
  for (std::int64_t i = 0; i < k.rows(); ++i) {
    double sum = 0.0;
    for (std::int64_t j = 0; j < k.cols(); ++j) sum += k(i, j) * v[static_cast<std::size_t>(j)];
    total += u[static_cast<std::size_t>(i)] * sum;
  }
  return total;
}

// Weights of an RKME image spec: mostly exact zeros, a few positive.
std::vector<double> sparse_weights(std::int64_t n, std::uint64_t seed, double zero_fraction = 0.7) {
  Rng rng(seed);
  std::vector<double> w(static_cast<std::size_t>(n));
  for (double& x : w) x = rng.uniform() < zero_fraction ? 0.0 : rng.uniform();
  return w;
}

TEST(ConvNngpKernel, BilinearFormSkipsZeroWeightsWithoutChangingABit) {
  const ImageShape sa{9, 2, 8, 8}, sb{7, 2, 8, 8};
  const auto a = random_floats(static_cast<std::size_t>(sa.total()), 61);
  const auto b = random_floats(static_cast<std::size_t>(sb.total()), 62);
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    const auto u = sparse_weights(sa.count, 100 + seed), v = sparse_weights(sb.count, 200 + seed);
    Matrix<double> k(sa.count, sb.count), kk(sa.count, sa.count);
    conv_nngp_kernel_matrix(Context{1, 0}, a, sa, b, sb, ConvNngpConfig{}, false, k.view());
    conv_nngp_kernel_matrix(Context{1, 0}, a, sa, a, sa, ConvNngpConfig{}, true, kk.view());
    EXPECT_EQ(conv_nngp_bilinear(Context{2, 0}, u, a, sa, b, sb, v, ConvNngpConfig{}, false),
              dense_row_order_sum(u, k, v));
    EXPECT_EQ(conv_nngp_bilinear(Context{2, 0}, u, a, sa, a, sa, u, ConvNngpConfig{}, true),
              dense_row_order_sum(u, kk, u));
  }
  const std::vector<double> none(static_cast<std::size_t>(sa.count), 0.0);
  EXPECT_EQ(conv_nngp_bilinear(Context{1, 0}, none, a, sa, a, sa, none, ConvNngpConfig{}, true), 0.0);
}

TEST(ConvNngpKernel, BatchEqualsOneBilinearFormPerSetBitForBitForAnyThreadCount) {
  // Sets of awkward sizes, one without any weight, over two image shapes.
  struct Case {
    std::int64_t c, h, w;
    int depth;
  } cases[] = {{1, 32, 32, 3}, {3, 8, 16, 2}, {2, 4, 4, 1}};
  for (const auto& c : cases) {
    ConvNngpConfig cfg;
    cfg.depth = c.depth;
    const ImageShape sa{7, c.c, c.h, c.w};
    const auto a = random_floats(static_cast<std::size_t>(sa.total()), 71);
    const auto u = sparse_weights(sa.count, 72, 0.4);
    const std::int64_t counts[] = {1, 3, 7, 9, 2, 5};
    std::vector<std::vector<float>> images;
    std::vector<std::vector<double>> weights;
    for (std::size_t k = 0; k < std::size(counts); ++k) {
      images.push_back(random_floats(static_cast<std::size_t>(counts[k] * c.c * c.h * c.w), 80 + k, 0.5 + 0.1 * k));
      weights.push_back(k == 4 ? std::vector<double>(2, 0.0) : sparse_weights(counts[k], 90 + k, 0.5));
    }
    weights[0] = {1.0};
    std::vector<WeightedImages> sets;
    for (std::size_t k = 0; k < std::size(counts); ++k)
      sets.push_back({images[k], ImageShape{counts[k], c.c, c.h, c.w}, weights[k]});
    std::vector<double> expected(sets.size());
    for (std::size_t k = 0; k < sets.size(); ++k)
      expected[k] = conv_nngp_bilinear(Context{1, 0}, u, a, sa, sets[k].images, sets[k].shape, sets[k].weights, cfg,
                                       false);
    for (const int threads : {1, 2, 3}) {
      std::vector<double> out(sets.size());
      conv_nngp_bilinear_batch(Context{threads, 0}, {a, sa, u}, sets, cfg, out);
      EXPECT_EQ(out, expected) << threads << " threads";
    }
    EXPECT_EQ(expected[4], 0.0);
    std::vector<double> ref(sets.size());
    conv_nngp_bilinear_batch_ref({a, sa, u}, sets, cfg, ref);
    for (std::size_t k = 0; k < sets.size(); ++k) EXPECT_NEAR(expected[k], ref[k], 1e-7 * (1 + std::abs(ref[k])));
  }
}

TEST(ConvNngpKernel, BatchRefusesMismatchedSets) {
  const ImageShape sa{2, 1, 8, 8}, sb{2, 2, 8, 8};
  std::vector<float> a(128), b(256);
  const std::vector<double> w = {0.5, 0.5}, three = {0.2, 0.3, 0.5};
  std::vector<double> out(1);
  const WeightedImages other_shape[] = {{b, sb, w}};
  EXPECT_THROW(conv_nngp_bilinear_batch(Context{1, 0}, {a, sa, w}, other_shape, ConvNngpConfig{}, out), KernelError);
  const WeightedImages bad_weights[] = {{a, sa, three}};
  EXPECT_THROW(conv_nngp_bilinear_batch(Context{1, 0}, {a, sa, w}, bad_weights, ConvNngpConfig{}, out), KernelError);
  std::vector<double> two(2);
  const WeightedImages fine[] = {{a, sa, w}};
  EXPECT_THROW(conv_nngp_bilinear_batch(Context{1, 0}, {a, sa, w}, fine, ConvNngpConfig{}, two), KernelError);
}

// ---- random features of the NNGP kernel ----

TEST(ConvNngpFeatures, EmbeddingMatchesReferenceAndIgnoresThreadCount) {
  struct Case {
    std::int64_t c, h, w, n;
    int depth;
    std::int64_t width;
    int nets;
  } cases[] = {{1, 32, 32, 17, 3, 8, 2}, {3, 8, 16, 5, 2, 5, 1}, {2, 4, 4, 33, 1, 3, 3}, {1, 16, 16, 1, 4, 7, 1}};
  for (const auto& c : cases) {
    ConvNngpConfig kernel;
    kernel.depth = c.depth;
    const auto net = draw_conv_nngp_feature_net(kernel, {c.width, c.nets, 9}, c.c, c.h, c.w);
    const ImageShape s{c.n, c.c, c.h, c.w};
    const auto images = random_floats(static_cast<std::size_t>(s.total()), 111);
    const auto weights = sparse_weights(c.n, 112, 0.3);
    std::vector<double> one(static_cast<std::size_t>(net.feature_dim())), two(one.size()), ref(one.size());
    conv_nngp_feature_embedding(Context{1, 0}, net, {images, s, weights}, one);
    conv_nngp_feature_embedding(Context{3, 0}, net, {images, s, weights}, two);
    conv_nngp_feature_embedding_ref(net, {images, s, weights}, ref);
    EXPECT_EQ(one, two);
    double scale = 1e-12;
    for (const double r : ref) scale = std::max(scale, std::abs(r));
    for (std::size_t f = 0; f < ref.size(); ++f) ASSERT_NEAR(one[f], ref[f], 1e-4 * scale) << "feature " << f;
  }
}

TEST(ConvNngpFeatures, InnerProductsEstimateTheKernelBetterAsTheNetsWiden) {
  // The estimate's error falls as width^-1/2 (most of it common to every
  // pair -- the draw of the biases scales them all -- which a ranking does not
  // see): wide nets land within a few per cent of the exact kernel, narrow ones
  // tens of per cent off.
  const ImageShape s{6, 1, 16, 16};
  const auto images = random_floats(static_cast<std::size_t>(s.total()), 121);
  ConvNngpConfig kernel;
  kernel.depth = 2;
  Matrix<double> exact(6, 6);
  conv_nngp_kernel_matrix(Context{2, 0}, images, s, images, s, kernel, false, exact.view());
  auto error_of = [&](std::int64_t width, int nets) {
    const auto net = draw_conv_nngp_feature_net(kernel, {width, nets, 5}, 1, 16, 16);
    std::vector<std::vector<double>> phi;
    for (std::int64_t i = 0; i < s.count; ++i) {
      std::vector<double> one_hot(6, 0.0);
      one_hot[static_cast<std::size_t>(i)] = 1.0;
      phi.emplace_back(static_cast<std::size_t>(net.feature_dim()));
      conv_nngp_feature_embedding(Context{2, 0}, net, {images, s, one_hot}, phi.back());
    }
    double worst = 0.0;
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        const double estimate = std::inner_product(phi[i].begin(), phi[i].end(), phi[j].begin(), 0.0);
        worst = std::max(worst, std::abs(estimate - exact(i, j)) / exact(i, j));
      }
    return worst;
  };
  const double narrow = error_of(8, 1), wide = error_of(512, 2);
  EXPECT_LT(wide, 0.08);
  EXPECT_LT(wide, narrow / 4);
}

TEST(ConvNngpFeatures, FingerprintNamesEverythingTheFeaturesDependOn) {
  const ConvNngpConfig kernel;
  const auto base = draw_conv_nngp_feature_net(kernel, {}, 1, 32, 32).fingerprint();
  EXPECT_EQ(base, draw_conv_nngp_feature_net(kernel, {}, 1, 32, 32).fingerprint());
  EXPECT_NE(base, draw_conv_nngp_feature_net(kernel, {32, 2, 1}, 1, 32, 32).fingerprint());
  EXPECT_NE(base, draw_conv_nngp_feature_net(kernel, {64, 1, ConvNngpFeatureConfig{}.seed}, 1, 32, 32).fingerprint());
  EXPECT_NE(base, draw_conv_nngp_feature_net(kernel, {}, 3, 32, 32).fingerprint());
  ConvNngpConfig shallow;
  shallow.depth = 2;
  EXPECT_NE(base, draw_conv_nngp_feature_net(shallow, {}, 1, 32, 32).fingerprint());
  EXPECT_THROW(draw_conv_nngp_feature_net(kernel, {}, 1, 12, 12), KernelError);
  EXPECT_THROW(draw_conv_nngp_feature_net(kernel, {0, 1, 1}, 1, 32, 32), KernelError);
}

TEST(ConvNngpKernel, MismatchedShapesAreErrors) {
  const ImageShape sa{1, 1, 8, 8}, sb{1, 2, 8, 8};
  std::vector<float> a(64), b(128);
  Matrix<double> k(1, 1);
  EXPECT_THROW(conv_nngp_kernel_matrix(Context{1, 0}, a, sa, b, sb, ConvNngpConfig{}, false, k.view()), KernelError);
  ConvNngpConfig deep;
  deep.depth = 4;
  EXPECT_THROW(conv_nngp_kernel_matrix(Context{1, 0}, a, sa, a, sa, deep, false, k.view()), KernelError);
}

}  // namespace
}  // namespace lwd::kernels

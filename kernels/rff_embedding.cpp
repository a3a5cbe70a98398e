#include "kernels/rff_embedding.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/error.h"
#include "kernels/parallel.h"
#include "kernels/random.h"

namespace lwd::kernels {

namespace {

// Frequencies per parallel task: the projection block (K x 64 doubles) stays
// in L2 for K up to a few hundred, and the block is fixed, never sized by the
// thread count.
constexpr std::int64_t kFrequencyBlock = 64;

void check_shapes(const RffMap& map, ConstMatrixView<double> z, std::span<const double> beta, std::span<double> out) {
  if (z.cols != map.dim) {
    throw KernelError("rff_embed: Z has width " + std::to_string(z.cols) + ", the map expects " +
                      std::to_string(map.dim));
  }
  if (static_cast<std::int64_t>(beta.size()) != z.rows) throw KernelError("rff_embed: beta and Z differ in rows");
  if (static_cast<std::int64_t>(out.size()) != map.features()) {
    throw KernelError("rff_embed: the output has " + std::to_string(out.size()) + " entries, the map makes " +
                      std::to_string(map.features()));
  }
}

}  // namespace

RffMap make_rff_map(std::int64_t dim, std::int64_t frequencies, double gamma, std::uint64_t seed) {
  if (dim < 1) throw KernelError("make_rff_map: the width must be at least 1");
  if (frequencies < 1) throw KernelError("make_rff_map: the number of frequencies must be at least 1");
  if (!std::isfinite(gamma) || gamma <= 0.0) throw KernelError("make_rff_map: gamma must be finite and > 0");
  RffMap map{dim, frequencies, gamma, seed, {}};
  map.w.resize(static_cast<std::size_t>(dim * frequencies));
  // k(δ) = exp(-gamma ||δ||²) is the characteristic function of N(0, 2·gamma·I).
  const double sigma = std::sqrt(2.0 * gamma);
  Rng rng(seed);
  for (double& v : map.w) v = sigma * rng.normal();
  return map;
}

void rff_embed_ref(const RffMap& map, ConstMatrixView<double> z, std::span<const double> beta,
                   std::span<double> out) {
  check_shapes(map, z, beta, out);
  const double scale = 1.0 / std::sqrt(static_cast<double>(map.frequencies));
  for (std::int64_t j = 0; j < map.frequencies; ++j) {
    const double* w = map.w.data() + j * map.dim;
    double c = 0.0;
    double s = 0.0;
    for (std::int64_t i = 0; i < z.rows; ++i) {
      double t = 0.0;
      for (std::int64_t k = 0; k < map.dim; ++k) t += w[k] * z(i, k);
      c += beta[static_cast<std::size_t>(i)] * std::cos(t);
      s += beta[static_cast<std::size_t>(i)] * std::sin(t);
    }
    out[static_cast<std::size_t>(2 * j)] = scale * c;
    out[static_cast<std::size_t>(2 * j + 1)] = scale * s;
  }
}

void rff_embed(const Context& ctx, const RffMap& map, ConstMatrixView<double> z, std::span<const double> beta,
               std::span<double> out) {
  check_shapes(map, z, beta, out);
  const double scale = 1.0 / std::sqrt(static_cast<double>(map.frequencies));
  const std::int64_t blocks = num_blocks(map.frequencies, kFrequencyBlock);
  if (z.rows == 0) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  parallel_for_serial_blas(ctx, blocks, [&](std::int64_t block) {
    const std::int64_t j0 = block * kFrequencyBlock;
    const std::int64_t nj = std::min(kFrequencyBlock, map.frequencies - j0);
    // Projections t_ij = z_i · w_j of every point onto this block's frequencies.
    std::vector<double> t(static_cast<std::size_t>(z.rows * nj));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(z.rows), static_cast<int>(nj),
                static_cast<int>(map.dim), 1.0, z.data, static_cast<int>(z.stride), map.w.data() + j0 * map.dim,
                static_cast<int>(map.dim), 0.0, t.data(), static_cast<int>(nj));
    std::vector<double> c(static_cast<std::size_t>(nj), 0.0);
    std::vector<double> s(static_cast<std::size_t>(nj), 0.0);
    // Point order inside each feature's sum, as the reference.
    for (std::int64_t i = 0; i < z.rows; ++i) {
      const double b = beta[static_cast<std::size_t>(i)];
      const double* row = t.data() + i * nj;
      for (std::int64_t j = 0; j < nj; ++j) {
        c[static_cast<std::size_t>(j)] += b * std::cos(row[j]);
        s[static_cast<std::size_t>(j)] += b * std::sin(row[j]);
      }
    }
    for (std::int64_t j = 0; j < nj; ++j) {
      out[static_cast<std::size_t>(2 * (j0 + j))] = scale * c[static_cast<std::size_t>(j)];
      out[static_cast<std::size_t>(2 * (j0 + j) + 1)] = scale * s[static_cast<std::size_t>(j)];
    }
  });
}

}  // namespace lwd::kernels

// Feature alignment: reuse a learnware trained on another feature space.
// A map f from the user's feature space (width d_u) into the learnware's
// input space (width d_l) is fitted to the two RKMEs alone, then the
// learnware predicts the user's rows as model(f(x)). Once aligned, a
// learnware of another space is an ordinary learnware over the user's space,
// so every reuser (averaging, feature augmentation, ensemble pruning, the job
// selector) applies to a list of aligned learnwares unchanged
// (docs/DESIGN.md §5.7).
//
// The loss, for a map f_theta with parameters theta started at theta_0:
//
//   L(theta) = MMD²_gamma( {f(z_u,i), beta_u,i}, {z_l,j, beta_l,j} )
//              + ridge * ||theta - theta_0||²
//
//   MMD²(P, Q) = sum_ik b_i b_k k(y_i, y_k) - 2 sum_ij b_i c_j k(y_i, w_j)
//                + sum_jl c_j c_l k(w_j, w_l),     k(a, b) = exp(-gamma ||a - b||²)
//
// with (z_u, beta_u) the user's RKME, y_i = f(z_u,i), (w, c) = (z_l, beta_l)
// the learnware's RKME, and gamma the learnware spec's unless set. MMD² alone
// has many near-equivalent optima (columns with similar marginals can swap);
// the ridge keeps the fit near its start, which descriptions or moments chose
// (below), instead of letting it drift along them. Its gradient is in closed
// form: with G_i = dMMD²/dy_i,
//
//   G_i = -4 gamma b_i [ sum_k b_k k(y_i, y_k)(y_i - y_k) - sum_j c_j k(y_i, w_j)(y_i - w_j) ],
//
// back-propagated through f. The map works in standardised coordinates, so
// its parameters are O(1) whatever the columns' units:
//
//   x~ = (x - mu_u) / s_u        (the user RKME's beta-weighted column means, stds)
//   f(x) = mu_l + s_l * g(x~)    (the learnware RKME's)
//   affine  g(x~) = A x~ + b                                   (A: d_l x d_u)
//   mlp     g(x~) = A x~ + b + W2 tanh(W1 x~ + b1)             (W1: h x d_u, W2: d_l x h)
//
// The mlp is the affine map plus a residual hidden layer whose output weights
// W2 start at zero (W1 seeded normal / sqrt(d_u)), so it starts where the
// affine map does and the ridge keeps the bend small.
//
// Starts (A, b at theta_0; each row of A picks user columns, then is rescaled
// so that the mapped column's weighted mean is 0 and std 1 in standardised
// units, i.e. its mean and std match the learnware column's):
//   descriptions  both sides describe their columns (semantic Input.Description):
//                 every description embedded by the HashingEncoder (no data,
//                 deterministic), S = cosine similarities (d_l x d_u); a
//                 learnware column whose best match reaches min_similarity
//                 takes softmax(S_r / temperature) over the described user
//                 columns; one start, since the descriptions, not MMD, tell
//                 columns with similar marginals apart (the other rows take
//                 the marginals start's choice);
//   otherwise     `restarts` starts, the lowest final loss kept (ties: the
//                 earlier): 0 "marginals" (greedy matching of the columns'
//                 weighted skewness and excess kurtosis), 1 "identity"
//                 (learnware column r <- user column r mod d_u), then "random"
//                 (seeded permutations of the user columns).
// Optimiser: full-batch Adam (beta1 0.9, beta2 0.999, eps 1e-8), the step
// size decayed on a cosine from learning_rate to learning_rate / 10, the
// lowest-loss iterate kept. Seeded by options.seed; ctx gives threads only:
// the per-row terms are computed in parallel, each row owning its outputs,
// and summed in row order, so the map is bit for bit the same for any
// thread count.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/reuse/learnware.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd {

struct FeatureAlignOptions {
  std::string map = "affine";     // "affine" | "mlp"
  int hidden = 8;                 // mlp: hidden units
  int iterations = 300;           // Adam steps per start
  double learning_rate = 0.02;    // Adam's step, in standardised units
  double gamma = 0.0;             // RBF bandwidth of the loss; 0: the learnware spec's
  double ridge = 1e-3;            // weight of ||theta - theta_0||²
  double temperature = 0.05;      // softmax temperature over description similarities
  double min_similarity = 0.3;    // a described match must reach this cosine similarity
  int restarts = 4;               // starts tried without descriptions
  std::uint64_t seed = 0;         // random starts, the mlp's W1

  // Throws lwd::Error naming the option: map not affine/mlp, hidden < 1,
  // iterations < 0, restarts < 1, a learning rate, temperature or ridge that
  // is not finite and positive (ridge: >= 0), gamma < 0 or not finite,
  // min_similarity outside [-1, 1].
  void validate() const;
};

// A weighted point set (an RKME's Z and beta), as views.
struct WeightedPoints {
  kernels::ConstMatrixView<double> z;
  std::span<const double> beta;
};

enum class FeatureMapKind { kAffine, kMlp };

// f above. params, flattened: A (d_l x d_u, row-major), b (d_l), then for
// the mlp W1 (h x d_u), b1 (h), W2 (d_l x h).
struct FeatureMap {
  FeatureMapKind kind = FeatureMapKind::kAffine;
  std::int64_t input_dim = 0;   // d_u
  std::int64_t output_dim = 0;  // d_l
  std::int64_t hidden = 0;      // h (mlp)
  std::vector<double> in_mean, in_scale;    // d_u each
  std::vector<double> out_mean, out_scale;  // d_l each
  std::vector<double> params;

  static std::int64_t parameter_count(FeatureMapKind kind, std::int64_t input_dim, std::int64_t output_dim,
                                      std::int64_t hidden);
  // x: rows x d_u -> rows x d_l. Throws lwd::Error on another width.
  kernels::Matrix<double> apply(kernels::ConstMatrixView<double> x) const;
  // The affine part in the original units: f(x) = A x + b (+ the mlp's
  // hidden term): A = diag(s_l) A~ diag(1/s_u), b = mu_l + s_l b~ - A mu_u.
  kernels::Matrix<double> linear_part() const;  // d_l x d_u
  std::vector<double> offset() const;           // d_l
};

struct AlignmentLoss {
  double value = 0.0;    // mmd2 + penalty
  double mmd2 = 0.0;
  double penalty = 0.0;  // ridge * ||params - start||²
  std::vector<double> gradient;  // d value / d params
};

// L and its gradient for `map` (its params; start: theta_0, same length).
// Throws lwd::Error for empty point sets, widths that disagree with the map,
// beta of another length than z's rows, non-finite values, gamma <= 0.
AlignmentLoss alignment_loss(const FeatureMap& map, std::span<const double> start, const WeightedPoints& user,
                             const WeightedPoints& target, double gamma, double ridge,
                             const kernels::Context& ctx = {});

// A fitted map and how the fit went.
struct AlignedMap {
  FeatureMap map;
  std::string start;        // "descriptions" | "marginals" | "identity" | "random"
  int start_index = 0;      // which of the starts tried won
  int starts_tried = 0;
  double loss_init = 0.0;   // L at that start
  double mmd2_init = 0.0;
  double loss = 0.0;        // L of the map kept
  double mmd2 = 0.0;
  int iterations = 0;       // Adam steps of the winning start
  double gamma = 0.0;       // bandwidth of the loss

  kernels::Matrix<double> apply(kernels::ConstMatrixView<double> x) const { return map.apply(x); }
  // {"map", "start", "starts_tried", "loss_init", "mmd2_init", "loss", "mmd2",
  //  "iterations", "gamma", "input_dim", "output_dim"} for notes and logs.
  nlohmann::json summary() const;
  // "MMD² 0.31 -> 0.012 (descriptions start, affine)".
  std::string describe() const;
};

// Fits f from the user's point set into the target's. Column descriptions
// (either may be absent) must have dimension equal to the width of their
// side and keys inside it; gamma: options.gamma, or target_gamma when 0.
// Throws lwd::Error for bad options or input (see alignment_loss, and
// "descriptions" for the description checks).
AlignedMap fit_feature_alignment(const WeightedPoints& user, const WeightedPoints& target, double target_gamma,
                                 const std::optional<FeatureSemantics>& user_columns,
                                 const std::optional<FeatureSemantics>& target_columns,
                                 const FeatureAlignOptions& options, const kernels::Context& ctx = {});
AlignedMap fit_feature_alignment(const RKMETableSpec& user_spec, const RKMETableSpec& target_spec,
                                 const std::optional<FeatureSemantics>& user_columns,
                                 const std::optional<FeatureSemantics>& target_columns,
                                 const FeatureAlignOptions& options, const kernels::Context& ctx = {});

// The user's RKME for alignment, from the rows x (n x d_u; non-finite
// entries filled with column means): RKMETableSpec::generate with
// options.gamma (the learnware's, in practice) on x's columns standardised,
// the points then mapped back to x's units. k-means on raw columns would
// cluster along the widest-ranging column and average the others towards
// their means; standardised, every column keeps its spread in the points,
// and moment matching needs that. Seeded by ctx.seed.
RKMETableSpec user_spec_for_alignment(kernels::ConstMatrixView<double> x, const kernels::RkmeOptions& options,
                                      const kernels::Context& ctx = {});

// The target learnware seen from the user's feature space: a learnware whose
// model reads d_u columns and predicts target.model(f(x)), its spec the
// user's RKME points reweighted by the learnware's kernel mean at their
// images (w_i ∝ beta_i sum_j beta_l,j k(f(z_i), z_l,j): the part of the
// user's space it covers, what the job selector herds from), its semantic the target's with Input replaced by the user's columns
// (or, without them, just the user's dimension); id and package are the
// target's. Target descriptions: target.semantic->input. Throws lwd::Error
// for a target that is not a table learnware, an empty user spec, or
// anything fit_feature_alignment refuses (each message names the target).
Learnware align_learnware(const Learnware& target, const RKMETableSpec& user_spec,
                          const std::optional<FeatureSemantics>& user_columns, const FeatureAlignOptions& options,
                          const kernels::Context& ctx = {});

// The map of a learnware align_learnware made; nullptr for any other.
const AlignedMap* aligned_map_of(const Learnware& learnware);

}  // namespace lwd

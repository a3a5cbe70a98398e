// The specification world's mapping (docs/DESIGN.md §5.6): a function from a
// table row of ANY width, read together with its columns' descriptions
// (semantic Input.Description), into one fixed-width shared space. Table
// learnwares trained on different feature engineerings become comparable
// there: a row described by "units sold one day before" and "mean units sold
// over the previous 7 days" lands near the same row described by "sales
// yesterday" and "average daily sales last week".
//
// Both kinds read a column through the same two things:
//   t_j   the unit embedding of its description (ColumnEmbedder: the engine's
//         hashing sentence encoder, words + word bigrams + character 3-grams,
//         so descriptions that share words or word stems are close);
//   s(x)  its value squashed, sign(x) log(1 + |x|), so that counts in the
//         thousands and flags in {0, 1} are on comparable scales without
//         per-table statistics (the user's table has none the market knows).
//
// The kinds (registered once, world_model_kinds(); the first, desc-pool, is the
// default: on both heterogeneous scenarios it finds the user's chain more
// often and trains 20x faster, results/README.md):
//   desc-pool   h = mean_j s(x_j) t_j, then the top-D weighted principal
//               directions of h over the market's RKME points; no iterative
//               training: the market only fixes the projection and the scale.
//   token-mlp   a column token s(x_j) P t_j + Q t_j (P, Q: H x E), their mean
//               over the observed columns, then a one-hidden-layer MLP
//               (ReLU) to D outputs, normalised to a sphere of fixed radius;
//               trained self-supervised on the market's RKME points with a
//               symmetric InfoNCE loss whose positives are two overlapping
//               random column subsets of the same point (the reference's
//               multi-view contrastive objective, without the transformer).
// Both end with a global scale chosen so that the mean squared distance
// between two market points is kWorldMeanSquaredDistance, which puts the
// system specs' RBF kernel (gamma 0.1, the reference's) in its informative
// range.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/spec/rkme_table_spec.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::hetero {

inline constexpr double kWorldMeanSquaredDistance = 20.0;
inline constexpr double kSystemSpecGamma = 0.1;

// sign(x) log(1 + |x|).
double squash_value(double x);

// Column descriptions -> unit vectors (E entries each), deterministic: the
// hashing sentence encoder with fixed settings (dim kColumnEmbeddingDim, word
// bigrams, character 3-grams, seed 0). An empty description embeds as zeros.
inline constexpr int kColumnEmbeddingDim = 256;
kernels::Matrix<double> embed_column_descriptions(std::span<const std::string> descriptions);

// One table's worth of training material: a learnware's RKME points and
// weights, and its columns' descriptions (one per column of z).
struct WorldTable {
  std::string id;
  kernels::Matrix<double> z;
  std::vector<double> beta;
  std::vector<std::string> descriptions;
  std::int64_t num_points = 1;  // rows the RKME summarises (kept in the system spec)
};

struct WorldTrainOptions {
  int dim = 32;           // D, the shared space's width
  int hidden = 64;        // H (token-mlp)
  int epochs = 10;        // token-mlp: passes over the market's points
  int batch = 64;         // token-mlp: points per step
  double learning_rate = 3e-3;  // Adam
  double temperature = 0.1;     // InfoNCE, on cosine similarities
  double view_fraction = 0.6;   // token-mlp: each view keeps this fraction of the columns (at least one)
  std::uint64_t seed = 1;
  // Called after each epoch (token-mlp) with (epoch, epochs, mean loss).
  std::function<void(int, int, double)> progress;
  // Throws lwd::Error naming the first bad field.
  void validate() const;
};

// What training reports.
struct WorldTrainReport {
  std::int64_t tables = 0;
  std::int64_t points = 0;
  std::vector<double> epoch_loss;  // token-mlp: mean InfoNCE per epoch
  double seconds = 0.0;
};

class WorldModel {
 public:
  virtual ~WorldModel() = default;
  virtual std::string_view kind() const = 0;
  virtual int dim() const = 0;
  // Rows of x (n x d), whose columns `descriptions` describe (d entries),
  // mapped to n x dim(). Throws lwd::Error when the counts disagree or a value
  // is not finite. Deterministic, independent of ctx.n_threads.
  virtual kernels::Matrix<double> map(kernels::ConstMatrixView<double> x, std::span<const std::string> descriptions,
                                      const kernels::Context& ctx) const = 0;
  // The weights and settings, without the kind (WorldModelKind::from_json reads them back).
  virtual nlohmann::json to_json() const = 0;
};

// A system specification: the spec's points mapped, its beta kept, gamma
// kSystemSpecGamma.
RKMETableSpec map_spec(const WorldModel& model, const RKMETableSpec& spec, std::span<const std::string> descriptions,
                       const kernels::Context& ctx);

struct WorldModelKind {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<WorldModel>(std::span<const WorldTable>, const WorldTrainOptions&,
                                            const kernels::Context&, WorldTrainReport&)>
      train;
  std::function<std::unique_ptr<WorldModel>(const nlohmann::json&)> from_json;
};

// Every kind, in registration order (the first is the default).
const std::vector<WorldModelKind>& world_model_kinds();
// By name; an unknown name is an lwd::Error listing the kinds.
const WorldModelKind& world_model_kind(std::string_view name);

// Trains a model of `kind` on `tables` (at least two tables, each with
// descriptions for every column). Throws lwd::Error saying what is missing.
std::unique_ptr<WorldModel> train_world_model(std::string_view kind, std::span<const WorldTable> tables,
                                              const WorldTrainOptions& options, const kernels::Context& ctx,
                                              WorldTrainReport* report = nullptr);
// {"kind": ..., ...to_json()} and back; from_json throws lwd::Error naming
// `source` and the field for anything malformed (sizes, non-finite weights).
nlohmann::json world_model_to_json(const WorldModel& model);
std::unique_ptr<WorldModel> world_model_from_json(const nlohmann::json& in, std::string_view source);

// ---- the token-mlp's loss, exposed for its gradient test ----------------
// The parameters flattened in a fixed order (P, Q, W1, b1, W2, b2) and the
// symmetric InfoNCE loss of one batch: rows x (n x C, squashed values, zero
// where unobserved) over the C columns with embeddings t (C x E), views
// given by masks m1, m2 (n x C of 0/1). Returns the loss and fills grad.
struct TokenMlpShape {
  int embed = kColumnEmbeddingDim;
  int hidden = 64;
  int dim = 32;
  std::int64_t parameter_count() const;
};
double token_mlp_batch_loss(const TokenMlpShape& shape, std::span<const double> params,
                            kernels::ConstMatrixView<double> squashed, kernels::ConstMatrixView<double> t,
                            kernels::ConstMatrixView<double> m1, kernels::ConstMatrixView<double> m2,
                            double temperature, std::vector<double>* grad);

}  // namespace lwd::hetero

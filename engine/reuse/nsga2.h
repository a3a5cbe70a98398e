// NSGA-II (Deb et al., 2002) over binary masks, minimising every objective:
// the multi-objective evolutionary search behind ensemble pruning (MDEP).
//
// Each generation: binary tournaments on (front rank, crowding distance) pick
// parents, uniform crossover and bit-flip mutation make as many children,
// children with fewer than min_ones set bits are repaired by setting random
// bits, and the best half of parents + children survives (whole fronts first,
// the last one cut by crowding distance; boundary points of every objective
// are kept). Elitism makes the best value of each single objective in the
// population non-increasing over generations.
//
// Deterministic: one seeded Rng drives every random choice in a fixed order,
// ties are broken by position, and the objectives of new masks are computed
// with parallel_for into their own slots, so the result does not depend on
// the thread count. Objective values are cached per mask.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "kernels/context.h"

namespace lwd {

using BitMask = std::vector<std::uint8_t>;  // one 0/1 entry per bit

struct Nsga2Solution {
  BitMask mask;
  std::vector<double> objectives;
};

// Must be safe to call from several threads at once and deterministic; every
// value finite. Returns n_objectives values.
using BinaryObjectives = std::function<std::vector<double>(const BitMask&)>;

struct Nsga2Options {
  std::int64_t population_size = 20;
  int generations = 100;
  double crossover_probability = 0.9;
  double mutation_probability = 0.0;  // per bit; 0 means 1 / n_bits
  std::int64_t min_ones = 1;          // feasibility: at least this many bits set
  std::uint64_t seed = 0;
};

struct Nsga2Result {
  std::vector<Nsga2Solution> population;  // the final population
  // Its first front: distinct masks, none dominated by any member of the
  // final population, sorted by objectives (then mask).
  std::vector<Nsga2Solution> front;
  std::int64_t evaluations = 0;  // distinct masks whose objectives were computed
};

// Runs the search. The initial population is `initial` (repaired, cut to
// population_size) filled up with random masks (each bit set with
// probability 1/2). Throws lwd::Error for n_bits < 1, population_size < 2,
// min_ones outside [0, n_bits], a mask of the wrong length, an objective
// vector of the wrong length or a non-finite objective.
Nsga2Result nsga2_minimise(std::int64_t n_bits, std::int64_t n_objectives, const BinaryObjectives& objectives,
                           std::vector<BitMask> initial, const Nsga2Options& options, const kernels::Context& ctx);

// a dominates b: no objective worse and at least one better (minimisation).
bool dominates(std::span<const double> a, std::span<const double> b);

// Fronts of a set of objective vectors (fast non-dominated sort): front 0
// holds the points nobody dominates, front k those dominated only by points
// of fronts < k. Indices within a front are ascending.
std::vector<std::vector<std::int64_t>> non_dominated_fronts(const std::vector<std::vector<double>>& objectives);

// Crowding distance of each member of `front` (same order): the sum over
// objectives of the normalised gap between its two neighbours; the extremes
// of every objective get +infinity.
std::vector<double> crowding_distances(const std::vector<std::vector<double>>& objectives,
                                       std::span<const std::int64_t> front);

}  // namespace lwd

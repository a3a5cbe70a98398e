#include "engine/reuse/nsga2.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>

#include "engine/error.h"
#include "kernels/parallel.h"
#include "kernels/random.h"

namespace lwd {

bool dominates(std::span<const double> a, std::span<const double> b) {
  bool strictly_better = false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strictly_better = true;
  }
  return strictly_better;
}

std::vector<std::vector<std::int64_t>> non_dominated_fronts(const std::vector<std::vector<double>>& objectives) {
  const auto n = static_cast<std::int64_t>(objectives.size());
  std::vector<std::vector<std::int64_t>> dominated_by_me(static_cast<std::size_t>(n));
  std::vector<std::int64_t> dominators(static_cast<std::size_t>(n), 0);
  for (std::int64_t p = 0; p < n; ++p)
    for (std::int64_t q = p + 1; q < n; ++q) {
      if (dominates(objectives[static_cast<std::size_t>(p)], objectives[static_cast<std::size_t>(q)])) {
        dominated_by_me[static_cast<std::size_t>(p)].push_back(q);
        ++dominators[static_cast<std::size_t>(q)];
      } else if (dominates(objectives[static_cast<std::size_t>(q)], objectives[static_cast<std::size_t>(p)])) {
        dominated_by_me[static_cast<std::size_t>(q)].push_back(p);
        ++dominators[static_cast<std::size_t>(p)];
      }
    }
  std::vector<std::vector<std::int64_t>> fronts;
  std::vector<std::int64_t> current;
  for (std::int64_t p = 0; p < n; ++p)
    if (dominators[static_cast<std::size_t>(p)] == 0) current.push_back(p);
  while (!current.empty()) {
    std::vector<std::int64_t> next;
    for (std::int64_t p : current)
      for (std::int64_t q : dominated_by_me[static_cast<std::size_t>(p)])
        if (--dominators[static_cast<std::size_t>(q)] == 0) next.push_back(q);
    std::sort(next.begin(), next.end());
    fronts.push_back(std::move(current));
    current = std::move(next);
  }
  return fronts;
}

std::vector<double> crowding_distances(const std::vector<std::vector<double>>& objectives,
                                       std::span<const std::int64_t> front) {
  const std::size_t size = front.size();
  std::vector<double> distance(size, 0.0);
  if (size == 0) return distance;
  const std::size_t n_objectives = objectives[static_cast<std::size_t>(front[0])].size();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<std::size_t> order(size);
  for (std::size_t k = 0; k < n_objectives; ++k) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    auto value = [&](std::size_t i) { return objectives[static_cast<std::size_t>(front[i])][k]; };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return value(a) < value(b); });
    const double range = value(order.back()) - value(order.front());
    distance[order.front()] = kInf;
    distance[order.back()] = kInf;
    if (range <= 0.0) continue;
    for (std::size_t r = 1; r + 1 < size; ++r)
      distance[order[r]] += (value(order[r + 1]) - value(order[r - 1])) / range;
  }
  return distance;
}

namespace {

// Cache key of a mask. (Keys are strings rather than the masks themselves:
// GCC 12 warns spuriously about std::less<std::vector<uint8_t>>.)
std::string key_of(const BitMask& mask) { return std::string(mask.begin(), mask.end()); }

class Search {
 public:
  Search(std::int64_t n_bits, std::int64_t n_objectives, const BinaryObjectives& objectives, const Nsga2Options& options,
         const kernels::Context& ctx)
      : n_bits_(n_bits),
        n_objectives_(n_objectives),
        objectives_(objectives),
        options_(options),
        ctx_(ctx),
        rng_(options.seed),
        mutation_probability_(options.mutation_probability > 0 ? options.mutation_probability
                                                               : 1.0 / static_cast<double>(n_bits)) {}

  Nsga2Result run(std::vector<BitMask> initial) {
    const std::int64_t size = options_.population_size;
    std::vector<BitMask> population;
    for (BitMask& mask : initial) {
      if (static_cast<std::int64_t>(population.size()) == size) break;
      if (static_cast<std::int64_t>(mask.size()) != n_bits_) {
        throw Error("NSGA-II: an initial mask has " + std::to_string(mask.size()) + " bits, expected " +
                    std::to_string(n_bits_));
      }
      for (auto& bit : mask) bit = bit ? 1 : 0;
      repair(mask);
      population.push_back(std::move(mask));
    }
    while (static_cast<std::int64_t>(population.size()) < size) {
      BitMask mask(static_cast<std::size_t>(n_bits_));
      for (auto& bit : mask) bit = rng_.uniform() < 0.5 ? 1 : 0;
      repair(mask);
      population.push_back(std::move(mask));
    }
    evaluate(population);
    rank_population(population);

    for (int generation = 0; generation < options_.generations; ++generation) {
      std::vector<BitMask> combined = population;
      for (BitMask& child : make_children(population)) combined.push_back(std::move(child));
      evaluate(combined);
      population = survivors(combined);
      rank_population(population);
    }

    Nsga2Result result;
    for (const BitMask& mask : population) result.population.push_back({mask, cache_.at(key_of(mask))});
    std::map<std::string, std::size_t> front;  // distinct masks of rank 0, in mask order
    for (std::size_t i = 0; i < population.size(); ++i)
      if (rank_[i] == 0) front.emplace(key_of(population[i]), i);
    for (const auto& [key, i] : front) result.front.push_back(result.population[i]);
    std::stable_sort(result.front.begin(), result.front.end(),
                     [](const Nsga2Solution& a, const Nsga2Solution& b) { return a.objectives < b.objectives; });
    result.evaluations = static_cast<std::int64_t>(cache_.size());
    return result;
  }

 private:
  void repair(BitMask& mask) {
    auto ones = std::count(mask.begin(), mask.end(), std::uint8_t{1});
    while (ones < options_.min_ones) {
      const auto bit = static_cast<std::size_t>(rng_.below(static_cast<std::uint64_t>(n_bits_)));
      if (!mask[bit]) {
        mask[bit] = 1;
        ++ones;
      }
    }
  }

  // Computes the objectives of every mask not seen before, in parallel.
  void evaluate(const std::vector<BitMask>& masks) {
    std::vector<const BitMask*> fresh;
    std::map<std::string, bool> queued;
    for (const BitMask& mask : masks) {
      std::string key = key_of(mask);
      if (!cache_.contains(key) && queued.emplace(std::move(key), true).second) fresh.push_back(&mask);
    }
    std::vector<std::vector<double>> values(fresh.size());
    kernels::parallel_for(ctx_, 0, static_cast<std::int64_t>(fresh.size()),
                          [&](std::int64_t i) { values[static_cast<std::size_t>(i)] = objectives_(*fresh[static_cast<std::size_t>(i)]); });
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (static_cast<std::int64_t>(values[i].size()) != n_objectives_) {
        throw Error("NSGA-II: the objective function returned " + std::to_string(values[i].size()) +
                    " values, expected " + std::to_string(n_objectives_));
      }
      for (double v : values[i])
        if (!std::isfinite(v)) throw Error("NSGA-II: the objective function returned a non-finite value");
      cache_.emplace(key_of(*fresh[i]), std::move(values[i]));
    }
  }

  std::vector<std::vector<double>> objective_table(const std::vector<BitMask>& masks) const {
    std::vector<std::vector<double>> table;
    table.reserve(masks.size());
    for (const BitMask& mask : masks) table.push_back(cache_.at(key_of(mask)));
    return table;
  }

  void rank_population(const std::vector<BitMask>& population) {
    const auto table = objective_table(population);
    rank_.assign(population.size(), 0);
    crowding_.assign(population.size(), 0.0);
    const auto fronts = non_dominated_fronts(table);
    for (std::size_t f = 0; f < fronts.size(); ++f) {
      const std::vector<double> distance = crowding_distances(table, fronts[f]);
      for (std::size_t k = 0; k < fronts[f].size(); ++k) {
        rank_[static_cast<std::size_t>(fronts[f][k])] = static_cast<std::int64_t>(f);
        crowding_[static_cast<std::size_t>(fronts[f][k])] = distance[k];
      }
    }
  }

  std::size_t tournament(std::size_t population_size) {
    const auto a = static_cast<std::size_t>(rng_.below(population_size));
    const auto b = static_cast<std::size_t>(rng_.below(population_size));
    if (rank_[a] != rank_[b]) return rank_[a] < rank_[b] ? a : b;
    if (crowding_[a] != crowding_[b]) return crowding_[a] > crowding_[b] ? a : b;
    return std::min(a, b);
  }

  std::vector<BitMask> make_children(const std::vector<BitMask>& population) {
    std::vector<BitMask> children;
    const std::size_t size = population.size();
    while (children.size() < size) {
      BitMask first = population[tournament(size)];
      BitMask second = population[tournament(size)];
      if (rng_.uniform() < options_.crossover_probability)
        for (std::int64_t bit = 0; bit < n_bits_; ++bit)
          if (rng_.uniform() < 0.5) std::swap(first[static_cast<std::size_t>(bit)], second[static_cast<std::size_t>(bit)]);
      for (BitMask* child : {&first, &second}) {
        for (auto& bit : *child)
          if (rng_.uniform() < mutation_probability_) bit ^= 1;
        repair(*child);
      }
      children.push_back(std::move(first));
      if (children.size() < size) children.push_back(std::move(second));
    }
    return children;
  }

  std::vector<BitMask> survivors(const std::vector<BitMask>& combined) const {
    const auto table = objective_table(combined);
    const auto size = static_cast<std::size_t>(options_.population_size);
    std::vector<BitMask> next;
    for (const auto& front : non_dominated_fronts(table)) {
      if (next.size() + front.size() <= size) {
        for (std::int64_t i : front) next.push_back(combined[static_cast<std::size_t>(i)]);
        if (next.size() == size) break;
        continue;
      }
      const std::vector<double> distance = crowding_distances(table, front);
      std::vector<std::size_t> order(front.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return distance[a] > distance[b]; });
      for (std::size_t k = 0; next.size() < size; ++k) next.push_back(combined[static_cast<std::size_t>(front[order[k]])]);
      break;
    }
    return next;
  }

  std::int64_t n_bits_;
  std::int64_t n_objectives_;
  const BinaryObjectives& objectives_;
  Nsga2Options options_;
  kernels::Context ctx_;
  kernels::Rng rng_;
  double mutation_probability_;
  std::map<std::string, std::vector<double>> cache_;
  std::vector<std::int64_t> rank_;
  std::vector<double> crowding_;
};

}  // namespace

Nsga2Result nsga2_minimise(std::int64_t n_bits, std::int64_t n_objectives, const BinaryObjectives& objectives,
                           std::vector<BitMask> initial, const Nsga2Options& options, const kernels::Context& ctx) {
  if (n_bits < 1) throw Error("NSGA-II needs at least one bit, got " + std::to_string(n_bits));
  if (n_objectives < 1) throw Error("NSGA-II needs at least one objective");
  if (options.population_size < 2) {
    throw Error("NSGA-II needs a population of at least 2, got " + std::to_string(options.population_size));
  }
  if (options.generations < 0) throw Error("NSGA-II: generations must be >= 0");
  if (options.min_ones < 0 || options.min_ones > n_bits) {
    throw Error("NSGA-II: min_ones must be in [0, " + std::to_string(n_bits) + "], got " +
                std::to_string(options.min_ones));
  }
  if (!objectives) throw Error("NSGA-II: no objective function");
  return Search(n_bits, n_objectives, objectives, options, ctx).run(std::move(initial));
}

}  // namespace lwd

#include "datasets/retail/retail_simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "datasets/retail/poisson.h"
#include "engine/error.h"
#include "kernels/parallel.h"
#include "kernels/random.h"

namespace lwd::datasets {

namespace {

using std::chrono::day;
using std::chrono::month;
using std::chrono::sys_days;
using std::chrono::year;
using std::chrono::year_month_day;

// Stream identifiers mixed into the chain seed. Each independent source of
// randomness has its own stream so that adding draws to one never shifts another.
enum class Stream : std::uint64_t {
  kChainParameters = 1,  // item effects, latent item factors, base prices
  kChainPrices = 2,      // regular price path
  kChainShock = 3,       // chain-wide AR(1) demand shock
  kStoreParameters = 4,  // store effects, loadings, store-item effects, store shock
  kStorePromotions = 5,  // promotion episodes
  kStoreNoise = 6,       // observation noise (log-normal factor + Poisson draw)
};

// splitmix64 finaliser: a well-mixed 64-bit value from (seed, stream, index).
std::uint64_t mix_seed(std::uint64_t seed, Stream stream, std::uint64_t index) {
  std::uint64_t z = seed ^ (static_cast<std::uint64_t>(stream) * 0x9e3779b97f4a7c15ULL) ^
                    ((index + 1) * 0xd1b54a32d192ed03ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform integer in [lo, hi].
int uniform_int(kernels::Rng& rng, int lo, int hi) {
  return lo + static_cast<int>(rng.below(static_cast<std::uint64_t>(hi - lo + 1)));
}

// Draws shared by every store of a chain.
struct ChainState {
  std::vector<DayInfo> calendar;
  std::vector<int> item_category;
  std::vector<double> item_base_price;    // p0_i
  std::vector<double> item_log_level;     // g_k(i) + b_i
  std::vector<double> item_factors;       // num_items x latent_rank
  std::vector<double> regular_log_price;  // item-major, num_items x num_days: log of the chain's regular price
  std::vector<double> day_log_effect;     // per day, item-independent: trend excluded, calendar + chain shock
  std::vector<double> yearly_shape;       // per day: cos(2 pi (doy - phi) / 365.25)
};

// Items are assigned to categories in catalogue order by their (normalised)
// shares, so the catalogue composition is exact and needs no random draw.
std::vector<int> assign_categories(const ChainConfig& config) {
  double total_share = 0.0;
  for (const CategoryConfig& c : config.categories) total_share += c.share;
  std::vector<int> category(static_cast<std::size_t>(config.num_items));
  double cumulative = 0.0;
  int k = 0;
  double upper = config.categories[0].share / total_share * config.num_items;
  for (int i = 0; i < config.num_items; ++i) {
    while (i + 0.5 > upper && k + 1 < static_cast<int>(config.categories.size())) {
      cumulative += config.categories[static_cast<std::size_t>(k)].share;
      ++k;
      upper = (cumulative + config.categories[static_cast<std::size_t>(k)].share) / total_share * config.num_items;
    }
    category[static_cast<std::size_t>(i)] = k;
  }
  return category;
}

ChainState build_chain_state(const ChainConfig& config) {
  config.validate();
  ChainState state;
  const int n_items = config.num_items;
  const int n_days = config.num_days;
  const int rank = config.latent_rank;
  state.calendar = chain_calendar(config);
  state.item_category = assign_categories(config);

  kernels::Rng rng(mix_seed(config.seed, Stream::kChainParameters, 0));
  state.item_log_level.resize(static_cast<std::size_t>(n_items));
  state.item_base_price.resize(static_cast<std::size_t>(n_items));
  state.item_factors.resize(static_cast<std::size_t>(n_items * rank));
  for (int i = 0; i < n_items; ++i) {
    const CategoryConfig& cat = config.categories[static_cast<std::size_t>(state.item_category[static_cast<std::size_t>(i)])];
    state.item_log_level[static_cast<std::size_t>(i)] = cat.log_level + config.item_effect_sd * rng.normal();
    state.item_base_price[static_cast<std::size_t>(i)] =
        std::exp(config.price_log_mean + config.price_log_sd * rng.normal());
    for (int r = 0; r < rank; ++r)
      state.item_factors[static_cast<std::size_t>(i * rank + r)] = config.latent_item_sd * rng.normal();
  }

  // Regular prices are set centrally by the chain: occasional multiplicative jumps.
  kernels::Rng price_rng(mix_seed(config.seed, Stream::kChainPrices, 0));
  state.regular_log_price.resize(static_cast<std::size_t>(n_items) * static_cast<std::size_t>(n_days));
  for (int i = 0; i < n_items; ++i) {
    double log_price = std::log(state.item_base_price[static_cast<std::size_t>(i)]);
    for (int t = 0; t < n_days; ++t) {
      if (price_rng.uniform() < config.price_change_prob)
        log_price += config.price_change_log_mean + config.price_change_log_sd * price_rng.normal();
      state.regular_log_price[static_cast<std::size_t>(i) * static_cast<std::size_t>(n_days) +
                              static_cast<std::size_t>(t)] = log_price;
    }
  }

  kernels::Rng shock_rng(mix_seed(config.seed, Stream::kChainShock, 0));
  state.day_log_effect.resize(static_cast<std::size_t>(n_days));
  state.yearly_shape.resize(static_cast<std::size_t>(n_days));
  // Start the AR(1) shock in its stationary distribution so early days are not special.
  double shock = config.chain_shock_sd / std::sqrt(1.0 - config.chain_shock_ar * config.chain_shock_ar) *
                 shock_rng.normal();
  for (int t = 0; t < n_days; ++t) {
    if (t > 0) shock = config.chain_shock_ar * shock + config.chain_shock_sd * shock_rng.normal();
    const DayInfo& d = state.calendar[static_cast<std::size_t>(t)];
    double effect = config.weekly_log_effect[static_cast<std::size_t>(d.weekday)] + shock;
    for (const HolidayConfig& h : config.holidays)
      if (static_cast<int>(h.month) == d.month && static_cast<int>(h.day) == d.day_of_month) effect += h.log_effect;
    if (d.is_payday) effect += config.payday_log_effect;
    state.day_log_effect[static_cast<std::size_t>(t)] = effect;
    state.yearly_shape[static_cast<std::size_t>(t)] =
        std::cos(2.0 * std::numbers::pi * (d.day_of_year - config.yearly_peak_day) / 365.25);
  }
  return state;
}

// Above this expected demand the simulator is outside any retail regime; the
// clamp only guards exp() against absurd configurations.
constexpr double kMaxLogDemand = 13.8;  // ~1e6 units a day

StoreSales simulate_store_from_state(const ChainConfig& config, const ChainState& chain, int store) {
  const int n_items = config.num_items;
  const int n_days = config.num_days;
  const int rank = config.latent_rank;
  const auto n_cells = static_cast<std::size_t>(n_items) * static_cast<std::size_t>(n_days);

  StoreSales out;
  out.chain = config.kind;
  out.store_index = store;
  char id[64];
  std::snprintf(id, sizeof id, "%s-%03d", std::string(to_string(config.kind)).c_str(), store);
  out.store_id = id;
  out.num_items = n_items;
  out.num_days = n_days;
  out.calendar = chain.calendar;
  out.item_category = chain.item_category;
  out.item_base_price = chain.item_base_price;
  out.units.resize(n_cells);
  out.expected_units.resize(n_cells);
  out.price.resize(n_cells);
  out.promo.resize(n_cells);

  kernels::Rng rng(mix_seed(config.seed, Stream::kStoreParameters, static_cast<std::uint64_t>(store)));
  const double store_effect = config.store_effect_sd * rng.normal();
  const double store_trend = config.store_trend_sd * rng.normal();
  const double store_price_index = config.store_price_sd * rng.normal();
  std::array<double, 7> store_weekly{};
  for (double& v : store_weekly) v = config.store_weekly_sd * rng.normal();
  std::vector<double> loading(static_cast<std::size_t>(rank));
  for (double& l : loading) l = config.latent_loading_mean + config.latent_loading_sd * rng.normal();
  std::vector<double> store_item_effect(static_cast<std::size_t>(n_items));
  for (int i = 0; i < n_items; ++i) {
    double latent = 0.0;
    for (int r = 0; r < rank; ++r)
      latent += loading[static_cast<std::size_t>(r)] * chain.item_factors[static_cast<std::size_t>(i * rank + r)];
    store_item_effect[static_cast<std::size_t>(i)] = latent + config.store_item_effect_sd * rng.normal();
  }
  // Store-level part of each day's log demand: trend, store weekday deviation, store shock.
  std::vector<double> store_day_effect(static_cast<std::size_t>(n_days));
  double shock = config.store_shock_sd / std::sqrt(1.0 - config.store_shock_ar * config.store_shock_ar) * rng.normal();
  for (int t = 0; t < n_days; ++t) {
    if (t > 0) shock = config.store_shock_ar * shock + config.store_shock_sd * rng.normal();
    const DayInfo& d = chain.calendar[static_cast<std::size_t>(t)];
    store_day_effect[static_cast<std::size_t>(t)] = (config.trend_per_year + store_trend) * (t / 365.25) +
                                                    store_weekly[static_cast<std::size_t>(d.weekday)] + shock +
                                                    chain.day_log_effect[static_cast<std::size_t>(t)];
  }

  kernels::Rng promo_rng(mix_seed(config.seed, Stream::kStorePromotions, static_cast<std::uint64_t>(store)));
  kernels::Rng noise_rng(mix_seed(config.seed, Stream::kStoreNoise, static_cast<std::uint64_t>(store)));
  const double noise_sd = config.noise_sd;
  const double noise_mean_correction = -0.5 * noise_sd * noise_sd;  // keeps E[units] = lambda
  for (int i = 0; i < n_items; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    const CategoryConfig& cat = config.categories[static_cast<std::size_t>(chain.item_category[ui])];
    const double item_level = config.base_log_demand + chain.item_log_level[ui] + store_effect + store_item_effect[ui];
    const double yearly_amplitude = config.yearly_amplitude + cat.yearly_amplitude;
    const double log_base_price = std::log(chain.item_base_price[ui]);
    int promo_days_left = 0;
    double promo_depth = 0.0;
    for (int t = 0; t < n_days; ++t) {
      const std::size_t cell = out.at(i, t);
      if (promo_days_left == 0 && promo_rng.uniform() < config.promo_start_prob) {
        promo_days_left = uniform_int(promo_rng, config.promo_min_days, config.promo_max_days);
        promo_depth = config.promo_min_depth + (config.promo_max_depth - config.promo_min_depth) * promo_rng.uniform();
      }
      const bool on_promo = promo_days_left > 0;
      if (on_promo) --promo_days_left;
      double log_price = chain.regular_log_price[cell] + store_price_index;
      if (on_promo) log_price += std::log1p(-promo_depth);
      const double log_demand =
          std::min(kMaxLogDemand, item_level + store_day_effect[static_cast<std::size_t>(t)] +
                                      yearly_amplitude * chain.yearly_shape[static_cast<std::size_t>(t)] +
                                      cat.price_elasticity * (log_price - log_base_price) +
                                      (on_promo ? config.promo_log_lift : 0.0));
      const double lambda = std::exp(log_demand);
      const double noisy_mean = lambda * std::exp(noise_sd * noise_rng.normal() + noise_mean_correction);
      out.units[cell] = static_cast<std::int32_t>(sample_poisson(noise_rng, noisy_mean));
      out.expected_units[cell] = lambda;
      out.price[cell] = std::exp(log_price);
      out.promo[cell] = on_promo ? 1 : 0;
    }
  }
  return out;
}

void require(bool ok, const std::string& chain, const std::string& what) {
  if (!ok) throw Error("retail chain '" + chain + "': " + what);
}

}  // namespace

std::string_view to_string(ChainKind kind) {
  switch (kind) {
    case ChainKind::kPfs: return "pfs";
    case ChainKind::kM5: return "m5";
    case ChainKind::kCorporacion: return "corporacion";
  }
  return "unknown";
}

ChainKind parse_chain_kind(std::string_view name) {
  for (ChainKind kind : all_chain_kinds())
    if (name == to_string(kind)) return kind;
  throw Error("unknown retail chain '" + std::string(name) + "'; expected one of: pfs, m5, corporacion");
}

const std::vector<ChainKind>& all_chain_kinds() {
  static const std::vector<ChainKind> kinds{ChainKind::kPfs, ChainKind::kM5, ChainKind::kCorporacion};
  return kinds;
}

void ChainConfig::validate() const {
  const std::string name(to_string(kind));
  const auto finite = [](double v) { return std::isfinite(v); };
  require(num_stores >= 1, name, "num_stores must be >= 1 (got " + std::to_string(num_stores) + ")");
  require(num_items >= 1, name, "num_items must be >= 1 (got " + std::to_string(num_items) + ")");
  require(num_days >= 1, name, "num_days must be >= 1 (got " + std::to_string(num_days) + ")");
  require(start_date.ok(), name, "start_date is not a valid date");
  require(latent_rank >= 0, name, "latent_rank must be >= 0");
  for (double sd : {item_effect_sd, store_effect_sd, store_item_effect_sd, latent_item_sd, latent_loading_sd,
                    store_trend_sd, store_weekly_sd, price_log_sd, price_change_log_sd, store_price_sd,
                    chain_shock_sd, store_shock_sd, noise_sd})
    require(finite(sd) && sd >= 0.0, name, "standard deviations must be finite and >= 0");
  for (double v : {base_log_demand, latent_loading_mean, trend_per_year, yearly_amplitude, yearly_peak_day,
                   payday_log_effect, price_log_mean, price_change_log_mean, promo_log_lift})
    require(finite(v), name, "every coefficient must be finite");
  for (double w : weekly_log_effect) require(finite(w), name, "weekly_log_effect must be finite");
  require(!categories.empty(), name, "at least one item category is required");
  for (const CategoryConfig& c : categories) {
    require(finite(c.share) && c.share > 0.0, name, "category '" + c.name + "': share must be > 0");
    require(finite(c.log_level) && finite(c.price_elasticity) && finite(c.yearly_amplitude), name,
            "category '" + c.name + "': coefficients must be finite");
  }
  for (const HolidayConfig& h : holidays)
    // Year 2000 is a leap year, so 2/29 is accepted (and simply absent in other years).
    require((year{2000} / month{h.month} / day{h.day}).ok() && finite(h.log_effect),
            name, "holiday " + std::to_string(h.month) + "/" + std::to_string(h.day) + " is not a valid date");
  for (unsigned d : payday_days)
    require(d >= 1 && d <= 31, name, "payday_days must be in 1..31 (got " + std::to_string(d) + ")");
  require(price_change_prob >= 0.0 && price_change_prob <= 1.0, name, "price_change_prob must be in [0, 1]");
  require(promo_start_prob >= 0.0 && promo_start_prob <= 1.0, name, "promo_start_prob must be in [0, 1]");
  require(promo_min_days >= 1 && promo_max_days >= promo_min_days, name,
          "promotion lengths need 1 <= promo_min_days <= promo_max_days");
  require(promo_min_depth >= 0.0 && promo_max_depth >= promo_min_depth && promo_max_depth < 1.0, name,
          "promotion depths need 0 <= promo_min_depth <= promo_max_depth < 1");
  require(std::abs(chain_shock_ar) < 1.0 && std::abs(store_shock_ar) < 1.0, name,
          "shock AR coefficients must be in (-1, 1)");
}

ChainConfig default_chain_config(ChainKind kind, std::uint64_t market_seed) {
  ChainConfig c;
  c.kind = kind;
  c.seed = mix_seed(market_seed, Stream::kChainParameters, 1000 + static_cast<std::uint64_t>(kind));
  switch (kind) {
    case ChainKind::kPfs:
      // 1C-like games/software retailer: 60 shops of very different sizes,
      // sales declining over the years, a strong Christmas/New-Year peak.
      c.num_stores = 60;
      c.num_items = 40;
      c.base_log_demand = std::log(1.2);
      c.item_effect_sd = 0.6;
      c.store_effect_sd = 0.35;
      c.store_item_effect_sd = 0.15;
      c.trend_per_year = -0.10;
      c.weekly_log_effect = {-0.12, -0.14, -0.10, -0.06, 0.10, 0.30, 0.08};
      c.yearly_amplitude = 0.30;
      c.yearly_peak_day = 358;
      c.categories = {{"games", 0.40, 0.0, -1.6, 0.05},
                      {"consoles", 0.10, -0.8, -2.2, 0.25},
                      {"accessories", 0.20, -0.2, -1.2, 0.0},
                      {"movies_music", 0.30, -0.1, -1.0, -0.05}};
      c.holidays = {{1, 1, -0.4}, {1, 7, 0.2}, {2, 23, 0.35}, {3, 8, 0.25},
                    {5, 9, 0.15}, {6, 12, 0.1}, {11, 4, 0.1}, {12, 31, 0.3}};
      c.price_log_mean = std::log(20.0);
      c.price_log_sd = 0.8;
      c.price_change_prob = 1.0 / 150.0;
      c.price_change_log_mean = -0.03;  // software gets cheaper as it ages
      c.price_change_log_sd = 0.10;
      c.promo_start_prob = 0.008;
      c.promo_min_days = 3;
      c.promo_max_days = 7;
      c.promo_min_depth = 0.10;
      c.promo_max_depth = 0.30;
      c.promo_log_lift = 0.25;
      c.noise_sd = 0.35;
      break;
    case ChainKind::kM5:
      // Walmart-like: few large stores, steady growth, weekend shopping,
      // a mild summer season, SNAP benefit days and Christmas closure.
      c.num_stores = 10;
      c.num_items = 50;
      c.base_log_demand = std::log(2.5);
      c.item_effect_sd = 0.7;
      c.store_effect_sd = 0.25;
      c.store_item_effect_sd = 0.12;
      c.trend_per_year = 0.06;
      c.weekly_log_effect = {-0.08, -0.15, -0.15, -0.16, -0.02, 0.25, 0.28};
      c.yearly_amplitude = 0.08;
      c.yearly_peak_day = 195;
      c.categories = {{"foods", 0.50, 0.2, -0.7, 0.0},
                      {"household", 0.30, -0.2, -1.4, -0.03},
                      {"hobbies", 0.20, -0.5, -2.0, 0.12}};
      c.holidays = {{1, 1, -0.3}, {2, 14, 0.05}, {7, 4, 0.15}, {10, 31, 0.1}, {12, 24, 0.2}, {12, 25, -3.0}};
      c.payday_days = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
      c.payday_log_effect = 0.08;
      c.price_log_mean = std::log(4.0);
      c.price_log_sd = 0.6;
      c.price_change_prob = 1.0 / 200.0;
      c.price_change_log_mean = 0.02;
      c.price_change_log_sd = 0.06;
      c.promo_start_prob = 0.015;
      c.promo_min_days = 5;
      c.promo_max_days = 10;
      c.promo_min_depth = 0.05;
      c.promo_max_depth = 0.25;
      c.promo_log_lift = 0.12;
      c.noise_sd = 0.30;
      break;
    case ChainKind::kCorporacion:
      // Favorita-like grocery chain: high volumes, Sunday peak and a midweek
      // trough, public-sector paydays, frequent and deep promotions.
      c.num_stores = 54;
      c.num_items = 40;
      c.base_log_demand = std::log(9.0);
      c.item_effect_sd = 0.6;
      c.store_effect_sd = 0.45;
      c.store_item_effect_sd = 0.12;
      c.trend_per_year = 0.08;
      c.weekly_log_effect = {-0.05, -0.12, -0.10, -0.20, 0.00, 0.18, 0.30};
      c.yearly_amplitude = 0.12;
      c.yearly_peak_day = 352;
      c.categories = {{"grocery", 0.35, 0.0, -0.8, 0.0},
                      {"beverages", 0.20, 0.1, -1.1, 0.05},
                      {"produce", 0.20, 0.2, -1.3, -0.04},
                      {"cleaning", 0.15, -0.4, -0.9, 0.0},
                      {"dairy", 0.10, 0.1, -0.6, 0.0}};
      c.holidays = {{1, 1, -1.5}, {5, 1, 0.05}, {8, 10, 0.05}, {11, 2, 0.1}, {12, 24, 0.4}, {12, 25, -1.5}};
      c.payday_days = {15, 31};
      c.payday_log_effect = 0.15;
      c.price_log_mean = std::log(3.0);
      c.price_log_sd = 0.7;
      c.price_change_prob = 1.0 / 120.0;
      c.price_change_log_mean = 0.02;
      c.price_change_log_sd = 0.05;
      c.promo_start_prob = 0.03;
      c.promo_min_days = 2;
      c.promo_max_days = 7;
      c.promo_min_depth = 0.10;
      c.promo_max_depth = 0.35;
      c.promo_log_lift = 0.40;
      c.noise_sd = 0.25;
      break;
  }
  return c;
}

std::vector<ChainConfig> default_market_config(std::uint64_t market_seed) {
  std::vector<ChainConfig> chains;
  for (ChainKind kind : all_chain_kinds()) chains.push_back(default_chain_config(kind, market_seed));
  return chains;
}

std::vector<DayInfo> chain_calendar(const ChainConfig& config) {
  config.validate();
  std::vector<DayInfo> calendar(static_cast<std::size_t>(config.num_days));
  const sys_days first{config.start_date};
  const auto is_holiday = [&](const year_month_day& ymd) {
    for (const HolidayConfig& h : config.holidays)
      if (ymd.month() == month{h.month} && ymd.day() == day{h.day}) return true;
    return false;
  };
  for (int t = 0; t < config.num_days; ++t) {
    const sys_days date = first + std::chrono::days{t};
    const year_month_day ymd{date};
    DayInfo& d = calendar[static_cast<std::size_t>(t)];
    d.year = static_cast<int>(ymd.year());
    d.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    d.day_of_month = static_cast<int>(static_cast<unsigned>(ymd.day()));
    d.days_in_month = static_cast<int>(static_cast<unsigned>((ymd.year() / ymd.month() / std::chrono::last).day()));
    d.weekday = static_cast<int>(std::chrono::weekday{date}.iso_encoding()) - 1;
    d.day_of_year = static_cast<int>((date - sys_days{ymd.year() / month{1} / day{1}}).count());
    d.is_holiday = is_holiday(ymd);
    d.is_pre_holiday = is_holiday(year_month_day{date + std::chrono::days{1}});
    for (unsigned p : config.payday_days) {
      // 31 stands for "the last day of the month", whatever its length.
      const bool last_day = p == 31 && d.day_of_month == d.days_in_month;
      if (static_cast<int>(p) == d.day_of_month || last_day) d.is_payday = true;
    }
  }
  return calendar;
}

ChainSales simulate_chain(const ChainConfig& config, const kernels::Context& ctx) {
  const ChainState state = build_chain_state(config);
  ChainSales out;
  out.config = config;
  out.stores.resize(static_cast<std::size_t>(config.num_stores));
  kernels::parallel_for(ctx, 0, config.num_stores, [&](std::int64_t s) {
    out.stores[static_cast<std::size_t>(s)] = simulate_store_from_state(config, state, static_cast<int>(s));
  });
  return out;
}

StoreSales simulate_store(const ChainConfig& config, int store_index) {
  if (store_index < 0 || store_index >= config.num_stores)
    throw Error("retail chain '" + std::string(to_string(config.kind)) + "' has stores 0.." +
                std::to_string(config.num_stores - 1) + " (got store " + std::to_string(store_index) + ")");
  return simulate_store_from_state(config, build_chain_state(config), store_index);
}

std::vector<ChainSales> simulate_market(const std::vector<ChainConfig>& chains, const kernels::Context& ctx) {
  std::vector<ChainSales> out;
  out.reserve(chains.size());
  for (const ChainConfig& c : chains) out.push_back(simulate_chain(c, ctx));
  return out;
}

}  // namespace lwd::datasets

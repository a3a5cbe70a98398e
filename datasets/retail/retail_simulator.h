// A seeded simulator of daily item-level sales for three store chains shaped
// like the tabular datasets of the Beimingwu paper (PFS, M5, Corporacion
// Favorita). It stands in for those datasets, which are not fetched, and keeps
// the structure the experiments rely on: stores of one chain share demand
// (catalogue, seasonality, price response, latent store-item factors, a
// chain-wide demand shock) and differ by store-specific effects; chains differ
// in scale, calendar, seasonality, price elasticity and promotion behaviour.
//
// Demand model (datasets/README.md derives and explains it): for store s of
// chain c, item i of category k(i), day t,
//
//   log lambda = mu_c + g_k + b_i + a_s + l_s . f_i + r_si
//              + (tau_c + tau_s) t/365.25
//              + w_c[dow] + v_s[dow]
//              + (A_c + A_k) cos(2 pi (doy - phi_c) / 365.25)
//              + H_c(date) + q_c payday(date)
//              + e_k log(p_sit / p0_i) + gamma_c promo_sit
//              + z_c(t) + z_s(t)
//   units_sit ~ Poisson(lambda exp(sigma_c eta - sigma_c^2 / 2)),  eta ~ N(0, 1)
//
// Determinism: every random draw comes from kernels::Rng streams seeded from
// ChainConfig::seed and the store index alone, so a chain's data is identical
// for any thread count, and store s is the same whether 5 or 500 stores are
// simulated. Draws that shape demand (prices, promotions, shocks) and the
// observation noise use separate streams, so changing a demand coefficient
// (say an elasticity) changes the expected demand and leaves prices and
// promotions exactly as they were.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/context.h"

namespace lwd::datasets {

enum class ChainKind { kPfs, kM5, kCorporacion };

// "pfs" / "m5" / "corporacion"; parse throws lwd::Error listing the names.
std::string_view to_string(ChainKind kind);
ChainKind parse_chain_kind(std::string_view name);
// The three kinds in their fixed order.
const std::vector<ChainKind>& all_chain_kinds();

struct CategoryConfig {
  std::string name;
  double share = 1.0;             // fraction of the catalogue (shares are normalised)
  double log_level = 0.0;         // g_k: category demand level
  double price_elasticity = -1.0; // e_k: d log demand / d log price
  double yearly_amplitude = 0.0;  // A_k: added to the chain's yearly amplitude
};

// A date with its own demand effect, repeated every year (month, day).
struct HolidayConfig {
  unsigned month = 1;
  unsigned day = 1;
  double log_effect = 0.0;  // added to log lambda on that date
};

struct ChainConfig {
  ChainKind kind = ChainKind::kPfs;
  std::uint64_t seed = 0;
  int num_stores = 1;
  int num_items = 1;  // catalogue size; every store of the chain sells every item
  int num_days = 730;
  std::chrono::year_month_day start_date{std::chrono::year{2013}, std::chrono::month{1}, std::chrono::day{1}};

  // Levels.
  double base_log_demand = 0.0;   // mu_c
  double item_effect_sd = 0.5;    // b_i ~ N(0, sd^2), shared by the chain's stores
  double store_effect_sd = 0.3;   // a_s ~ N(0, sd^2)
  double store_item_effect_sd = 0.1;  // r_si ~ N(0, sd^2)
  // Shared latent factors: item factors f_i ~ N(0, latent_item_sd^2 I) per chain,
  // store loadings l_s ~ N(latent_loading_mean, latent_loading_sd^2 I); stores
  // with nearby loadings favour the same items.
  int latent_rank = 2;
  double latent_item_sd = 0.3;
  double latent_loading_mean = 1.0;
  double latent_loading_sd = 0.25;

  // Trend (log units per year).
  double trend_per_year = 0.0;  // tau_c
  double store_trend_sd = 0.03; // tau_s ~ N(0, sd^2)

  // Weekly seasonality, Monday..Sunday (w_c), and the store deviations v_s[d] ~ N(0, sd^2).
  std::array<double, 7> weekly_log_effect{};
  double store_weekly_sd = 0.02;

  // Yearly seasonality: amplitude A_c and the day of the year of its peak (phi_c).
  double yearly_amplitude = 0.0;
  double yearly_peak_day = 355.0;

  std::vector<CategoryConfig> categories;
  std::vector<HolidayConfig> holidays;
  // Days of the month with a payday/benefit effect (31 means the last day of
  // any month), and the effect q_c.
  std::vector<unsigned> payday_days;
  double payday_log_effect = 0.0;

  // Prices: base price p0_i ~ logNormal(price_log_mean, price_log_sd^2); the
  // chain's regular price of each item jumps on a day with probability
  // price_change_prob by exp(N(price_change_log_mean, price_change_log_sd^2));
  // each store prices at its own index exp(N(0, store_price_sd^2)).
  double price_log_mean = 0.0;
  double price_log_sd = 0.5;
  double price_change_prob = 1.0 / 180.0;
  double price_change_log_mean = 0.01;
  double price_change_log_sd = 0.08;
  double store_price_sd = 0.03;

  // Promotions per store and item: when none is running, one starts on a day
  // with probability promo_start_prob, lasts a uniform number of days in
  // [promo_min_days, promo_max_days] and discounts the price by a uniform
  // depth in [promo_min_depth, promo_max_depth]. Besides the price cut (which
  // acts through the elasticity), a promotion lifts log demand by promo_log_lift.
  double promo_start_prob = 0.01;
  int promo_min_days = 3;
  int promo_max_days = 7;
  double promo_min_depth = 0.1;
  double promo_max_depth = 0.3;
  double promo_log_lift = 0.2;

  // Demand shocks: AR(1) z(t) = rho z(t-1) + sd N(0,1), one per chain (shared
  // by its stores) and one per store.
  double chain_shock_sd = 0.04;
  double chain_shock_ar = 0.9;
  double store_shock_sd = 0.04;
  double store_shock_ar = 0.8;

  // sigma_c: log-normal over-dispersion of the daily units around lambda.
  double noise_sd = 0.3;

  // Throws lwd::Error naming the first invalid field.
  void validate() const;
};

inline constexpr std::uint64_t kDefaultMarketSeed = 20130101;

// The defaults, shaped like the paper's datasets (numbers in datasets/README.md):
//   PFS-like          60 stores x 40 items, small counts, strong December peak,
//                     Saturday peak, declining trend, elastic prices;
//   M5-like           10 stores x 50 items, weekend peak, mild summer season,
//                     SNAP-style benefit days 1-10, Christmas closure;
//   Corporacion-like  54 stores x 40 items, large counts, Sunday peak,
//                     paydays on the 15th and the last day, frequent promotions.
// `market_seed` is mixed with the kind into ChainConfig::seed.
ChainConfig default_chain_config(ChainKind kind, std::uint64_t market_seed = kDefaultMarketSeed);
// All three defaults in ChainKind order.
std::vector<ChainConfig> default_market_config(std::uint64_t market_seed = kDefaultMarketSeed);

// Calendar facts of one simulated day (the same for every store of a chain).
struct DayInfo {
  int year = 0;
  int month = 1;         // 1..12
  int day_of_month = 1;  // 1..31
  int days_in_month = 31;
  int weekday = 0;       // 0 = Monday .. 6 = Sunday
  int day_of_year = 0;   // 0-based
  bool is_holiday = false;      // the date is in ChainConfig::holidays
  bool is_pre_holiday = false;  // the next date is
  bool is_payday = false;       // the day of the month is in ChainConfig::payday_days

  bool operator==(const DayInfo&) const = default;
};

// One store's simulated history. Per-item series are item-major:
// value of item i on day t at [i * num_days + t].
struct StoreSales {
  ChainKind chain = ChainKind::kPfs;
  int store_index = 0;
  std::string store_id;  // e.g. "pfs-007"
  int num_items = 0;
  int num_days = 0;
  std::vector<DayInfo> calendar;          // num_days entries
  std::vector<int> item_category;         // num_items entries, index into ChainConfig::categories
  std::vector<double> item_base_price;    // p0_i
  std::vector<std::int32_t> units;        // observed daily units sold
  std::vector<double> expected_units;     // lambda (demand before the observation noise)
  std::vector<double> price;              // shelf price paid that day
  std::vector<std::uint8_t> promo;        // 1 while a promotion runs

  std::size_t at(int item, int day) const {
    return static_cast<std::size_t>(item) * static_cast<std::size_t>(num_days) + static_cast<std::size_t>(day);
  }
  bool operator==(const StoreSales&) const = default;
};

struct ChainSales {
  ChainConfig config;
  std::vector<StoreSales> stores;
};

// The calendar of a chain (holidays and paydays as configured).
std::vector<DayInfo> chain_calendar(const ChainConfig& config);

// All stores of a chain, simulated in parallel over stores with ctx's threads.
ChainSales simulate_chain(const ChainConfig& config, const kernels::Context& ctx);
// One store only (bit-identical to simulate_chain(config, ctx).stores[store_index]).
StoreSales simulate_store(const ChainConfig& config, int store_index);
// Every chain of a market.
std::vector<ChainSales> simulate_market(const std::vector<ChainConfig>& chains, const kernels::Context& ctx);

}  // namespace lwd::datasets

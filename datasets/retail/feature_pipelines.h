// Feature-engineering pipelines over a simulated store: five feature spaces
// (different combinations of lags, rolling statistics, calendar and price
// features, so their widths differ and a market sees five distinct input
// spaces), three user feature spaces that no market learnware uses (for
// heterogeneous experiments: other column names, other widths), and two label
// spaces, with a split by time.
//
// One row per (day t, item i) for t >= kHistoryDays, ordered by day and then
// item, in every space (user spaces included, so a user's rows correspond row
// for row with the same store's rows in the market spaces). Every feature of
// row (t, i) uses only what a forecaster knows on the morning of day t: units
// sold up to day t-1, and the day's calendar, shelf price and promotion
// (planned in advance). The first kHistoryDays days feed the longest look-back
// (8 weeks) and produce no rows, so no feature is ever missing: the matrices
// contain no NaN.
//
// Every column has a one-sentence description in plain English
// (feature_descriptions), which semantic specs carry as Input.Description.
// Columns measuring the same thing in different market spaces share their
// description; the user spaces are described as another analyst would write,
// in other words but with the same key words where the quantity is the same
// (units, sold, days, price, promotion, weekday, holiday).
//
// Feature spaces (width: columns, in order):
//   lag_calendar   15: lag_1..lag_7; dow_sin, dow_cos, doy_sin, doy_cos,
//                      is_weekend, is_holiday, is_pre_holiday, is_payday
//   rolling_price  14: roll_mean_7, roll_mean_14, roll_mean_28, roll_mean_56,
//                      roll_std_7, roll_std_28, roll_max_7, zero_frac_28;
//                      log_price, price_rel_28, discount_vs_max56, promo,
//                      promo_days_7, price_change_7
//   full           34: lag_1..lag_7, lag_14, lag_21, lag_28; the 8 rolling
//                      statistics; the 8 cyclic calendar features; the 6 price
//                      features; item_category, store_traffic_28
//   weekly_onehot  22: lag_7, lag_14, lag_21, lag_28, same_weekday_mean_8;
//                      ewm_3, ewm_7, ewm_28; dow_mon..dow_sun, month,
//                      day_of_month, is_holiday, is_payday; promo,
//                      discount_vs_max56; item_category
//   compact         9: ewm_3, ewm_7, ewm_28, roll_mean_7, roll_mean_28,
//                      dow_sin, dow_cos, price_rel_28, promo
// Definitions (u = daily units, p = shelf price, windows end at day t-1):
//   lag_k               u[t-k]
//   roll_mean_w         mean of u[t-w .. t-1]; roll_std_w its population sd
//   roll_max_7          max of u[t-7 .. t-1]
//   zero_frac_28        fraction of days in u[t-28 .. t-1] with no sale
//   ewm_h               exponentially weighted mean of u up to t-1 with a
//                       half-life of h days (e <- a u + (1-a) e, a = 1 - 2^(-1/h))
//   same_weekday_mean_8 mean of u[t-7], u[t-14], ..., u[t-56]
//   dow_*, doy_*        sin/cos of 2 pi weekday/7 and 2 pi day_of_year/365.25;
//                       dow_mon..dow_sun one-hot (Monday first)
//   is_weekend          Saturday or Sunday
//   is_holiday, is_pre_holiday, is_payday   as in DayInfo (0/1)
//   month, day_of_month 1..12, 1..31
//   log_price           log p[t]
//   price_rel_28        log(p[t] / mean of p[t-28 .. t-1])
//   discount_vs_max56   1 - p[t] / max of p[t-56 .. t-1] (negative after a rise)
//   promo               1 while a promotion runs on day t
//   promo_days_7        promotion days in t-7 .. t-1
//   price_change_7      log(p[t] / p[t-7])
//   item_category       category index in the chain's catalogue (0-based)
//   store_traffic_28    mean units per item and day over the whole store, t-28 .. t-1
//
//
// User feature spaces (UserFeatureSpace; not in all_feature_spaces(), so
// nothing that builds the market sees them):
//   pos_daily      12: units_yesterday, units_2_days_ago, units_3_days_ago,
//                      units_7_days_ago, week_total_units, fortnight_avg_units,
//                      weekday_index, sat_or_sun, public_holiday, pay_day,
//                      price_vs_base, on_promotion
//   pos_trend      18: avg_units_7d, avg_units_28d, wow_change, wow_log_ratio,
//                      trend_slope_28d, ewma_hl2, ewma_hl14,
//                      ewma_short_long_ratio, zero_share_14d,
//                      days_since_last_sale, volatility_28d,
//                      yesterday_vs_week_avg, weekday_effect_4w,
//                      store_momentum, weekday_sin, weekday_cos,
//                      price_trend_28d, promotion_today
//   pos_promo      11: discount_depth_28d, days_since_promo, promo_run_length,
//                      days_since_price_change, price_percentile_56d,
//                      price_log, days_to_holiday, days_after_holiday,
//                      promo_count_28d, qty_prev_day, qty_prev_week_same_day
// Definitions (p0 = the item's base price, StoreSales::item_base_price):
//   units_K_days_ago, units_yesterday, qty_prev_day, qty_prev_week_same_day
//                       u[t-K] (K = 1, 2, 3, 7)
//   week_total_units    sum of u[t-7 .. t-1]
//   fortnight_avg_units, avg_units_Wd   mean of u[t-W .. t-1] (W = 14, 7, 28)
//   weekday_index       0 = Monday .. 6 = Sunday; sat_or_sun = is_weekend
//   public_holiday, pay_day   = is_holiday, is_payday
//   price_vs_base       p[t] / p0
//   on_promotion, promotion_today   = promo
//   wow_change          mean of u[t-7 .. t-1] - mean of u[t-14 .. t-8]
//   wow_log_ratio       log((1 + sum u[t-7 .. t-1]) / (1 + sum u[t-14 .. t-8]))
//   trend_slope_28d     least-squares slope of u[j] on j, j in t-28 .. t-1
//   ewma_hlH            ewm with a half-life of H days (H = 2, 14)
//   ewma_short_long_ratio  log((1 + ewma_hl2) / (1 + ewma_hl14))
//   zero_share_14d      = zero_frac over 14 days
//   days_since_last_sale   smallest k >= 1 with u[t-k] > 0, at most 56
//   volatility_28d      = roll_std_28
//   yesterday_vs_week_avg  u[t-1] - mean of u[t-7 .. t-1]
//   weekday_effect_4w   mean of u[t-7], .., u[t-28] - mean of u[t-28 .. t-1]
//   store_momentum      store_traffic over 7 days - store_traffic over 28 days
//   weekday_sin/cos     = dow_sin, dow_cos
//   price_trend_28d     log(p[t] / p[t-28])
//   discount_depth_28d  1 - p[t] / max of p[t-28 .. t-1]
//   days_since_promo    smallest k >= 1 with a promotion on day t-k, at most 56
//   promo_run_length    consecutive promotion days ending at t (0 without a
//                       promotion on t; back-to-back promotions count as one run)
//   days_since_price_change   smallest k >= 0 with p[t-k] != p[t-k-1], at most 56
//   price_percentile_56d      fraction of p[t-56 .. t-1] that are <= p[t]
//   price_log           = log_price
//   days_to_holiday     days from t to the next holiday (0 on one), at most 30;
//                       past the last simulated day holidays recur on the
//                       dates the calendar shows (they repeat yearly)
//   days_after_holiday  days since the latest holiday up to t, at most 30
//   promo_count_28d     promotion days in t-28 .. t-1
//
// Label spaces: units (u[t]) and log1p_units (log(1 + u[t])).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/retail/retail_simulator.h"
#include "kernels/matrix.h"

namespace lwd::datasets {

enum class FeatureSpace { kLagCalendar, kRollingPrice, kFull, kWeeklyOneHot, kCompact };
enum class LabelSpace { kUnits, kLog1pUnits };
// Feature engineerings of users that no market learnware uses.
enum class UserFeatureSpace { kPosDaily, kPosTrend, kPosPromo };

// Names as above ("lag_calendar", ..., "pos_daily", ..., "units",
// "log1p_units"); parse throws lwd::Error listing the valid names.
std::string_view to_string(FeatureSpace space);
std::string_view to_string(UserFeatureSpace space);
std::string_view to_string(LabelSpace space);
FeatureSpace parse_feature_space(std::string_view name);
UserFeatureSpace parse_user_feature_space(std::string_view name);
LabelSpace parse_label_space(std::string_view name);
// The market's five spaces; the users' three; the two label spaces.
const std::vector<FeatureSpace>& all_feature_spaces();
const std::vector<UserFeatureSpace>& all_user_feature_spaces();
const std::vector<LabelSpace>& all_label_spaces();

// Column names of a feature space, in matrix order; the width is their count.
const std::vector<std::string>& feature_columns(FeatureSpace space);
const std::vector<std::string>& feature_columns(UserFeatureSpace space);
std::int64_t feature_width(FeatureSpace space);
std::int64_t feature_width(UserFeatureSpace space);
// One plain-English sentence per column, parallel to feature_columns.
const std::vector<std::string>& feature_descriptions(FeatureSpace space);
const std::vector<std::string>& feature_descriptions(UserFeatureSpace space);

// Days of history consumed before the first row (the longest look-back).
inline constexpr int kHistoryDays = 56;

struct SplitConfig {
  // The last test_days days of the simulation form the test split; the days
  // from kHistoryDays up to them form the training split.
  int test_days = 91;
};

// A store's rows in one feature and label space, split by time.
struct StoreDataset {
  std::vector<std::string> column_names;
  std::string label_name;
  kernels::Matrix<double> x_train;  // train rows x feature_width
  std::vector<double> y_train;
  kernels::Matrix<double> x_test;
  std::vector<double> y_test;
  // Day index (since the simulation start) and item of each row.
  std::vector<std::int32_t> train_day, test_day;
  std::vector<std::int32_t> train_item, test_item;
};

// Throws lwd::Error when the store is too short for the split (it needs more
// than kHistoryDays + test_days days) or the sales arrays are inconsistent.
StoreDataset build_features(const StoreSales& store, FeatureSpace space, LabelSpace label,
                            const SplitConfig& split = {});
// The same rows (days, items, labels, split) in a user feature space.
StoreDataset build_user_features(const StoreSales& store, UserFeatureSpace space, LabelSpace label,
                                 const SplitConfig& split = {});

// The label transform alone, for evaluating predictions in either space.
double label_value(LabelSpace space, double units);

}  // namespace lwd::datasets

// Feature-engineering pipelines over a simulated store: five feature spaces
// (different combinations of lags, rolling statistics, calendar and price
// features, so their widths differ and a market sees five distinct input
// spaces) and two label spaces, with a split by time.
//
// One row per (day t, item i) for t >= kHistoryDays, ordered by day and then
// item. Every feature of row (t, i) uses only what a forecaster knows on the
// morning of day t: units sold up to day t-1, and the day's calendar, shelf
// price and promotion (planned in advance). The first kHistoryDays days feed
// the longest look-back (8 weeks) and produce no rows, so no feature is ever
// missing: the matrices contain no NaN.
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

// Names as above ("lag_calendar", ..., "units", "log1p_units"); parse throws
// lwd::Error listing the valid names.
std::string_view to_string(FeatureSpace space);
std::string_view to_string(LabelSpace space);
FeatureSpace parse_feature_space(std::string_view name);
LabelSpace parse_label_space(std::string_view name);
const std::vector<FeatureSpace>& all_feature_spaces();
const std::vector<LabelSpace>& all_label_spaces();

// Column names of a feature space, in matrix order; the width is their count.
const std::vector<std::string>& feature_columns(FeatureSpace space);
std::int64_t feature_width(FeatureSpace space);

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

// The label transform alone, for evaluating predictions in either space.
double label_value(LabelSpace space, double units);

}  // namespace lwd::datasets

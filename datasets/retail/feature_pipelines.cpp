#include "datasets/retail/feature_pipelines.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <utility>

#include "engine/error.h"

namespace lwd::datasets {

namespace {

enum class ColumnKind {
  kLag,                   // param: k
  kRollMean,              // param: window
  kRollSum,               // param: window
  kRollStd,               // param: window
  kRollMax,               // param: window
  kZeroFrac,              // param: window
  kEwm,                   // param: half-life in days
  kEwmLogRatio,           // param, param2: short and long half-lives
  kSameWeekdayMean,       // param: number of weeks
  kSameWeekdayMinusMean,  // param: number of weeks
  kMeanChange,            // param: window (its mean minus the previous window's)
  kSumLogRatio,           // param: window (log of 1 + its sum over 1 + the previous window's)
  kTrendSlope,            // param: window
  kLagMinusMean,          // param: window (u[t-1] minus its mean)
  kDaysSinceSale,         // param: cap
  kDowSin,
  kDowCos,
  kDoySin,
  kDoyCos,
  kIsWeekend,
  kIsHoliday,
  kIsPreHoliday,
  kIsPayday,
  kDowOneHot,             // param: weekday 0..6
  kWeekday,
  kMonth,
  kDayOfMonth,
  kDaysToHoliday,         // param: cap, at most kHolidayCap
  kDaysSinceHoliday,      // param: cap, at most kHolidayCap
  kLogPrice,
  kPriceOverBase,
  kPriceRel,              // param: window
  kDiscountVsMax,         // param: window
  kPricePercentile,       // param: window
  kDaysSincePriceChange,  // param: cap
  kPromo,
  kPromoDays,             // param: window
  kDaysSincePromo,        // param: cap
  kPromoRunLength,
  kPriceChange,           // param: days back
  kItemCategory,
  kStoreTraffic,          // param: window
  kStoreTrafficChange,    // param, param2: short and long windows (short mean minus long mean)
};

// One column of a pipeline: what it computes, its name, and one sentence
// saying what it measures (semantic specs carry the sentence, so a text
// encoder can tell that two differently named columns measure the same thing).
struct Column {
  ColumnKind kind;
  int param;
  std::string name;
  std::string description;
  int param2 = 0;
};

using Columns = std::vector<Column>;

void append(Columns& to, const Columns& from) { to.insert(to.end(), from.begin(), from.end()); }

// Numbers in descriptions as an English writer sets them: one to nine in
// words, 10 and above in digits.
std::string count_words(int n) {
  static const char* const kWords[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
  return n >= 0 && n < 10 ? kWords[n] : std::to_string(n);
}

std::string days_phrase(int n) { return count_words(n) + (n == 1 ? " day" : " days"); }

// ---- the market's feature spaces ----------------------------------------------
// Descriptions use the same key words for the same quantity (units, sold,
// mean, days, price, promotion, day of the week) across the five spaces.

Columns lags(std::initializer_list<int> ks) {
  Columns out;
  for (int k : ks)
    out.push_back({ColumnKind::kLag, k, "lag_" + std::to_string(k), "units sold " + days_phrase(k) + " before"});
  return out;
}

Column roll_mean(int w) {
  return {ColumnKind::kRollMean, w, "roll_mean_" + std::to_string(w),
          "mean units sold per day over the previous " + days_phrase(w)};
}

Column ewm(int h) {
  return {ColumnKind::kEwm, h, "ewm_" + std::to_string(h),
          "exponentially weighted mean of daily units sold with a half-life of " + days_phrase(h)};
}

Columns ewms() { return {ewm(3), ewm(7), ewm(28)}; }

Columns rolling_statistics() {
  return {roll_mean(7),
          roll_mean(14),
          roll_mean(28),
          roll_mean(56),
          {ColumnKind::kRollStd, 7, "roll_std_7",
           "standard deviation of daily units sold over the previous seven days"},
          {ColumnKind::kRollStd, 28, "roll_std_28", "standard deviation of daily units sold over the previous 28 days"},
          {ColumnKind::kRollMax, 7, "roll_max_7", "largest daily units sold over the previous seven days"},
          {ColumnKind::kZeroFrac, 28, "zero_frac_28", "fraction of the previous 28 days with no units sold"}};
}

Column dow_sin() { return {ColumnKind::kDowSin, 0, "dow_sin", "sine of the day of the week angle"}; }
Column dow_cos() { return {ColumnKind::kDowCos, 0, "dow_cos", "cosine of the day of the week angle"}; }
Column is_holiday() { return {ColumnKind::kIsHoliday, 0, "is_holiday", "whether today is a public holiday"}; }
Column is_payday() { return {ColumnKind::kIsPayday, 0, "is_payday", "whether today is a payday"}; }

Columns cyclic_calendar() {
  return {dow_sin(),
          dow_cos(),
          {ColumnKind::kDoySin, 0, "doy_sin", "sine of the day of the year angle"},
          {ColumnKind::kDoyCos, 0, "doy_cos", "cosine of the day of the year angle"},
          {ColumnKind::kIsWeekend, 0, "is_weekend", "whether today falls on the weekend, Saturday or Sunday"},
          is_holiday(),
          {ColumnKind::kIsPreHoliday, 0, "is_pre_holiday", "whether tomorrow is a public holiday"},
          is_payday()};
}

Column price_rel_28() {
  return {ColumnKind::kPriceRel, 28, "price_rel_28",
          "logarithm of today's shelf price relative to its mean over the previous 28 days"};
}
Column discount_vs_max56() {
  return {ColumnKind::kDiscountVsMax, 56, "discount_vs_max56",
          "fraction by which today's shelf price is below its highest price over the previous 56 days"};
}
Column promo() { return {ColumnKind::kPromo, 0, "promo", "whether a promotion runs today"}; }
Column item_category() {
  return {ColumnKind::kItemCategory, 0, "item_category", "product category of the item, as a number"};
}

Columns price_features() {
  return {{ColumnKind::kLogPrice, 0, "log_price", "logarithm of the shelf price today"},
          price_rel_28(),
          discount_vs_max56(),
          promo(),
          {ColumnKind::kPromoDays, 7, "promo_days_7", "number of promotion days over the previous seven days"},
          {ColumnKind::kPriceChange, 7, "price_change_7",
           "logarithm of today's shelf price relative to the price seven days before"}};
}

Columns make_columns(FeatureSpace space) {
  Columns c;
  switch (space) {
    case FeatureSpace::kLagCalendar:
      append(c, lags({1, 2, 3, 4, 5, 6, 7}));
      append(c, cyclic_calendar());
      break;
    case FeatureSpace::kRollingPrice:
      append(c, rolling_statistics());
      append(c, price_features());
      break;
    case FeatureSpace::kFull:
      append(c, lags({1, 2, 3, 4, 5, 6, 7, 14, 21, 28}));
      append(c, rolling_statistics());
      append(c, cyclic_calendar());
      append(c, price_features());
      c.push_back(item_category());
      c.push_back({ColumnKind::kStoreTraffic, 28, "store_traffic_28",
                   "mean units sold per item and day across the whole store over the previous 28 days"});
      break;
    case FeatureSpace::kWeeklyOneHot: {
      append(c, lags({7, 14, 21, 28}));
      c.push_back({ColumnKind::kSameWeekdayMean, 8, "same_weekday_mean_8",
                   "mean units sold on the same day of the week over the previous eight weeks"});
      append(c, ewms());
      static const char* const kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
      static const char* const kDayNames[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                              "Friday", "Saturday", "Sunday"};
      for (int d = 0; d < 7; ++d)
        c.push_back({ColumnKind::kDowOneHot, d, std::string("dow_") + kDays[d],
                     std::string("whether today is a ") + kDayNames[d]});
      c.push_back({ColumnKind::kMonth, 0, "month", "month of the year, from 1 to 12"});
      c.push_back({ColumnKind::kDayOfMonth, 0, "day_of_month", "day of the month, from 1 to 31"});
      c.push_back(is_holiday());
      c.push_back(is_payday());
      c.push_back(promo());
      c.push_back(discount_vs_max56());
      c.push_back(item_category());
      break;
    }
    case FeatureSpace::kCompact:
      append(c, ewms());
      c.push_back(roll_mean(7));
      c.push_back(roll_mean(28));
      c.push_back(dow_sin());
      c.push_back(dow_cos());
      c.push_back(price_rel_28());
      c.push_back(promo());
      break;
  }
  return c;
}

// ---- the users' feature engineerings ------------------------------------------
// Written as another analyst would: their own column names and their own
// phrasing, describing honestly what each column computes.

Columns make_columns(UserFeatureSpace space) {
  switch (space) {
    case UserFeatureSpace::kPosDaily:
      return {{ColumnKind::kLag, 1, "units_yesterday", "units of the item sold yesterday"},
              {ColumnKind::kLag, 2, "units_2_days_ago", "units of the item sold two days ago"},
              {ColumnKind::kLag, 3, "units_3_days_ago", "units of the item sold three days ago"},
              {ColumnKind::kLag, 7, "units_7_days_ago", "units of the item sold on the same weekday last week"},
              {ColumnKind::kRollSum, 7, "week_total_units", "total units sold in the last week"},
              {ColumnKind::kRollMean, 14, "fortnight_avg_units",
               "average number of units sold per day in the last two weeks"},
              {ColumnKind::kWeekday, 0, "weekday_index", "weekday number, Monday is 0 and Sunday is 6"},
              {ColumnKind::kIsWeekend, 0, "sat_or_sun", "1 on Saturdays and Sundays, otherwise 0"},
              {ColumnKind::kIsHoliday, 0, "public_holiday", "1 if the date is a public holiday"},
              {ColumnKind::kIsPayday, 0, "pay_day", "1 on a payday, when wages or benefits are paid"},
              {ColumnKind::kPriceOverBase, 0, "price_vs_base",
               "ratio of today's selling price to the item's base price"},
              {ColumnKind::kPromo, 0, "on_promotion", "1 when the item is on promotion today"}};
    case UserFeatureSpace::kPosTrend:
      return {{ColumnKind::kRollMean, 7, "avg_units_7d", "average units sold per day in the last week"},
              {ColumnKind::kRollMean, 28, "avg_units_28d", "average units sold per day in the last four weeks"},
              {ColumnKind::kMeanChange, 7, "wow_change",
               "last week's average daily units minus the average of the week before"},
              {ColumnKind::kSumLogRatio, 7, "wow_log_ratio",
               "log of one plus last week's units over one plus the units of the week before"},
              {ColumnKind::kTrendSlope, 28, "trend_slope_28d",
               "least squares slope of daily units sold over the last four weeks, in units per day"},
              {ColumnKind::kEwm, 2, "ewma_hl2",
               "exponential moving average of daily units, weights halving every two days"},
              {ColumnKind::kEwm, 14, "ewma_hl14",
               "exponential moving average of daily units, weights halving every 14 days"},
              {ColumnKind::kEwmLogRatio, 2, "ewma_short_long_ratio",
               "log of one plus the fast moving average over one plus the slow moving average of units", 14},
              {ColumnKind::kZeroFrac, 14, "zero_share_14d", "share of the last two weeks on which nothing was sold"},
              {ColumnKind::kDaysSinceSale, 56, "days_since_last_sale",
               "days since the item last sold at least one unit, at most 56"},
              {ColumnKind::kRollStd, 28, "volatility_28d", "standard deviation of daily units in the last four weeks"},
              {ColumnKind::kLagMinusMean, 7, "yesterday_vs_week_avg",
               "units sold yesterday minus the average daily units of the last week"},
              {ColumnKind::kSameWeekdayMinusMean, 4, "weekday_effect_4w",
               "average units on this weekday in the last four weeks minus the average of all days in those weeks"},
              {ColumnKind::kStoreTrafficChange, 7, "store_momentum",
               "whole store average units per item and day in the last week minus that of the last four weeks", 28},
              {ColumnKind::kDowSin, 0, "weekday_sin", "sine of the weekday position on a seven day cycle"},
              {ColumnKind::kDowCos, 0, "weekday_cos", "cosine of the weekday position on a seven day cycle"},
              {ColumnKind::kPriceChange, 28, "price_trend_28d",
               "log change of the selling price compared with four weeks ago"},
              {ColumnKind::kPromo, 0, "promotion_today", "1 if the item is promoted today"}};
    case UserFeatureSpace::kPosPromo:
      return {{ColumnKind::kDiscountVsMax, 28, "discount_depth_28d",
               "how far today's selling price is below the highest price of the last four weeks, as a fraction"},
              {ColumnKind::kDaysSincePromo, 56, "days_since_promo",
               "days since the item was last on promotion before today, at most 56"},
              {ColumnKind::kPromoRunLength, 0, "promo_run_length",
               "consecutive days up to today with a promotion running; 0 without a promotion today"},
              {ColumnKind::kDaysSincePriceChange, 56, "days_since_price_change",
               "days since the selling price last changed, 0 if it changed today, at most 56"},
              {ColumnKind::kPricePercentile, 56, "price_percentile_56d",
               "share of the last 56 days on which the price was at or below today's price"},
              {ColumnKind::kLogPrice, 0, "price_log", "natural log of today's selling price"},
              {ColumnKind::kDaysToHoliday, 30, "days_to_holiday",
               "days until the next public holiday, 0 on the holiday itself, at most 30"},
              {ColumnKind::kDaysSinceHoliday, 30, "days_after_holiday",
               "days since the most recent public holiday, 0 on the holiday itself, at most 30"},
              {ColumnKind::kPromoDays, 28, "promo_count_28d", "number of days with a promotion in the last four weeks"},
              {ColumnKind::kLag, 1, "qty_prev_day", "quantity sold the day before"},
              {ColumnKind::kLag, 7, "qty_prev_week_same_day", "quantity sold on the same weekday one week earlier"}};
  }
  return {};
}

const std::vector<FeatureSpace>& all_spaces(FeatureSpace) { return all_feature_spaces(); }
const std::vector<UserFeatureSpace>& all_spaces(UserFeatureSpace) { return all_user_feature_spaces(); }

template <class Space>
const Columns& columns_of(Space space) {
  static const std::vector<Columns> all = [] {
    std::vector<Columns> v;
    for (Space s : all_spaces(Space{})) v.push_back(make_columns(s));
    return v;
  }();
  return all[static_cast<std::size_t>(space)];
}

// Names and descriptions of every space's columns, [space][column].
struct ColumnTexts {
  std::vector<std::vector<std::string>> names, descriptions;
};

template <class Space>
const ColumnTexts& column_texts() {
  static const ColumnTexts texts = [] {
    ColumnTexts t;
    for (Space s : all_spaces(Space{})) {
      auto& names = t.names.emplace_back();
      auto& descriptions = t.descriptions.emplace_back();
      for (const Column& c : columns_of(s)) {
        names.push_back(c.name);
        descriptions.push_back(c.description);
      }
    }
    return t;
  }();
  return texts;
}

// Running sums of one item's series, so every window statistic is O(1) per row.
// prefix[t] holds the sum over days [0, t).
struct ItemHistory {
  std::vector<double> units_sum, units_sq_sum, day_units_sum, zero_count, promo_count, price_sum;
  // Exponentially weighted means (value known on the morning of day t), one
  // series per half-life the columns ask for.
  std::vector<int> ewm_half_lives;
  std::vector<std::vector<double>> ewm;

  double window_sum(const std::vector<double>& prefix, int t, int w) const {
    return prefix[static_cast<std::size_t>(t)] - prefix[static_cast<std::size_t>(t - w)];
  }
  double ewm_at(int half_life, int t) const {
    const auto k = std::find(ewm_half_lives.begin(), ewm_half_lives.end(), half_life) - ewm_half_lives.begin();
    return ewm[static_cast<std::size_t>(k)][static_cast<std::size_t>(t)];
  }
};

// Whole-store and calendar facts of each day, shared by the store's items.
struct StoreDays {
  std::vector<double> units_sum;  // prefix sum over days of the store's units (all items)
  std::vector<int> days_to_holiday, days_since_holiday;  // capped at kHolidayCap
};

constexpr int kHolidayCap = 30;

void exponential_mean(const std::int32_t* u, int n_days, double half_life, std::vector<double>& out) {
  const double a = 1.0 - std::exp2(-1.0 / half_life);
  out.assign(static_cast<std::size_t>(n_days), 0.0);
  // Day 0 has no past; it is never read (rows start at kHistoryDays).
  if (n_days > 1) out[1] = u[0];
  for (int t = 1; t + 1 < n_days; ++t) out[static_cast<std::size_t>(t + 1)] = a * u[t] + (1.0 - a) * out[static_cast<std::size_t>(t)];
}

std::vector<int> ewm_half_lives(const Columns& columns) {
  std::vector<int> out;
  const auto add = [&](int h) {
    if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
  };
  for (const Column& c : columns) {
    if (c.kind == ColumnKind::kEwm) add(c.param);
    if (c.kind == ColumnKind::kEwmLogRatio) {
      add(c.param);
      add(c.param2);
    }
  }
  return out;
}

void build_history(const StoreSales& s, int item, ItemHistory& h) {
  const int n = s.num_days;
  const std::int32_t* u = s.units.data() + s.at(item, 0);
  const double* p = s.price.data() + s.at(item, 0);
  const std::uint8_t* promo = s.promo.data() + s.at(item, 0);
  for (auto* v : {&h.units_sum, &h.units_sq_sum, &h.day_units_sum, &h.zero_count, &h.promo_count, &h.price_sum})
    v->assign(static_cast<std::size_t>(n) + 1, 0.0);
  for (int t = 0; t < n; ++t) {
    const auto i = static_cast<std::size_t>(t);
    const double x = u[t];
    h.units_sum[i + 1] = h.units_sum[i] + x;
    h.units_sq_sum[i + 1] = h.units_sq_sum[i] + x * x;
    h.day_units_sum[i + 1] = h.day_units_sum[i] + t * x;  // integers: exact in double
    h.zero_count[i + 1] = h.zero_count[i] + (u[t] == 0 ? 1.0 : 0.0);
    h.promo_count[i + 1] = h.promo_count[i] + promo[t];
    h.price_sum[i + 1] = h.price_sum[i] + p[t];
  }
  h.ewm.resize(h.ewm_half_lives.size());
  for (std::size_t k = 0; k < h.ewm_half_lives.size(); ++k) exponential_mean(u, n, h.ewm_half_lives[k], h.ewm[k]);
}

std::chrono::sys_days date_of(const DayInfo& d) {
  using namespace std::chrono;
  return sys_days{year{d.year} / month{static_cast<unsigned>(d.month)} / day{static_cast<unsigned>(d.day_of_month)}};
}

StoreDays build_store_days(const StoreSales& s) {
  const int n_days = s.num_days;
  StoreDays out;
  out.units_sum.assign(static_cast<std::size_t>(n_days) + 1, 0.0);
  for (int t = 0; t < n_days; ++t) {
    double day_total = 0.0;
    for (int i = 0; i < s.num_items; ++i) day_total += s.units[s.at(i, t)];
    out.units_sum[static_cast<std::size_t>(t) + 1] = out.units_sum[static_cast<std::size_t>(t)] + day_total;
  }
  // Holidays recur on the same date every year (ChainConfig::holidays), so the
  // look-ahead past the last simulated day uses the dates the calendar shows.
  std::vector<std::pair<int, int>> holiday_dates;
  for (const DayInfo& d : s.calendar)
    if (d.is_holiday) holiday_dates.emplace_back(d.month, d.day_of_month);
  const auto is_holiday = [&](int t) {
    if (t < n_days) return s.calendar[static_cast<std::size_t>(t)].is_holiday;
    const std::chrono::year_month_day ymd{date_of(s.calendar.back()) + std::chrono::days{t - (n_days - 1)}};
    const std::pair<int, int> md{static_cast<int>(static_cast<unsigned>(ymd.month())),
                                 static_cast<int>(static_cast<unsigned>(ymd.day()))};
    return std::find(holiday_dates.begin(), holiday_dates.end(), md) != holiday_dates.end();
  };
  out.days_to_holiday.assign(static_cast<std::size_t>(n_days), kHolidayCap);
  out.days_since_holiday.assign(static_cast<std::size_t>(n_days), kHolidayCap);
  for (int t = 0; t < n_days; ++t) {
    for (int k = 0; k < kHolidayCap; ++k)
      if (is_holiday(t + k)) {
        out.days_to_holiday[static_cast<std::size_t>(t)] = k;
        break;
      }
    for (int k = 0; k < kHolidayCap && k <= t; ++k)
      if (s.calendar[static_cast<std::size_t>(t - k)].is_holiday) {
        out.days_since_holiday[static_cast<std::size_t>(t)] = k;
        break;
      }
  }
  return out;
}

constexpr double kTwoPi = 2.0 * std::numbers::pi;

double column_value(const Column& c, const StoreSales& s, const ItemHistory& h, const StoreDays& store_days,
                    int item, int t) {
  const std::int32_t* u = s.units.data() + s.at(item, 0);
  const double* p = s.price.data() + s.at(item, 0);
  const std::uint8_t* promo = s.promo.data() + s.at(item, 0);
  const DayInfo& d = s.calendar[static_cast<std::size_t>(t)];
  const int w = c.param;
  const auto window_mean = [&](int end, int width) { return h.window_sum(h.units_sum, end, width) / width; };
  const auto first_back = [&](int from, int cap, auto&& found) {
    for (int k = from; k < cap; ++k)
      if (found(t - k)) return k;
    return cap;
  };
  switch (c.kind) {
    case ColumnKind::kLag: return u[t - w];
    case ColumnKind::kRollMean: return h.window_sum(h.units_sum, t, w) / w;
    case ColumnKind::kRollSum: return h.window_sum(h.units_sum, t, w);
    case ColumnKind::kRollStd: {
      const double mean = h.window_sum(h.units_sum, t, w) / w;
      const double var = h.window_sum(h.units_sq_sum, t, w) / w - mean * mean;
      return std::sqrt(std::max(0.0, var));  // prefix-sum cancellation can leave -1e-16
    }
    case ColumnKind::kRollMax: return *std::max_element(u + t - w, u + t);
    case ColumnKind::kZeroFrac: return h.window_sum(h.zero_count, t, w) / w;
    case ColumnKind::kEwm: return h.ewm_at(w, t);
    case ColumnKind::kEwmLogRatio: return std::log((1.0 + h.ewm_at(w, t)) / (1.0 + h.ewm_at(c.param2, t)));
    case ColumnKind::kSameWeekdayMean: {
      double sum = 0.0;
      for (int k = 1; k <= w; ++k) sum += u[t - 7 * k];
      return sum / w;
    }
    case ColumnKind::kSameWeekdayMinusMean: {
      double sum = 0.0;
      for (int k = 1; k <= w; ++k) sum += u[t - 7 * k];
      return sum / w - window_mean(t, 7 * w);
    }
    case ColumnKind::kMeanChange: return window_mean(t, w) - window_mean(t - w, w);
    case ColumnKind::kSumLogRatio:
      return std::log((1.0 + h.window_sum(h.units_sum, t, w)) / (1.0 + h.window_sum(h.units_sum, t - w, w)));
    case ColumnKind::kTrendSlope: {
      // Least squares of u[j] on j over j in [t-w, t-1]: the sums come from
      // prefix sums, sum (j - mean j)^2 = w (w^2 - 1) / 12.
      const double sum_u = h.window_sum(h.units_sum, t, w);
      const double sum_ju = h.window_sum(h.day_units_sum, t, w);
      const double mean_j = t - (w + 1) / 2.0;
      return (sum_ju - mean_j * sum_u) / (w * (static_cast<double>(w) * w - 1.0) / 12.0);
    }
    case ColumnKind::kLagMinusMean: return u[t - 1] - window_mean(t, w);
    case ColumnKind::kDaysSinceSale: return first_back(1, w, [&](int j) { return u[j] > 0; });
    case ColumnKind::kDowSin: return std::sin(kTwoPi * d.weekday / 7.0);
    case ColumnKind::kDowCos: return std::cos(kTwoPi * d.weekday / 7.0);
    case ColumnKind::kDoySin: return std::sin(kTwoPi * d.day_of_year / 365.25);
    case ColumnKind::kDoyCos: return std::cos(kTwoPi * d.day_of_year / 365.25);
    case ColumnKind::kIsWeekend: return d.weekday >= 5 ? 1.0 : 0.0;
    case ColumnKind::kIsHoliday: return d.is_holiday ? 1.0 : 0.0;
    case ColumnKind::kIsPreHoliday: return d.is_pre_holiday ? 1.0 : 0.0;
    case ColumnKind::kIsPayday: return d.is_payday ? 1.0 : 0.0;
    case ColumnKind::kDowOneHot: return d.weekday == w ? 1.0 : 0.0;
    case ColumnKind::kWeekday: return d.weekday;
    case ColumnKind::kMonth: return d.month;
    case ColumnKind::kDayOfMonth: return d.day_of_month;
    case ColumnKind::kDaysToHoliday: return std::min(w, store_days.days_to_holiday[static_cast<std::size_t>(t)]);
    case ColumnKind::kDaysSinceHoliday: return std::min(w, store_days.days_since_holiday[static_cast<std::size_t>(t)]);
    case ColumnKind::kLogPrice: return std::log(p[t]);
    case ColumnKind::kPriceOverBase: return p[t] / s.item_base_price[static_cast<std::size_t>(item)];
    case ColumnKind::kPriceRel: return std::log(p[t] / (h.window_sum(h.price_sum, t, w) / w));
    case ColumnKind::kDiscountVsMax: return 1.0 - p[t] / *std::max_element(p + t - w, p + t);
    case ColumnKind::kPricePercentile:
      return static_cast<double>(std::count_if(p + t - w, p + t, [&](double q) { return q <= p[t]; })) / w;
    case ColumnKind::kDaysSincePriceChange: return first_back(0, w, [&](int j) { return p[j] != p[j - 1]; });
    case ColumnKind::kPromo: return promo[t];
    case ColumnKind::kPromoDays: return h.window_sum(h.promo_count, t, w);
    case ColumnKind::kDaysSincePromo: return first_back(1, w, [&](int j) { return promo[j] != 0; });
    case ColumnKind::kPromoRunLength: {
      int run = 0;
      while (run <= t && promo[t - run]) ++run;
      return run;
    }
    case ColumnKind::kPriceChange: return std::log(p[t] / p[t - w]);
    case ColumnKind::kItemCategory: return s.item_category[static_cast<std::size_t>(item)];
    case ColumnKind::kStoreTraffic: {
      const auto& sum = store_days.units_sum;
      return (sum[static_cast<std::size_t>(t)] - sum[static_cast<std::size_t>(t - w)]) /
             (static_cast<double>(w) * s.num_items);
    }
    case ColumnKind::kStoreTrafficChange: {
      const auto& sum = store_days.units_sum;
      const auto mean = [&](int width) {
        return (sum[static_cast<std::size_t>(t)] - sum[static_cast<std::size_t>(t - width)]) /
               (static_cast<double>(width) * s.num_items);
      };
      return mean(w) - mean(c.param2);
    }
  }
  return 0.0;
}

void check_store(const StoreSales& s) {
  const auto cells = static_cast<std::size_t>(s.num_items) * static_cast<std::size_t>(s.num_days);
  if (s.num_items < 1 || s.num_days < 1 || s.units.size() != cells || s.price.size() != cells ||
      s.promo.size() != cells || s.calendar.size() != static_cast<std::size_t>(s.num_days) ||
      s.item_category.size() != static_cast<std::size_t>(s.num_items))
    throw Error("store '" + s.store_id + "': sales arrays do not match " + std::to_string(s.num_items) + " items x " +
                std::to_string(s.num_days) + " days");
  for (double p : s.price)
    if (!(p > 0.0) || !std::isfinite(p)) throw Error("store '" + s.store_id + "': prices must be finite and > 0");
}


// Rows of one store over `columns`: the loop both build_features and
// build_user_features run, so a user's rows line up with the market's.
StoreDataset build_rows(const StoreSales& store, const Columns& columns, std::vector<std::string> column_names,
                        LabelSpace label, const SplitConfig& split) {
  check_store(store);
  if (split.test_days < 1)
    throw Error("test_days must be >= 1 (got " + std::to_string(split.test_days) + ")");
  const int n_days = store.num_days;
  const int n_items = store.num_items;
  const int first_test_day = n_days - split.test_days;
  if (first_test_day <= kHistoryDays)
    throw Error("store '" + store.store_id + "' has " + std::to_string(n_days) + " days; " +
                std::to_string(kHistoryDays) + " days of history plus " + std::to_string(split.test_days) +
                " test days leave no training rows");

  const auto width = static_cast<std::int64_t>(columns.size());
  const std::int64_t train_rows = static_cast<std::int64_t>(first_test_day - kHistoryDays) * n_items;
  const std::int64_t test_rows = static_cast<std::int64_t>(split.test_days) * n_items;

  StoreDataset out;
  out.column_names = std::move(column_names);
  out.label_name = std::string(to_string(label));
  out.x_train = kernels::Matrix<double>(train_rows, width);
  out.x_test = kernels::Matrix<double>(test_rows, width);
  out.y_train.resize(static_cast<std::size_t>(train_rows));
  out.y_test.resize(static_cast<std::size_t>(test_rows));
  out.train_day.resize(static_cast<std::size_t>(train_rows));
  out.test_day.resize(static_cast<std::size_t>(test_rows));
  out.train_item.resize(static_cast<std::size_t>(train_rows));
  out.test_item.resize(static_cast<std::size_t>(test_rows));

  const StoreDays store_days = build_store_days(store);
  ItemHistory history;
  history.ewm_half_lives = ewm_half_lives(columns);
  for (int i = 0; i < n_items; ++i) {
    build_history(store, i, history);
    for (int t = kHistoryDays; t < n_days; ++t) {
      const bool is_test = t >= first_test_day;
      const std::int64_t row = is_test ? static_cast<std::int64_t>(t - first_test_day) * n_items + i
                                       : static_cast<std::int64_t>(t - kHistoryDays) * n_items + i;
      double* x = is_test ? out.x_test.row(row) : out.x_train.row(row);
      for (std::int64_t j = 0; j < width; ++j)
        x[j] = column_value(columns[static_cast<std::size_t>(j)], store, history, store_days, i, t);
      const auto r = static_cast<std::size_t>(row);
      (is_test ? out.y_test : out.y_train)[r] = label_value(label, store.units[store.at(i, t)]);
      (is_test ? out.test_day : out.train_day)[r] = t;
      (is_test ? out.test_item : out.train_item)[r] = i;
    }
  }
  return out;
}

template <class Space>
std::string space_names(const std::vector<Space>& spaces) {
  std::string out;
  for (Space s : spaces) out += (out.empty() ? "" : ", ") + std::string(to_string(s));
  return out;
}

}  // namespace

std::string_view to_string(FeatureSpace space) {
  switch (space) {
    case FeatureSpace::kLagCalendar: return "lag_calendar";
    case FeatureSpace::kRollingPrice: return "rolling_price";
    case FeatureSpace::kFull: return "full";
    case FeatureSpace::kWeeklyOneHot: return "weekly_onehot";
    case FeatureSpace::kCompact: return "compact";
  }
  return "unknown";
}

std::string_view to_string(UserFeatureSpace space) {
  switch (space) {
    case UserFeatureSpace::kPosDaily: return "pos_daily";
    case UserFeatureSpace::kPosTrend: return "pos_trend";
    case UserFeatureSpace::kPosPromo: return "pos_promo";
  }
  return "unknown";
}

std::string_view to_string(LabelSpace space) {
  switch (space) {
    case LabelSpace::kUnits: return "units";
    case LabelSpace::kLog1pUnits: return "log1p_units";
  }
  return "unknown";
}

FeatureSpace parse_feature_space(std::string_view name) {
  for (FeatureSpace s : all_feature_spaces())
    if (name == to_string(s)) return s;
  throw Error("unknown feature space '" + std::string(name) +
              "'; expected one of: " + space_names(all_feature_spaces()));
}

UserFeatureSpace parse_user_feature_space(std::string_view name) {
  for (UserFeatureSpace s : all_user_feature_spaces())
    if (name == to_string(s)) return s;
  throw Error("unknown user feature space '" + std::string(name) +
              "'; expected one of: " + space_names(all_user_feature_spaces()));
}

LabelSpace parse_label_space(std::string_view name) {
  for (LabelSpace s : all_label_spaces())
    if (name == to_string(s)) return s;
  throw Error("unknown label space '" + std::string(name) + "'; expected one of: units, log1p_units");
}

const std::vector<FeatureSpace>& all_feature_spaces() {
  static const std::vector<FeatureSpace> spaces{FeatureSpace::kLagCalendar, FeatureSpace::kRollingPrice,
                                                FeatureSpace::kFull, FeatureSpace::kWeeklyOneHot,
                                                FeatureSpace::kCompact};
  return spaces;
}

const std::vector<UserFeatureSpace>& all_user_feature_spaces() {
  static const std::vector<UserFeatureSpace> spaces{UserFeatureSpace::kPosDaily, UserFeatureSpace::kPosTrend,
                                                    UserFeatureSpace::kPosPromo};
  return spaces;
}

const std::vector<LabelSpace>& all_label_spaces() {
  static const std::vector<LabelSpace> spaces{LabelSpace::kUnits, LabelSpace::kLog1pUnits};
  return spaces;
}

const std::vector<std::string>& feature_columns(FeatureSpace space) {
  return column_texts<FeatureSpace>().names[static_cast<std::size_t>(space)];
}

const std::vector<std::string>& feature_columns(UserFeatureSpace space) {
  return column_texts<UserFeatureSpace>().names[static_cast<std::size_t>(space)];
}

const std::vector<std::string>& feature_descriptions(FeatureSpace space) {
  return column_texts<FeatureSpace>().descriptions[static_cast<std::size_t>(space)];
}

const std::vector<std::string>& feature_descriptions(UserFeatureSpace space) {
  return column_texts<UserFeatureSpace>().descriptions[static_cast<std::size_t>(space)];
}

std::int64_t feature_width(FeatureSpace space) { return static_cast<std::int64_t>(columns_of(space).size()); }

std::int64_t feature_width(UserFeatureSpace space) { return static_cast<std::int64_t>(columns_of(space).size()); }

double label_value(LabelSpace space, double units) {
  return space == LabelSpace::kUnits ? units : std::log1p(units);
}

StoreDataset build_features(const StoreSales& store, FeatureSpace space, LabelSpace label, const SplitConfig& split) {
  return build_rows(store, columns_of(space), feature_columns(space), label, split);
}

StoreDataset build_user_features(const StoreSales& store, UserFeatureSpace space, LabelSpace label,
                                 const SplitConfig& split) {
  return build_rows(store, columns_of(space), feature_columns(space), label, split);
}

}  // namespace lwd::datasets

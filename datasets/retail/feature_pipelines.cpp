#include "datasets/retail/feature_pipelines.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/error.h"

namespace lwd::datasets {

namespace {

enum class ColumnKind {
  kLag,              // param: k
  kRollMean,         // param: window
  kRollStd,          // param: window
  kRollMax,          // param: window
  kZeroFrac,         // param: window
  kEwm,              // param: half-life in days
  kSameWeekdayMean,  // param: number of weeks
  kDowSin,
  kDowCos,
  kDoySin,
  kDoyCos,
  kIsWeekend,
  kIsHoliday,
  kIsPreHoliday,
  kIsPayday,
  kDowOneHot,  // param: weekday 0..6
  kMonth,
  kDayOfMonth,
  kLogPrice,
  kPriceRel,       // param: window
  kDiscountVsMax,  // param: window
  kPromo,
  kPromoDays,    // param: window
  kPriceChange,  // param: days back
  kItemCategory,
  kStoreTraffic,  // param: window
};

struct Column {
  ColumnKind kind;
  int param;
  std::string name;
};

using Columns = std::vector<Column>;

void append(Columns& to, const Columns& from) { to.insert(to.end(), from.begin(), from.end()); }

Columns lags(std::initializer_list<int> ks) {
  Columns out;
  for (int k : ks) out.push_back({ColumnKind::kLag, k, "lag_" + std::to_string(k)});
  return out;
}

Columns ewms() {
  return {{ColumnKind::kEwm, 3, "ewm_3"}, {ColumnKind::kEwm, 7, "ewm_7"}, {ColumnKind::kEwm, 28, "ewm_28"}};
}

Columns rolling_statistics() {
  return {{ColumnKind::kRollMean, 7, "roll_mean_7"},   {ColumnKind::kRollMean, 14, "roll_mean_14"},
          {ColumnKind::kRollMean, 28, "roll_mean_28"}, {ColumnKind::kRollMean, 56, "roll_mean_56"},
          {ColumnKind::kRollStd, 7, "roll_std_7"},     {ColumnKind::kRollStd, 28, "roll_std_28"},
          {ColumnKind::kRollMax, 7, "roll_max_7"},     {ColumnKind::kZeroFrac, 28, "zero_frac_28"}};
}

Columns cyclic_calendar() {
  return {{ColumnKind::kDowSin, 0, "dow_sin"},         {ColumnKind::kDowCos, 0, "dow_cos"},
          {ColumnKind::kDoySin, 0, "doy_sin"},         {ColumnKind::kDoyCos, 0, "doy_cos"},
          {ColumnKind::kIsWeekend, 0, "is_weekend"},   {ColumnKind::kIsHoliday, 0, "is_holiday"},
          {ColumnKind::kIsPreHoliday, 0, "is_pre_holiday"}, {ColumnKind::kIsPayday, 0, "is_payday"}};
}

Columns price_features() {
  return {{ColumnKind::kLogPrice, 0, "log_price"},
          {ColumnKind::kPriceRel, 28, "price_rel_28"},
          {ColumnKind::kDiscountVsMax, 56, "discount_vs_max56"},
          {ColumnKind::kPromo, 0, "promo"},
          {ColumnKind::kPromoDays, 7, "promo_days_7"},
          {ColumnKind::kPriceChange, 7, "price_change_7"}};
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
      c.push_back({ColumnKind::kItemCategory, 0, "item_category"});
      c.push_back({ColumnKind::kStoreTraffic, 28, "store_traffic_28"});
      break;
    case FeatureSpace::kWeeklyOneHot: {
      append(c, lags({7, 14, 21, 28}));
      c.push_back({ColumnKind::kSameWeekdayMean, 8, "same_weekday_mean_8"});
      append(c, ewms());
      static const char* const kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
      for (int d = 0; d < 7; ++d) c.push_back({ColumnKind::kDowOneHot, d, std::string("dow_") + kDays[d]});
      c.push_back({ColumnKind::kMonth, 0, "month"});
      c.push_back({ColumnKind::kDayOfMonth, 0, "day_of_month"});
      c.push_back({ColumnKind::kIsHoliday, 0, "is_holiday"});
      c.push_back({ColumnKind::kIsPayday, 0, "is_payday"});
      c.push_back({ColumnKind::kPromo, 0, "promo"});
      c.push_back({ColumnKind::kDiscountVsMax, 56, "discount_vs_max56"});
      c.push_back({ColumnKind::kItemCategory, 0, "item_category"});
      break;
    }
    case FeatureSpace::kCompact:
      append(c, ewms());
      c.push_back({ColumnKind::kRollMean, 7, "roll_mean_7"});
      c.push_back({ColumnKind::kRollMean, 28, "roll_mean_28"});
      c.push_back({ColumnKind::kDowSin, 0, "dow_sin"});
      c.push_back({ColumnKind::kDowCos, 0, "dow_cos"});
      c.push_back({ColumnKind::kPriceRel, 28, "price_rel_28"});
      c.push_back({ColumnKind::kPromo, 0, "promo"});
      break;
  }
  return c;
}

const Columns& columns_of(FeatureSpace space) {
  static const std::vector<Columns> all = [] {
    std::vector<Columns> v;
    for (FeatureSpace s : all_feature_spaces()) v.push_back(make_columns(s));
    return v;
  }();
  return all[static_cast<std::size_t>(space)];
}

// Running sums of one item's series, so every window statistic is O(1) per row.
// prefix[t] holds the sum over days [0, t).
struct ItemHistory {
  std::vector<double> units_sum, units_sq_sum, zero_count, promo_count, price_sum;
  std::vector<double> ewm3, ewm7, ewm28;  // value known on the morning of day t

  double window_sum(const std::vector<double>& prefix, int t, int w) const {
    return prefix[static_cast<std::size_t>(t)] - prefix[static_cast<std::size_t>(t - w)];
  }
};

void exponential_mean(const std::int32_t* u, int n_days, double half_life, std::vector<double>& out) {
  const double a = 1.0 - std::exp2(-1.0 / half_life);
  out.assign(static_cast<std::size_t>(n_days), 0.0);
  // Day 0 has no past; it is never read (rows start at kHistoryDays).
  if (n_days > 1) out[1] = u[0];
  for (int t = 1; t + 1 < n_days; ++t) out[static_cast<std::size_t>(t + 1)] = a * u[t] + (1.0 - a) * out[static_cast<std::size_t>(t)];
}

void build_history(const StoreSales& s, int item, ItemHistory& h) {
  const int n = s.num_days;
  const std::int32_t* u = s.units.data() + s.at(item, 0);
  const double* p = s.price.data() + s.at(item, 0);
  const std::uint8_t* promo = s.promo.data() + s.at(item, 0);
  for (auto* v : {&h.units_sum, &h.units_sq_sum, &h.zero_count, &h.promo_count, &h.price_sum})
    v->assign(static_cast<std::size_t>(n) + 1, 0.0);
  for (int t = 0; t < n; ++t) {
    const auto i = static_cast<std::size_t>(t);
    const double x = u[t];
    h.units_sum[i + 1] = h.units_sum[i] + x;
    h.units_sq_sum[i + 1] = h.units_sq_sum[i] + x * x;
    h.zero_count[i + 1] = h.zero_count[i] + (u[t] == 0 ? 1.0 : 0.0);
    h.promo_count[i + 1] = h.promo_count[i] + promo[t];
    h.price_sum[i + 1] = h.price_sum[i] + p[t];
  }
  exponential_mean(u, n, 3.0, h.ewm3);
  exponential_mean(u, n, 7.0, h.ewm7);
  exponential_mean(u, n, 28.0, h.ewm28);
}

constexpr double kTwoPi = 2.0 * std::numbers::pi;

double column_value(const Column& c, const StoreSales& s, const ItemHistory& h,
                    const std::vector<double>& store_units_sum, int item, int t) {
  const std::int32_t* u = s.units.data() + s.at(item, 0);
  const double* p = s.price.data() + s.at(item, 0);
  const DayInfo& d = s.calendar[static_cast<std::size_t>(t)];
  const int w = c.param;
  switch (c.kind) {
    case ColumnKind::kLag: return u[t - w];
    case ColumnKind::kRollMean: return h.window_sum(h.units_sum, t, w) / w;
    case ColumnKind::kRollStd: {
      const double mean = h.window_sum(h.units_sum, t, w) / w;
      const double var = h.window_sum(h.units_sq_sum, t, w) / w - mean * mean;
      return std::sqrt(std::max(0.0, var));  // prefix-sum cancellation can leave -1e-16
    }
    case ColumnKind::kRollMax: return *std::max_element(u + t - w, u + t);
    case ColumnKind::kZeroFrac: return h.window_sum(h.zero_count, t, w) / w;
    case ColumnKind::kEwm:
      return w == 3 ? h.ewm3[static_cast<std::size_t>(t)]
             : w == 7 ? h.ewm7[static_cast<std::size_t>(t)]
                      : h.ewm28[static_cast<std::size_t>(t)];
    case ColumnKind::kSameWeekdayMean: {
      double sum = 0.0;
      for (int k = 1; k <= w; ++k) sum += u[t - 7 * k];
      return sum / w;
    }
    case ColumnKind::kDowSin: return std::sin(kTwoPi * d.weekday / 7.0);
    case ColumnKind::kDowCos: return std::cos(kTwoPi * d.weekday / 7.0);
    case ColumnKind::kDoySin: return std::sin(kTwoPi * d.day_of_year / 365.25);
    case ColumnKind::kDoyCos: return std::cos(kTwoPi * d.day_of_year / 365.25);
    case ColumnKind::kIsWeekend: return d.weekday >= 5 ? 1.0 : 0.0;
    case ColumnKind::kIsHoliday: return d.is_holiday ? 1.0 : 0.0;
    case ColumnKind::kIsPreHoliday: return d.is_pre_holiday ? 1.0 : 0.0;
    case ColumnKind::kIsPayday: return d.is_payday ? 1.0 : 0.0;
    case ColumnKind::kDowOneHot: return d.weekday == w ? 1.0 : 0.0;
    case ColumnKind::kMonth: return d.month;
    case ColumnKind::kDayOfMonth: return d.day_of_month;
    case ColumnKind::kLogPrice: return std::log(p[t]);
    case ColumnKind::kPriceRel: return std::log(p[t] / (h.window_sum(h.price_sum, t, w) / w));
    case ColumnKind::kDiscountVsMax: return 1.0 - p[t] / *std::max_element(p + t - w, p + t);
    case ColumnKind::kPromo: return s.promo[s.at(item, t)];
    case ColumnKind::kPromoDays: return h.window_sum(h.promo_count, t, w);
    case ColumnKind::kPriceChange: return std::log(p[t] / p[t - w]);
    case ColumnKind::kItemCategory: return s.item_category[static_cast<std::size_t>(item)];
    case ColumnKind::kStoreTraffic:
      return (store_units_sum[static_cast<std::size_t>(t)] - store_units_sum[static_cast<std::size_t>(t - w)]) /
             (static_cast<double>(w) * s.num_items);
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
              "'; expected one of: lag_calendar, rolling_price, full, weekly_onehot, compact");
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

const std::vector<LabelSpace>& all_label_spaces() {
  static const std::vector<LabelSpace> spaces{LabelSpace::kUnits, LabelSpace::kLog1pUnits};
  return spaces;
}

const std::vector<std::string>& feature_columns(FeatureSpace space) {
  static const std::vector<std::vector<std::string>> names = [] {
    std::vector<std::vector<std::string>> v;
    for (FeatureSpace s : all_feature_spaces()) {
      std::vector<std::string> n;
      for (const Column& c : columns_of(s)) n.push_back(c.name);
      v.push_back(std::move(n));
    }
    return v;
  }();
  return names[static_cast<std::size_t>(space)];
}

std::int64_t feature_width(FeatureSpace space) { return static_cast<std::int64_t>(columns_of(space).size()); }

double label_value(LabelSpace space, double units) {
  return space == LabelSpace::kUnits ? units : std::log1p(units);
}

StoreDataset build_features(const StoreSales& store, FeatureSpace space, LabelSpace label, const SplitConfig& split) {
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

  const Columns& columns = columns_of(space);
  const auto width = static_cast<std::int64_t>(columns.size());
  const std::int64_t train_rows = static_cast<std::int64_t>(first_test_day - kHistoryDays) * n_items;
  const std::int64_t test_rows = static_cast<std::int64_t>(split.test_days) * n_items;

  StoreDataset out;
  out.column_names = feature_columns(space);
  out.label_name = std::string(to_string(label));
  out.x_train = kernels::Matrix<double>(train_rows, width);
  out.x_test = kernels::Matrix<double>(test_rows, width);
  out.y_train.resize(static_cast<std::size_t>(train_rows));
  out.y_test.resize(static_cast<std::size_t>(test_rows));
  out.train_day.resize(static_cast<std::size_t>(train_rows));
  out.test_day.resize(static_cast<std::size_t>(test_rows));
  out.train_item.resize(static_cast<std::size_t>(train_rows));
  out.test_item.resize(static_cast<std::size_t>(test_rows));

  // Whole-store units per day, as a prefix sum for store_traffic_28.
  std::vector<double> store_units_sum(static_cast<std::size_t>(n_days) + 1, 0.0);
  for (int t = 0; t < n_days; ++t) {
    double day_total = 0.0;
    for (int i = 0; i < n_items; ++i) day_total += store.units[store.at(i, t)];
    store_units_sum[static_cast<std::size_t>(t) + 1] = store_units_sum[static_cast<std::size_t>(t)] + day_total;
  }

  ItemHistory history;
  for (int i = 0; i < n_items; ++i) {
    build_history(store, i, history);
    for (int t = kHistoryDays; t < n_days; ++t) {
      const bool is_test = t >= first_test_day;
      const std::int64_t row = is_test ? static_cast<std::int64_t>(t - first_test_day) * n_items + i
                                       : static_cast<std::int64_t>(t - kHistoryDays) * n_items + i;
      double* x = is_test ? out.x_test.row(row) : out.x_train.row(row);
      for (std::int64_t j = 0; j < width; ++j)
        x[j] = column_value(columns[static_cast<std::size_t>(j)], store, history, store_units_sum, i, t);
      const auto r = static_cast<std::size_t>(row);
      (is_test ? out.y_test : out.y_train)[r] = label_value(label, store.units[store.at(i, t)]);
      (is_test ? out.test_day : out.train_day)[r] = t;
      (is_test ? out.test_item : out.train_item)[r] = i;
    }
  }
  return out;
}

}  // namespace lwd::datasets

// The specification world: the token-mlp loss's gradient against finite
// differences, the models' invariances, the world's files and how it follows
// the market, and a planted market where the heterogeneous search must rank
// the source of the user's data first.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/hetero/spec_world.h"
#include "engine/hetero/world_model.h"
#include "engine/io/atomic_file.h"
#include "engine/model/linear_model.h"
#include "engine/package/package.h"
#include "engine/warning.h"
#include "tests/support/scratch_dir.h"

namespace lwd::hetero {
namespace {

namespace fs = std::filesystem;

// ---- the token-mlp's loss ----------------------------------------------------

TEST(TokenMlpLoss, TheGradientMatchesCentralDifferences) {
  TokenMlpShape shape;
  shape.embed = 6;
  shape.hidden = 5;
  shape.dim = 3;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> params(static_cast<std::size_t>(shape.parameter_count()));
  for (double& p : params) p = 0.5 * normal(rng);
  const std::int64_t n = 4, c = 5;
  kernels::Matrix<double> values(n, c), t(c, shape.embed), m1(n, c, 0.0), m2(n, c, 0.0);
  for (double& v : values.values()) v = normal(rng);
  for (double& v : t.values()) v = normal(rng);
  for (std::int64_t b = 0; b < n; ++b) {
    for (std::int64_t j = 0; j < c; ++j) {
      m1(b, j) = (b + j) % 2 == 0 || j == 0 ? 1.0 : 0.0;
      m2(b, j) = (b + j) % 3 != 0 || j == 1 ? 1.0 : 0.0;
    }
  }
  std::vector<double> grad;
  const double loss = token_mlp_batch_loss(shape, params, values.view(), t.view(), m1.view(), m2.view(), 0.5, &grad);
  ASSERT_TRUE(std::isfinite(loss));
  ASSERT_EQ(grad.size(), params.size());
  const double h = 1e-6;
  double worst = 0;
  for (std::size_t p = 0; p < params.size(); ++p) {
    std::vector<double> up = params, down = params;
    up[p] += h;
    down[p] -= h;
    const double numeric =
        (token_mlp_batch_loss(shape, up, values.view(), t.view(), m1.view(), m2.view(), 0.5, nullptr) -
         token_mlp_batch_loss(shape, down, values.view(), t.view(), m1.view(), m2.view(), 0.5, nullptr)) /
        (2 * h);
    worst = std::max(worst, std::fabs(numeric - grad[p]) / std::max(1.0, std::fabs(numeric)));
  }
  EXPECT_LT(worst, 1e-6);
}

TEST(TokenMlpLoss, AgreesWithAPlainInfoNce) {
  // One parameter set, every column observed in both views: both views are
  // the same point, and the loss is the plain symmetric InfoNCE of the
  // batch's cosine similarities, computed here by hand.
  TokenMlpShape shape;
  shape.embed = 4;
  shape.hidden = 3;
  shape.dim = 2;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> params(static_cast<std::size_t>(shape.parameter_count()));
  for (double& p : params) p = normal(rng);
  const std::int64_t n = 3, c = 2;
  kernels::Matrix<double> values(n, c), t(c, shape.embed), ones(n, c, 1.0);
  for (double& v : values.values()) v = normal(rng);
  for (double& v : t.values()) v = normal(rng);
  const double tau = 0.7;
  const double loss = token_mlp_batch_loss(shape, params, values.view(), t.view(), ones.view(), ones.view(), tau, nullptr);
  // Forward by hand.
  const auto at = [&](std::size_t offset, std::int64_t r, std::int64_t col, std::int64_t cols) {
    return params[offset + static_cast<std::size_t>(r * cols + col)];
  };
  const std::size_t op = 0, oq = static_cast<std::size_t>(shape.hidden * shape.embed),
                    ow1 = 2 * oq, ob1 = ow1 + static_cast<std::size_t>(shape.hidden * shape.hidden),
                    ow2 = ob1 + static_cast<std::size_t>(shape.hidden),
                    ob2 = ow2 + static_cast<std::size_t>(shape.dim * shape.hidden);
  std::vector<std::vector<double>> z(static_cast<std::size_t>(n));
  for (std::int64_t b = 0; b < n; ++b) {
    std::vector<double> hm(static_cast<std::size_t>(shape.hidden), 0.0);
    for (int k = 0; k < shape.hidden; ++k) {
      for (std::int64_t j = 0; j < c; ++j) {
        double pt = 0, qt = 0;
        for (int e = 0; e < shape.embed; ++e) {
          pt += at(op, k, e, shape.embed) * t(j, e);
          qt += at(oq, k, e, shape.embed) * t(j, e);
        }
        hm[static_cast<std::size_t>(k)] += (values(b, j) * pt + qt) / static_cast<double>(c);
      }
    }
    std::vector<double> r(static_cast<std::size_t>(shape.hidden));
    for (int k = 0; k < shape.hidden; ++k) {
      double a = params[ob1 + static_cast<std::size_t>(k)];
      for (int l = 0; l < shape.hidden; ++l) a += at(ow1, k, l, shape.hidden) * hm[static_cast<std::size_t>(l)];
      r[static_cast<std::size_t>(k)] = std::max(0.0, a);
    }
    double norm = 0;
    for (int o = 0; o < shape.dim; ++o) {
      double v = params[ob2 + static_cast<std::size_t>(o)];
      for (int k = 0; k < shape.hidden; ++k) v += at(ow2, o, k, shape.hidden) * r[static_cast<std::size_t>(k)];
      z[static_cast<std::size_t>(b)].push_back(v);
      norm += v * v;
    }
    for (double& v : z[static_cast<std::size_t>(b)]) v /= std::sqrt(norm);
  }
  double expected = 0;
  for (std::int64_t a = 0; a < n; ++a) {
    double lse = 0;
    for (std::int64_t b = 0; b < n; ++b) {
      double dot = 0;
      for (int o = 0; o < shape.dim; ++o) dot += z[a][o] * z[b][o];
      lse += std::exp(dot / tau);
    }
    double self = 0;
    for (int o = 0; o < shape.dim; ++o) self += z[a][o] * z[a][o];
    expected += -(self / tau - std::log(lse));  // rows and columns are the same here
  }
  expected /= static_cast<double>(n);
  EXPECT_NEAR(loss, expected, 1e-12);
}

// ---- the models ---------------------------------------------------------------

std::vector<WorldTable> synthetic_tables() {
  std::vector<WorldTable> tables;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  const std::vector<std::vector<std::string>> spaces = {
      {"units sold one day before", "shelf price today", "day of the week"},
      {"mean units sold over the previous week", "whether a promotion runs today", "shelf price today",
       "units sold one day before"}};
  for (int k = 0; k < 6; ++k) {
    const auto& d = spaces[static_cast<std::size_t>(k % 2)];
    WorldTable t;
    t.id = "t" + std::to_string(k);
    t.descriptions = d;
    t.z = kernels::Matrix<double>(12, static_cast<std::int64_t>(d.size()));
    for (double& v : t.z.values()) v = 2.0 * k + normal(rng);
    t.beta.assign(12, 1.0 / 12);
    tables.push_back(std::move(t));
  }
  return tables;
}

class WorldModelKinds : public ::testing::TestWithParam<std::string> {};

TEST_P(WorldModelKinds, MapsAPermutedTableWithPermutedDescriptionsToTheSamePoints) {
  WorldTrainOptions options;
  options.dim = 4;
  options.hidden = 8;
  options.epochs = 2;
  options.batch = 8;
  const std::vector<WorldTable> tables = synthetic_tables();
  const auto model = train_world_model(GetParam(), tables, options, {});
  ASSERT_EQ(model->dim(), 4);
  const WorldTable& t = tables[1];
  const std::vector<int> perm = {2, 0, 3, 1};
  kernels::Matrix<double> xp(t.z.rows(), t.z.cols());
  std::vector<std::string> dp;
  for (std::size_t j = 0; j < perm.size(); ++j) {
    dp.push_back(t.descriptions[static_cast<std::size_t>(perm[j])]);
    for (std::int64_t i = 0; i < t.z.rows(); ++i) xp(i, static_cast<std::int64_t>(j)) = t.z(i, perm[j]);
  }
  const kernels::Matrix<double> a = model->map(t.z.view(), t.descriptions, {});
  const kernels::Matrix<double> b = model->map(xp.view(), dp, {});
  ASSERT_EQ(a.rows(), t.z.rows());
  for (std::int64_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a.data()[i], b.data()[i], 1e-9);
}

TEST_P(WorldModelKinds, TheJsonRoundTripMapsTheSame) {
  WorldTrainOptions options;
  options.dim = 3;
  options.hidden = 6;
  options.epochs = 1;
  options.batch = 8;
  const std::vector<WorldTable> tables = synthetic_tables();
  const auto model = train_world_model(GetParam(), tables, options, {});
  const auto again = world_model_from_json(nlohmann::json::parse(world_model_to_json(*model).dump()), "test");
  EXPECT_EQ(again->kind(), model->kind());
  const kernels::Matrix<double> a = model->map(tables[2].z.view(), tables[2].descriptions, {});
  const kernels::Matrix<double> b = again->map(tables[2].z.view(), tables[2].descriptions, {});
  for (std::int64_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a.data()[i], b.data()[i], 1e-12);
}

TEST_P(WorldModelKinds, TrainingIsDeterministic) {
  WorldTrainOptions options;
  options.dim = 3;
  options.hidden = 6;
  options.epochs = 2;
  options.batch = 8;
  const std::vector<WorldTable> tables = synthetic_tables();
  const auto a = train_world_model(GetParam(), tables, options, kernels::Context{.n_threads = 1});
  const auto b = train_world_model(GetParam(), tables, options, kernels::Context{.n_threads = 2});
  EXPECT_EQ(world_model_to_json(*a).dump(), world_model_to_json(*b).dump());
}

TEST_P(WorldModelKinds, BadInputIsAClearError) {
  WorldTrainOptions options;
  options.dim = 3;
  options.epochs = 1;
  options.batch = 8;
  std::vector<WorldTable> tables = synthetic_tables();
  const auto model = train_world_model(GetParam(), tables, options, {});
  const std::vector<std::string> two = {"a", "b"};
  EXPECT_THROW(model->map(tables[0].z.view(), two, {}), Error);
  kernels::Matrix<double> nan(1, 3, std::nan(""));
  EXPECT_THROW(model->map(nan.view(), tables[0].descriptions, {}), Error);
  tables[0].descriptions.pop_back();
  EXPECT_THROW(train_world_model(GetParam(), tables, options, {}), Error);
  EXPECT_THROW(train_world_model(GetParam(), std::span<const WorldTable>(tables.data(), 1), options, {}), Error);
  EXPECT_THROW(world_model_from_json(nlohmann::json{{"kind", GetParam()}, {"dim", 3}}, "test"), Error);
}

INSTANTIATE_TEST_SUITE_P(Kinds, WorldModelKinds, ::testing::Values("token-mlp", "desc-pool"));

TEST(WorldModel, AnUnknownKindNamesTheKinds) {
  try {
    world_model_kind("transformer");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token-mlp"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("desc-pool"), std::string::npos);
  }
}

// ---- a planted market ----------------------------------------------------------

// Rows of a store: three latent quantities (demand level around `level`, a
// price, a weekday) and a feature space's columns computed from them.
struct Space {
  std::string name;
  std::vector<std::string> descriptions;
  // Column j of a row from the latents (level, price, weekday).
  std::function<std::vector<double>(double, double, double)> features;
};

const Space& space_a() {
  static const Space s{"a",
                       {"units sold one day before", "mean units sold over the previous 7 days",
                        "shelf price today", "day of the week"},
                       [](double u, double p, double w) { return std::vector<double>{u, 0.9 * u + 0.1, p, w}; }};
  return s;
}
const Space& space_b() {
  static const Space s{"b",
                       {"mean units sold over the previous 28 days", "shelf price today",
                        "whether a promotion runs today", "units sold seven days before", "day of the month"},
                       [](double u, double p, double w) {
                         return std::vector<double>{0.8 * u + 0.3, p, w > 4 ? 1.0 : 0.0, u - 0.2, 3 * w + 1};
                       }};
  return s;
}

kernels::Matrix<double> store_rows(const Space& space, double level, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  kernels::Matrix<double> x(n, static_cast<std::int64_t>(space.descriptions.size()));
  for (std::int64_t i = 0; i < n; ++i) {
    const double u = std::exp(level + 0.3 * normal(rng));
    const double p = 2.0 + 0.2 * normal(rng);
    const double w = static_cast<double>(i % 7);
    const std::vector<double> f = space.features(u, p, w);
    for (std::size_t j = 0; j < f.size(); ++j) x(i, static_cast<std::int64_t>(j)) = f[j];
  }
  return x;
}

SemanticSpec described_semantic(const std::string& name, const std::vector<std::string>& descriptions) {
  SemanticSpec s;
  s.tags["Data"] = {"Table"};
  s.tags["Task"] = {"Regression"};
  s.tags["Library"] = {"Others"};
  s.tags["Scenario"] = {"Business"};
  s.tags["License"] = {"MIT"};
  s.name = name;
  s.description = "planted store " + name;
  FeatureSemantics in;
  in.dimension = static_cast<std::int64_t>(descriptions.size());
  for (std::size_t j = 0; j < descriptions.size(); ++j) in.descriptions[static_cast<std::int64_t>(j)] = descriptions[j];
  s.input = in;
  s.output = FeatureSemantics{1, {{0, "units sold today"}}};
  return s;
}

fs::path planted_package(const fs::path& dir, const std::string& name, const kernels::Matrix<double>& x,
                         const std::vector<std::string>& descriptions) {
  const fs::path work = dir / (name + ".parts");
  fs::create_directories(work);
  std::vector<double> y(static_cast<std::size_t>(x.rows()));
  for (std::int64_t i = 0; i < x.rows(); ++i) y[static_cast<std::size_t>(i)] = x(i, 0);
  save_linear_model(fit_ridge(x.view(), y, 1.0), work / "model.json");
  kernels::RkmeOptions o;
  o.k = 20;
  RKMETableSpec::generate(kernels::Context{.seed = 5}, x, o).save(work / "rkme.json");
  io::write_text_file_atomically(work / "semantic.json", described_semantic(name, descriptions).to_json_text());
  io::write_text_file_atomically(work / "environment.yaml", "runtime: test\n");
  Manifest manifest;
  manifest.name = name;
  manifest.model.kind = "linear";
  manifest.model.file = "model.json";
  manifest.model.task = TaskType::kRegression;
  manifest.model.input_dim = x.cols();
  manifest.model.output_dim = 1;
  manifest.stat_specs.push_back({std::string(RKMETableSpec::kTypeName), "rkme.json"});
  manifest.semantic_file = "semantic.json";
  manifest.environment_file = "environment.yaml";
  const fs::path zip = dir / (name + ".zip");
  build_package(manifest,
                {{"model.json", work / "model.json"},
                 {"rkme.json", work / "rkme.json"},
                 {"semantic.json", work / "semantic.json"},
                 {"environment.yaml", work / "environment.yaml"}},
                zip);
  return zip;
}

// Six stores at demand levels 0.5, 1.5, 2.5 in spaces a and b; the ids map
// "<space><level index>" -> learnware id.
struct PlantedMarket {
  test::ScratchDir tmp;
  std::map<std::string, std::string> ids;
  std::optional<Market> market;

  PlantedMarket() {
    market.emplace(Market::create(tmp.path() / "market"));
    const std::vector<double> levels = {0.5, 1.5, 2.5};
    for (const Space* s : {&space_a(), &space_b()}) {
      for (std::size_t l = 0; l < levels.size(); ++l) {
        const std::string name = s->name + std::to_string(l);
        const kernels::Matrix<double> x = store_rows(*s, levels[l], 300, 100 + l);
        const AddResult r = market->add(planted_package(tmp.path(), name, x, s->descriptions));
        EXPECT_EQ(r.status, LearnwareStatus::usable) << r.reason;
        ids[name] = r.id;
      }
    }
  }
};

SpecWorldConfig small_config(const std::string& model) {
  SpecWorldConfig c;
  c.model = model;
  c.train.dim = 8;
  c.train.hidden = 16;
  c.train.epochs = 3;
  c.train.batch = 16;
  c.retrain_every = 3;
  return c;
}

class PlantedSearch : public ::testing::TestWithParam<std::string> {};

TEST_P(PlantedSearch, RanksTheSourceOfAPermutedOrRescaledTableFirst) {
  PlantedMarket planted;
  const SpecWorld world = SpecWorld::train(*planted.market, small_config(GetParam()), {});
  EXPECT_EQ(world.system_specs().count(), 6);
  EXPECT_EQ(world.version(), 1);

  // The user: fresh rows of store a1 (level 1.5), columns permuted, and then
  // each column rescaled a little (a known affine transform).
  const std::vector<int> perm = {3, 1, 0, 2};
  const kernels::Matrix<double> source = store_rows(space_a(), 1.5, 300, 999);
  for (const bool rescale : {false, true}) {
    kernels::Matrix<double> x(source.rows(), 4);
    std::vector<std::string> descriptions;
    for (std::size_t j = 0; j < perm.size(); ++j) {
      descriptions.push_back(space_a().descriptions[static_cast<std::size_t>(perm[j])]);
      for (std::int64_t i = 0; i < x.rows(); ++i) {
        const double v = source(i, perm[j]);
        x(i, static_cast<std::int64_t>(j)) = rescale ? 1.1 * v + 0.05 : v;
      }
    }
    kernels::RkmeOptions o;
    o.k = 20;
    AnySpaceSearchRequest request;
    request.spec = RKMETableSpec::generate(kernels::Context{.seed = 9}, x, o);
    request.columns = described_semantic("user", descriptions).input;
    const AnySpaceSearchResponse r = search_any_space(*planted.market, &world, request, {});
    EXPECT_EQ(r.space, "heterogeneous") << r.why;
    ASSERT_FALSE(r.response.stat.singles.empty());
    EXPECT_EQ(r.response.stat.singles.front().id, planted.ids.at("a1")) << (rescale ? "rescaled" : "permuted");
    EXPECT_EQ(r.response.stat.candidates, 6);
  }
}

TEST_P(PlantedSearch, AUserOfAMarketSpaceIsSearchedHomogeneously) {
  PlantedMarket planted;
  const SpecWorld world = SpecWorld::train(*planted.market, small_config(GetParam()), {});
  kernels::RkmeOptions o;
  o.k = 20;
  AnySpaceSearchRequest request;
  request.spec = RKMETableSpec::generate(kernels::Context{.seed = 9}, store_rows(space_b(), 2.5, 200, 5), o);
  request.columns = described_semantic("user", space_b().descriptions).input;
  const AnySpaceSearchResponse r = search_any_space(*planted.market, &world, request, {});
  EXPECT_EQ(r.space, "homogeneous");
  ASSERT_FALSE(r.response.stat.singles.empty());
  EXPECT_EQ(r.response.stat.singles.front().id, planted.ids.at("b2"));
  EXPECT_EQ(r.response.stat.candidates, 3);
}

INSTANTIATE_TEST_SUITE_P(Kinds, PlantedSearch, ::testing::Values("token-mlp", "desc-pool"));

TEST(SpecWorld, WithoutAWorldOrDescriptionsTheErrorSaysWhatToDo) {
  PlantedMarket planted;
  kernels::RkmeOptions o;
  o.k = 10;
  AnySpaceSearchRequest request;
  request.spec = RKMETableSpec::generate({}, store_rows(space_a(), 1.0, 50, 1), o);
  request.columns = described_semantic("user", {"w", "x", "y", "z"}).input;
  try {
    search_any_space(*planted.market, nullptr, request, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lwdock market remap"), std::string::npos) << e.what();
  }
  const SpecWorld world = SpecWorld::train(*planted.market, small_config("desc-pool"), {});
  // Width 3 is no market space, and column 2 is not described.
  request.spec = RKMETableSpec::generate({}, kernels::Matrix<double>(40, 3, 1.0), o);
  request.columns = described_semantic("user", {"units", "price", "day"}).input;
  request.columns->descriptions.erase(2);
  try {
    search_any_space(*planted.market, &world, request, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("description of every one"), std::string::npos) << e.what();
  }
}

TEST(SpecWorld, IsSavedLoadedAndFollowsTheMarket) {
  PlantedMarket planted;
  SpecWorldConfig config = small_config("desc-pool");
  const SpecWorld trained = SpecWorld::train(*planted.market, config, {});
  const fs::path dir = planted.market->store().dir();
  ASSERT_TRUE(SpecWorld::exists(dir));
  std::optional<SpecWorld> loaded = SpecWorld::load(*planted.market, {});
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->version(), 1);
  EXPECT_EQ(loaded->system_specs().ids, trained.system_specs().ids);
  EXPECT_EQ(loaded->system_specs().z, trained.system_specs().z);

  // One new learnware: mapped with the current model (below retrain_every).
  const AddResult added =
      planted.market->add(planted_package(planted.tmp.path(), "a3", store_rows(space_a(), 3.5, 300, 77),
                                          space_a().descriptions));
  ASSERT_EQ(added.status, LearnwareStatus::usable);
  WorldRefreshReport r = loaded->refresh(*planted.market, {});
  EXPECT_FALSE(r.retrained);
  EXPECT_EQ(r.mapped, 1);
  EXPECT_EQ(loaded->system_specs().count(), 7);
  EXPECT_EQ(loaded->version(), 1);
  // Deleted: its system spec goes.
  ASSERT_TRUE(planted.market->remove(planted.ids.at("b0")));
  r = loaded->refresh(*planted.market, {});
  EXPECT_EQ(r.dropped, 1);
  EXPECT_FALSE(loaded->system_specs().find(planted.ids.at("b0")));
  // What was saved is what a fresh load reads.
  std::optional<SpecWorld> again = SpecWorld::load(*planted.market, {});
  EXPECT_EQ(again->system_specs().count(), 6);
  // Two more (three since training, retrain_every = 3): retrained, version 2.
  for (int k = 4; k <= 5; ++k) {
    planted.market->add(planted_package(planted.tmp.path(), "a" + std::to_string(k),
                                        store_rows(space_a(), 0.5 * k, 300, 70 + k), space_a().descriptions));
  }
  r = again->refresh(*planted.market, {});
  EXPECT_TRUE(r.retrained);
  EXPECT_EQ(again->version(), 2);
  EXPECT_EQ(again->trained_on(), 8);
  EXPECT_EQ(again->system_specs().count(), 8);
}

TEST(SpecWorld, DamagedFilesAreRemappedOrNamed) {
  PlantedMarket planted;
  SpecWorld::train(*planted.market, small_config("desc-pool"), {});
  const fs::path world_dir = SpecWorld::dir_of(planted.market->store().dir());
  io::write_text_file_atomically(world_dir / "system_specs.h5", "not hdf5");
  std::vector<std::string> warnings;
  const WarningHandler previous = set_warning_handler([&](std::string_view m) { warnings.emplace_back(m); });
  std::optional<SpecWorld> loaded = SpecWorld::load(*planted.market, {});
  set_warning_handler(previous);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->refresh(*planted.market, {}).mapped, 6);
  EXPECT_EQ(loaded->system_specs().count(), 6);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings.front().find("do not read"), std::string::npos) << warnings.front();

  io::write_text_file_atomically(world_dir / "model.json", "{\"version\": 1, \"trained_on\": [], \"model\": {\"kind\": \"desc-pool\"}}");
  try {
    SpecWorld::load(*planted.market, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.json"), std::string::npos) << e.what();
  }
  io::write_text_file_atomically(world_dir / "config.json", "{\"model\": \"transformer\"}");
  EXPECT_THROW(SpecWorld::load(*planted.market, {}), Error);
}

}  // namespace
}  // namespace lwd::hetero

// Loading learnwares from a market: models that predict as packaged, specs,
// a model that outlives its Learnware, and errors for empty lists, unknown,
// repeated or unusable ids.
#include <gtest/gtest.h>

#include "engine/error.h"
#include "engine/market/market.h"
#include "engine/reuse/job_selector.h"
#include "engine/reuse/learnware.h"
#include "tests/reuse/reuse_fixture.h"

namespace {

using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::testing_market::make_package;
using lwd::testing_market::PackageParts;
using lwd::testing_market::TempDir;
using namespace lwd::testing_reuse;

struct LoadFromMarket : ::testing::Test {
  TempDir tmp;
  Matrix<double> data_a = gaussian_rows(300, 3, 0.0, 1);
  Matrix<double> data_b = gaussian_rows(300, 3, 8.0, 2);
  lwd::LinearModel model_a = ridge_model({1.0, 2.0, 3.0}, 0.0);
  lwd::LinearModel model_b = ridge_model({-1.0, 0.0, 1.0}, 4.0);
  lwd::Market market = lwd::Market::create(tmp.path() / "market");
  std::string id_a = market.add(linear_package(tmp.path(), "a", model_a, data_a)).id;
  std::string id_b = market.add(linear_package(tmp.path(), "b", model_b, data_b)).id;
};

TEST_F(LoadFromMarket, ModelsPredictAsPackagedAndSpecsAreLoaded) {
  const std::vector<std::string> ids{id_b, id_a};
  const auto learnwares = lwd::load_learnwares(market, ids);
  ASSERT_EQ(learnwares.size(), 2u);
  EXPECT_EQ(learnwares[0].id, id_b);
  EXPECT_EQ(learnwares[0].predict(data_a.view()), model_b.predict(data_a.view()));
  EXPECT_EQ(learnwares[1].predict(data_a.view()), model_a.predict(data_a.view()));
  EXPECT_EQ(learnwares[1].spec.dim(), 3);
  ASSERT_TRUE(learnwares[1].semantic.has_value());
  EXPECT_EQ(learnwares[1].semantic->name, "a");
  EXPECT_EQ(learnwares[1].task(), lwd::TaskType::kRegression);
}

TEST_F(LoadFromMarket, JobSelectorRoutesMarketLearnwaresByRegion) {
  const std::vector<std::string> ids{id_a, id_b};
  const Matrix<double> user = stack_rows(gaussian_rows(100, 3, 0.0, 5), gaussian_rows(100, 3, 8.0, 6));
  const auto selection = lwd::JobSelectorReuser(lwd::load_learnwares(market, ids), Context{.seed = 1}).select(user.view());
  std::int64_t right = 0;
  for (std::int64_t i = 0; i < 200; ++i) right += selection.routes[static_cast<std::size_t>(i)] == (i < 100 ? 0 : 1);
  EXPECT_GE(right, 190);
}

TEST_F(LoadFromMarket, AProcessModelKeepsItsPackageAliveAfterTheLearnwareIsGone) {
  PackageParts parts;
  parts.name = "process";
  parts.process_script = "read header\nwhile IFS=, read -r a b c; do echo \"$b\"; done\n";
  const auto id = market.add(make_package(tmp.path(), parts)).id;
  std::shared_ptr<const lwd::Model> model;
  {
    const std::vector<std::string> ids{id};
    model = lwd::load_learnwares(market, ids).front().model;
  }
  const Matrix<double> x(2, 3, std::vector<double>{1, 2, 3, 4, 5, 6});
  EXPECT_EQ(model->predict(x.view()), Matrix<double>(2, 1, std::vector<double>{2, 5}));
}

TEST_F(LoadFromMarket, EmptyUnknownRepeatedAndUnusableIdsAreErrors) {
  EXPECT_THROW(lwd::load_learnwares(market, std::vector<std::string>{}), lwd::Error);
  EXPECT_THROW(lwd::load_learnwares(market, std::vector<std::string>{"99999999"}), lwd::Error);
  EXPECT_THROW(lwd::load_learnwares(market, std::vector<std::string>{id_a, id_a}), lwd::Error);
  PackageParts parts;
  parts.name = "crashes";
  parts.process_script = "exit 3\n";
  const auto broken = market.add(make_package(tmp.path(), parts));
  ASSERT_EQ(broken.status, lwd::LearnwareStatus::not_usable);
  try {
    lwd::load_learnwares(market, std::vector<std::string>{id_a, broken.id});
    FAIL() << "expected an error";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not_usable"), std::string::npos) << e.what();
  }
}

TEST(MakeLearnware, ASpecOfAnotherWidthThanTheModelIsAnError) {
  const Matrix<double> data = gaussian_rows(50, 2, 0.0, 1);
  auto model = std::make_shared<lwd::LinearModel>(ridge_model({1.0, 2.0, 3.0}, 0.0));
  EXPECT_THROW(lwd::make_learnware("x", model, small_spec(data, 1)), lwd::Error);
  EXPECT_THROW(lwd::make_learnware("x", nullptr, small_spec(data, 1)), lwd::Error);
}

}  // namespace

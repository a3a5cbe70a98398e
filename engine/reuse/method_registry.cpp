#include "engine/reuse/method_registry.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/image/image_io.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/reuse/ensemble_pruning.h"
#include "engine/reuse/feature_align.h"
#include "engine/reuse/job_selector.h"
#include "engine/reuse/reuse_methods.h"
#include "kernels/simplex_qp.h"

namespace lwd {
namespace {

bool answers_to(const SearchMethodEntry& entry, const std::string& name) { return entry.key == name; }
bool answers_to(const ReuseMethodEntry& entry, const std::string& name) { return entry.answers_to(name); }
std::string name_of(const SearchMethodEntry& entry) { return entry.key; }
std::string name_of(const ReuseMethodEntry& entry) {
  std::string name = entry.key;
  for (const std::string& alias : entry.aliases) name += " (alias " + alias + ")";
  return name;
}

template <class Entry>
std::string keys_of(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) out += (out.empty() ? "" : ", ") + name_of(e);
  return out.empty() ? "(none)" : out;
}

template <class Entry>
const Entry* find_in(const std::vector<Entry>& entries, const std::string& name) {
  for (const Entry& e : entries)
    if (answers_to(e, name)) return &e;
  return nullptr;
}

template <class Entry>
const Entry& at(const std::vector<Entry>& entries, const std::string& name, const char* kind) {
  if (const Entry* e = find_in(entries, name)) return *e;
  throw Error("unknown " + std::string(kind) + " method '" + name + "' (registered: " + keys_of(entries) + ")");
}

template <class Entry>
void check_entry(const std::vector<Entry>& existing, const Entry& entry, const std::vector<std::string>& aliases,
                 const char* kind) {
  if (entry.key.empty()) throw Error(std::string(kind) + " method: the key is empty");
  if (entry.label.empty()) throw Error(std::string(kind) + " method " + entry.key + ": the label is empty");
  std::vector<std::string> names = aliases;
  names.push_back(entry.key);
  for (const std::string& name : names) {
    if (name.empty()) throw Error(std::string(kind) + " method " + entry.key + ": an alias is empty");
    if (const Entry* e = find_in(existing, name))
      throw Error(std::string(kind) + " method " + name + " is registered twice (" + e->key + ")");
  }
}

template <class Entry>
std::vector<Entry> pick(const std::vector<Entry>& entries, const std::vector<std::string>& names, const char* kind) {
  if (names.empty()) return entries;
  std::vector<const Entry*> wanted;
  for (const std::string& name : names) wanted.push_back(&at(entries, name, kind));
  std::vector<Entry> out;
  for (const Entry& e : entries)
    if (std::find(wanted.begin(), wanted.end(), &e) != wanted.end()) out.push_back(e);
  return out;
}

std::vector<Learnware> copy_of(std::span<const Learnware> learnwares) {
  return std::vector<Learnware>(learnwares.begin(), learnwares.end());
}

// "kept A B": the learnwares an ensemble-pruning reuser kept (for ReuseInput::note).
std::string pruning_note(const Reuser& reuser, std::span<const Learnware> learnwares) {
  const auto* pruning = dynamic_cast<const EnsemblePruningReuser*>(&reuser);
  if (!pruning) return {};
  std::string note = "kept";
  for (std::int64_t j : pruning->selected()) note += " " + learnwares[static_cast<std::size_t>(j)].id;
  return note;
}

kernels::Matrix<double> reuse_with_engine(ReuseMethod method, std::span<const Learnware> learnwares,
                                          const ReuseInput& in) {
  ReuserRequest request;
  request.method = method;
  request.mode = in.mode;
  request.ctx = in.ctx;
  if (method == ReuseMethod::kFeatureAugment) {
    if (request.mode.empty()) request.mode = in.task == TaskType::kClassification ? "classification" : "regression";
    request.num_classes = in.num_classes;
  }
  std::unique_ptr<Reuser> reuser = make_reuser(copy_of(learnwares), request);
  if (reuser->uses_labels()) reuser->fit(in.x_labelled, in.y_labelled);
  kernels::Matrix<double> predicted = reuser->predict(in.x_test);
  if (in.note) *in.note = pruning_note(*reuser, learnwares);
  return predicted;
}

// Each learnware aligned to the user's feature space (feature_align.h): the
// user's RKME of x_test with the learnware's gamma (one per distinct gamma),
// the user's column descriptions when given, the fit seeded by ctx.seed.
// `note` gets "aligned ID MMD² a -> b (start, map)" per learnware.
std::vector<Learnware> aligned_to_user(std::span<const Learnware> learnwares, const ReuseInput& in, std::string& note) {
  std::vector<std::pair<double, RKMETableSpec>> user_specs;
  std::optional<FeatureSemantics> columns;
  if (in.user_columns) columns = *in.user_columns;
  FeatureAlignOptions options;
  options.seed = in.ctx.seed;
  std::vector<Learnware> aligned;
  for (const Learnware& lw : learnwares) {
    const double gamma = lw.spec.gamma();
    auto spec = std::find_if(user_specs.begin(), user_specs.end(), [&](const auto& s) { return s.first == gamma; });
    if (spec == user_specs.end()) {
      kernels::RkmeOptions rkme;
      rkme.gamma = gamma;
      user_specs.emplace_back(gamma, user_spec_for_alignment(in.x_test, rkme, in.ctx));
      spec = user_specs.end() - 1;
    }
    aligned.push_back(align_learnware(lw, spec->second, columns, options, in.ctx));
    note += (note.empty() ? "aligned " : "; aligned ") + lw.id + " " + aligned_map_of(aligned.back())->describe();
  }
  return aligned;
}

// `method` over the learnwares aligned to the user's space, with `mode`.
kernels::Matrix<double> reuse_aligned(ReuseMethod method, std::span<const Learnware> learnwares, const ReuseInput& in,
                                      std::string mode) {
  std::string note;
  const std::vector<Learnware> aligned = aligned_to_user(learnwares, in, note);
  ReuseInput engine_in = in;
  engine_in.mode = std::move(mode);
  std::string engine_note;
  engine_in.note = &engine_note;
  kernels::Matrix<double> predicted = reuse_with_engine(method, aligned, engine_in);
  if (in.note) *in.note = note + (engine_note.empty() ? "" : "; " + engine_note);
  return predicted;
}

const std::vector<std::string> kAveragingModes = {"mean", "vote_by_prob", "vote_by_label"};
const std::vector<std::string> kTaskModes = {"regression", "classification"};
constexpr const char* kAveragingDefault = "mean for regression, vote_by_prob for classification learnwares";

// The job selector for image learnwares (engine/reuse/job_selector.h's steps
// in the image specs' space): mixture weights from the simplex QP on NNGP
// products -- K_ij = <m_i, m_j>, c_i = <u, m_i> with u the user's image RKME
// (the reference's weights use the unreduced user data; the user's reduced
// RKME is what they submitted, and an NNGP product per user image and
// learnware point would cost minutes per user) -- then herding from each
// image spec and routing the user's preprocessed images; each image is
// predicted by the learnware it was routed to, from its raw pixels.
kernels::Matrix<double> image_job_selector(const ReuseInput& in) {
  const std::span<const Learnware> lws = in.multiple;
  if (!in.user_image_spec || in.spec_rows_test.rows != in.x_test.rows)
    throw Error("job selector over image learnwares: the runner must give the user's image RKME and one "
                "preprocessed row per image to predict");
  const auto n = static_cast<std::int64_t>(lws.size());
  for (const Learnware& lw : lws)
    if (!lw.image_spec) throw Error("job selector: " + lw.id + " has no image specification (mixed kinds)");
  std::vector<double> weights(static_cast<std::size_t>(n), 1.0);
  if (n > 1) {
    kernels::Matrix<double> gram(n, n);
    std::vector<double> c(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const RKMEImageSpec& a = *lws[static_cast<std::size_t>(i)].image_spec;
      c[static_cast<std::size_t>(i)] = in.user_image_spec->inner_product(a, in.ctx);
      for (std::int64_t j = 0; j <= i; ++j)
        gram(i, j) = gram(j, i) = a.inner_product(*lws[static_cast<std::size_t>(j)].image_spec, in.ctx);
    }
    weights = kernels::solve_simplex_qp(gram.view(), c).x;
  }
  const HerdFn herd = [&](std::int64_t i, std::int64_t count, const kernels::Context& c) {
    return image_rows(lws[static_cast<std::size_t>(i)].image_spec->herding(count, c));
  };
  const JobSelection selection = route_jobs(weights, herd, in.spec_rows_test, in.ctx);
  kernels::Matrix<double> out;
  for (std::int64_t k = 0; k < n; ++k) {
    std::vector<std::int64_t> rows;
    for (std::int64_t r = 0; r < in.x_test.rows; ++r)
      if (selection.routes[static_cast<std::size_t>(r)] == k) rows.push_back(r);
    if (rows.empty()) continue;
    const kernels::Matrix<double> x = gather_rows(in.x_test, rows);
    const kernels::Matrix<double> predicted = lws[static_cast<std::size_t>(k)].predict(x.view());
    if (out.empty()) out = kernels::Matrix<double>(in.x_test.rows, predicted.cols(), 0.0);
    if (predicted.cols() != out.cols())
      throw Error("job selector: " + lws[static_cast<std::size_t>(k)].id + " predicts " +
                  std::to_string(predicted.cols()) + " outputs, the others " + std::to_string(out.cols()));
    for (std::size_t r = 0; r < rows.size(); ++r)
      std::copy_n(predicted.row(static_cast<std::int64_t>(r)), predicted.cols(), out.row(rows[r]));
  }
  return out;
}

}  // namespace

SearchOutput search_output_of(SearchResponse response) {
  SearchOutput out;
  for (const SingleMatch& s : response.stat.singles) out.single_ids.push_back(s.id);
  if (response.stat.mixture) {
    out.mixture_ids = response.stat.mixture->ids;
    out.mixture_weights = response.stat.mixture->weights;
  }
  out.market_response = std::move(response);
  return out;
}

bool ReuseMethodEntry::answers_to(const std::string& name) const {
  return key == name || std::find(aliases.begin(), aliases.end(), name) != aliases.end();
}

bool ReuseMethodEntry::accepts_mode(const std::string& mode) const {
  return mode.empty() || std::find(modes.begin(), modes.end(), mode) != modes.end();
}

void MethodRegistry::add_search(SearchMethodEntry entry) {
  check_entry(search_, entry, {}, "search");
  if (!entry.search) throw Error("search method " + entry.key + ": no search function");
  search_.push_back(std::move(entry));
}

void MethodRegistry::add_reuse(ReuseMethodEntry entry) {
  check_entry(reuse_, entry, entry.aliases, "reuse");
  if (!entry.predict) throw Error("reuse method " + entry.key + ": no predict function");
  reuse_.push_back(std::move(entry));
}

const SearchMethodEntry* MethodRegistry::find_search(const std::string& name) const { return find_in(search_, name); }

const ReuseMethodEntry* MethodRegistry::find_reuse(const std::string& name) const { return find_in(reuse_, name); }

const SearchMethodEntry& MethodRegistry::search_method(const std::string& name) const {
  return at(search_, name, "search");
}

const ReuseMethodEntry& MethodRegistry::reuse_method(const std::string& name) const {
  return at(reuse_, name, "reuse");
}

MethodRegistry MethodRegistry::subset(const std::vector<std::string>& search_names,
                                      const std::vector<std::string>& reuse_names) const {
  MethodRegistry out;
  out.search_ = pick(search_, search_names, "search");
  out.reuse_ = pick(reuse_, reuse_names, "reuse");
  return out;
}

void register_builtin_methods(MethodRegistry& registry) {
  registry.add_search({kMarketSearch, "market search",
                       "Market::search: the semantic filter, then the RKME search (singles and greedy mixture)",
                       [](const SearchInput& in) { return search_output_of(in.market->search(*in.query)); }});

  registry.add_reuse({kTop1Reuse, "Top-1 Reuse (Single)", false,
                      "the best single learnware of the search (on the command line: the first one listed), as is",
                      [](const ReuseInput& in) {
                        return reuse_with_engine(ReuseMethod::kAveraging, in.single.first(1), in);
                      },
                      kAveragingModes, kAveragingDefault});
  registry.add_reuse({kJobSelector, "Job Selector Reuse (Multiple)", false,
                      "engine job selector over the mixture (each row routed to one learnware)",
                      [](const ReuseInput& in) {
                        if (in.multiple.front().image_spec) return image_job_selector(in);
                        return reuse_with_engine(ReuseMethod::kJobSelector, in.multiple, in);
                      }});
  registry.add_reuse({kAverageEnsemble, "Average Ensemble Reuse (Multiple)", false,
                      "engine averaging over the mixture (mean / vote by probability / vote by label)",
                      [](const ReuseInput& in) { return reuse_with_engine(ReuseMethod::kAveraging, in.multiple, in); },
                      kAveragingModes, kAveragingDefault, {"averaging"}});
  registry.add_reuse({kEnsemblePruning, "Ensemble Pruning (Multiple)", true,
                      "engine NSGA-II ensemble pruning of the mixture on the user's labelled rows",
                      [](const ReuseInput& in) {
                        return reuse_with_engine(ReuseMethod::kEnsemblePruning, in.multiple, in);
                      },
                      kTaskModes, "the learnwares' task, which a mode must match"});
  registry.add_reuse({kFeatureAugment, "Feature Augmentation (Multiple)", true,
                      "engine feature augmentation: the mixture's predictions as extra features, ridge / logistic CV",
                      [](const ReuseInput& in) {
                        return reuse_with_engine(ReuseMethod::kFeatureAugment, in.multiple, in);
                      },
                      kTaskModes, "the user's task; on the command line, the learnwares'"});

  // Feature alignment: for users whose columns differ from the learnwares'.
  ReuseMethodEntry align{kAlign, "Feature Alignment (heterogeneous)", false,
                         "learnwares of another feature space, each mapped from the user's columns by a map fitted "
                         "to the two RKMEs (MMD), then reused: top1 (the first) or average (all)",
                         [](const ReuseInput& in) {
                           if (in.mode == "average") return reuse_aligned(ReuseMethod::kAveraging, in.multiple, in, "");
                           return reuse_aligned(ReuseMethod::kAveraging, in.single.first(1), in, "");
                         },
                         {"top1", "average"}, "top1"};
  align.aligns_features = true;
  registry.add_reuse(std::move(align));
  ReuseMethodEntry align_augment{kAlignAugment, "Feature Alignment + Feature Augmentation (heterogeneous)", true,
                                 "feature augmentation over the learnwares aligned to the user's feature space",
                                 [](const ReuseInput& in) {
                                   return reuse_aligned(ReuseMethod::kFeatureAugment, in.multiple, in, in.mode);
                                 },
                                 kTaskModes, "the user's task; on the command line, the learnwares'"};
  align_augment.aligns_features = true;
  registry.add_reuse(std::move(align_augment));
  ReuseMethodEntry align_prune{kAlignPrune, "Feature Alignment + Ensemble Pruning (heterogeneous)", true,
                               "ensemble pruning over the learnwares aligned to the user's feature space",
                               [](const ReuseInput& in) {
                                 return reuse_aligned(ReuseMethod::kEnsemblePruning, in.multiple, in, in.mode);
                               },
                               kTaskModes, "the learnwares' task, which a mode must match"};
  align_prune.aligns_features = true;
  registry.add_reuse(std::move(align_prune));
}

kernels::Matrix<double> gather_rows(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> rows) {
  kernels::Matrix<double> out(static_cast<std::int64_t>(rows.size()), x.cols);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= x.rows)
      throw Error("gather_rows: row " + std::to_string(rows[i]) + " of " + std::to_string(x.rows));
    std::copy_n(x.row(rows[i]), x.cols, out.row(static_cast<std::int64_t>(i)));
  }
  return out;
}

FoundLearnwares resolve_search_output(const SearchOutput& output,
                                      const std::function<Learnware(const std::string&)>& get,
                                      std::size_t max_multiple) {
  if (output.single_ids.empty()) throw Error("the search found no learnware");
  FoundLearnwares found;
  for (const std::string& id : output.single_ids) found.single.push_back(get(id));
  if (!output.mixture_ids.empty()) {
    if (output.mixture_weights.size() != output.mixture_ids.size())
      throw Error("the search returned " + std::to_string(output.mixture_ids.size()) + " mixture learnware(s) but " +
                  std::to_string(output.mixture_weights.size()) + " weight(s)");
    found.has_mixture = true;
    for (const std::string& id : output.mixture_ids) found.multiple.push_back(get(id));
    found.mixture_weights = output.mixture_weights;
  } else {
    const std::size_t count = std::min(std::max<std::size_t>(max_multiple, 1), found.single.size());
    found.multiple.assign(found.single.begin(), found.single.begin() + static_cast<std::ptrdiff_t>(count));
  }
  return found;
}

}  // namespace lwd

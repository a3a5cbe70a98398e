#include "scenarios/common/method_registry.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/reuse/job_selector.h"
#include "engine/reuse/reuse_methods.h"
#include "kernels/simplex_qp.h"

namespace lwd::scenarios {
namespace {

template <class Entry>
std::string keys_of(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) out += (out.empty() ? "" : ", ") + e.key;
  return out.empty() ? "(none)" : out;
}

template <class Entry>
void check_entry(const std::vector<Entry>& existing, const Entry& entry, const char* kind) {
  if (entry.key.empty()) throw Error(std::string(kind) + " method: the key is empty");
  if (entry.label.empty()) throw Error(std::string(kind) + " method " + entry.key + ": the label is empty");
  for (const Entry& e : existing)
    if (e.key == entry.key) throw Error(std::string(kind) + " method " + entry.key + " is registered twice");
}

template <class Entry>
std::vector<Entry> pick(const std::vector<Entry>& entries, const std::vector<std::string>& keys, const char* kind) {
  if (keys.empty()) return entries;
  for (const std::string& key : keys) {
    const bool known = std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.key == key; });
    if (!known) throw Error("unknown " + std::string(kind) + " method '" + key + "' (registered: " + keys_of(entries) + ")");
  }
  std::vector<Entry> out;
  for (const Entry& e : entries)
    if (std::find(keys.begin(), keys.end(), e.key) != keys.end()) out.push_back(e);
  return out;
}

std::vector<Learnware> copy_of(std::span<const Learnware> learnwares) {
  return std::vector<Learnware>(learnwares.begin(), learnwares.end());
}

kernels::Matrix<double> reuse_with_engine(ReuseMethod method, std::span<const Learnware> learnwares,
                                          const ReuseInput& in) {
  ReuserRequest request;
  request.method = method;
  request.ctx = in.ctx;
  if (method == ReuseMethod::kFeatureAugment) {
    request.mode = in.task == TaskType::kClassification ? "classification" : "regression";
    request.num_classes = in.num_classes;
  }
  std::unique_ptr<Reuser> reuser = make_reuser(copy_of(learnwares), request);
  if (reuser->uses_labels()) reuser->fit(in.x_labelled, in.y_labelled);
  return reuser->predict(in.x_test);
}

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

void MethodRegistry::add_search(SearchMethodEntry entry) {
  check_entry(search_, entry, "search");
  if (!entry.search) throw Error("search method " + entry.key + ": no search function");
  search_.push_back(std::move(entry));
}

void MethodRegistry::add_reuse(ReuseMethodEntry entry) {
  check_entry(reuse_, entry, "reuse");
  if (!entry.predict) throw Error("reuse method " + entry.key + ": no predict function");
  reuse_.push_back(std::move(entry));
}

const SearchMethodEntry* MethodRegistry::find_search(const std::string& key) const {
  for (const SearchMethodEntry& e : search_)
    if (e.key == key) return &e;
  return nullptr;
}

const ReuseMethodEntry* MethodRegistry::find_reuse(const std::string& key) const {
  for (const ReuseMethodEntry& e : reuse_)
    if (e.key == key) return &e;
  return nullptr;
}

MethodRegistry MethodRegistry::subset(const std::vector<std::string>& search_keys,
                                      const std::vector<std::string>& reuse_keys) const {
  MethodRegistry out;
  out.search_ = pick(search_, search_keys, "search");
  out.reuse_ = pick(reuse_, reuse_keys, "reuse");
  return out;
}

void register_builtin_methods(MethodRegistry& registry) {
  registry.add_search({kMarketSearch, "market search",
                       "Market::search: the semantic filter, then the RKME search (singles and greedy mixture)",
                       [](const SearchInput& in) {
                         const SearchResponse response = in.market->search(*in.query);
                         SearchOutput out;
                         for (const SingleMatch& s : response.stat.singles) out.single_ids.push_back(s.id);
                         if (response.stat.mixture) {
                           out.mixture_ids = response.stat.mixture->ids;
                           out.mixture_weights = response.stat.mixture->weights;
                         }
                         return out;
                       }});

  registry.add_reuse({kTop1Reuse, "Top-1 Reuse (Single)", false,
                      "the best single learnware of the search, as is",
                      [](const ReuseInput& in) {
                        return reuse_with_engine(ReuseMethod::kAveraging, in.single.first(1), in);
                      }});
  registry.add_reuse({kJobSelector, "Job Selector Reuse (Multiple)", false,
                      "engine job selector over the mixture (each row routed to one learnware)",
                      [](const ReuseInput& in) {
                        if (in.multiple.front().image_spec) return image_job_selector(in);
                        return reuse_with_engine(ReuseMethod::kJobSelector, in.multiple, in);
                      }});
  registry.add_reuse({kAverageEnsemble, "Average Ensemble Reuse (Multiple)", false,
                      "engine averaging over the mixture (mean / vote by probability)",
                      [](const ReuseInput& in) { return reuse_with_engine(ReuseMethod::kAveraging, in.multiple, in); }});
  registry.add_reuse({kEnsemblePruning, "Ensemble Pruning (Multiple)", true,
                      "engine NSGA-II ensemble pruning of the mixture on the user's labelled rows",
                      [](const ReuseInput& in) {
                        return reuse_with_engine(ReuseMethod::kEnsemblePruning, in.multiple, in);
                      }});
  registry.add_reuse({kFeatureAugment, "Feature Augmentation (Multiple)", true,
                      "engine feature augmentation: the mixture's predictions as extra features, ridge / logistic CV",
                      [](const ReuseInput& in) {
                        return reuse_with_engine(ReuseMethod::kFeatureAugment, in.multiple, in);
                      }});
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

}  // namespace lwd::scenarios

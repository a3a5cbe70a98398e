// The market: the organizer (add, update, delete, get, list, reload, rebuild)
// and the search, over one MarketStore directory. This is what the command
// line, the scenario runners and the dock service drive.
//
// Submission: the package is staged (package.h refuses hostile archives
// outright: nothing is stored), its semantic and stat specs are read, the
// checker decides the status (checker.h), and the store keeps package, specs
// and index row atomically. Invalid and not-usable learnwares are kept with the
// reason, so their developers can see why; only usable ones are searched.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/market/checker.h"
#include "engine/market/semantic_search.h"
#include "engine/market/statistical_search.h"
#include "engine/package/package.h"
#include "engine/store/market_store.h"
#include "kernels/context.h"

namespace lwd {

struct AddResult {
  std::string id;
  LearnwareStatus status = LearnwareStatus::invalid;
  std::string reason;
};

// At most one of stat / text / image: the user's statistical specification,
// compared with the learnwares that carry the same type (text: the same
// encoder, and only learnwares whose languages include all of the user's;
// image: the same image shape and net depth). Without any, the search is
// semantic only.
struct SearchRequest {
  std::optional<RKMETableSpec> stat;      // the user's table RKME
  std::optional<RKMETextSpec> text;       // the user's text RKME
  std::optional<RKMEImageSpec> image;     // the user's image RKME
  std::optional<SemanticSpec> semantic;   // the user's tags/name; without it every usable learnware
  StatSearchOptions options;
};

struct SearchResponse {
  std::int64_t semantic_matches = 0;      // usable learnwares agreeing with the semantic query
  std::vector<std::string> semantic_ids;  // those ids (when there was no stat spec: the result)
  StatSearchResult stat;                  // empty without a stat spec
};

class Market {
 public:
  static Market create(const std::filesystem::path& dir, kernels::Context ctx = {});
  static Market open(const std::filesystem::path& dir, kernels::Context ctx = {});
  // Opens a market whose market.h5 is missing or damaged and rebuilds it.
  static Market rebuild(const std::filesystem::path& dir, kernels::Context ctx = {});

  Market(Market&&) noexcept;
  Market& operator=(Market&&) noexcept;
  ~Market();

  // Stages, checks and stores a package. Throws lwd::Error (nothing stored)
  // when the archive itself is refused; otherwise the learnware is stored with
  // the status the checker gave.
  AddResult add(const std::filesystem::path& package_zip, const std::string& owner = "");
  // Replaces learnware `id`'s package (checked again). Throws for an unknown id.
  AddResult update(const std::string& id, const std::filesystem::path& package_zip);
  bool remove(const std::string& id);
  std::optional<LearnwareRecord> get(const std::string& id) const;
  std::vector<LearnwareRecord> list(std::optional<LearnwareStatus> status = std::nullopt) const;
  std::optional<SemanticSpec> semantic_spec(const std::string& id) const;
  // Re-derives every learnware's specs from its package and rewrites market.h5.
  void rebuild_packs();
  void reload();

  SearchResponse search(const SearchRequest& request) const;

  MarketStore& store() { return *store_; }
  const MarketStore& store() const { return *store_; }
  const kernels::Context& context() const { return ctx_; }
  PackageLimits& package_limits() { return limits_; }

 private:
  Market(std::unique_ptr<MarketStore> store, kernels::Context ctx);
  AddResult submit(const std::optional<std::string>& existing_id, const std::filesystem::path& package_zip,
                   const std::string& owner);
  // What searches read instead of the store's JSON and packages: parsed
  // semantic specs of usable learnwares, id -> pack member maps, float32
  // mirrors of the packs, text languages and image specs. refresh_caches()
  // rebuilds everything (open, update, remove, rebuild); an add only appends
  // the new learnware (cache_added), so a submission stays O(one learnware).
  void refresh_caches();
  void cache_added(const std::string& id, LearnwareStatus status, const LoadedSubmission& submission);
  void cache_kind_specs(const std::string& id, const LoadedSubmission& submission);
  StatSearchResult search_image(const RKMEImageSpec& user, const std::vector<std::string>& ids,
                                const StatSearchOptions& options) const;

  std::unique_ptr<MarketStore> store_;
  kernels::Context ctx_;
  PackageLimits limits_;
  std::vector<std::string> usable_ids_;
  std::map<std::string, SemanticSpec> usable_semantic_;
  std::map<std::string, std::unordered_map<std::string, std::int64_t>> member_index_;  // pack key -> id -> member
  std::map<std::string, std::vector<float>> float32_z_;  // pack key -> Z in float32, for screening
  std::map<std::string, std::vector<std::string>> text_languages_;  // usable text learnware -> languages
  std::map<std::string, RKMEImageSpec> image_specs_;                // usable image learnware -> spec
  // Image inner products are NNGP evaluations (tens of ms each): memoised
  // across searches, <m, m> per learnware and <m_a, m_b> per pair.
  struct ImageProductMemo;
  std::unique_ptr<ImageProductMemo> image_memo_;
};

}  // namespace lwd

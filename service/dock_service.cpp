#include "service/dock_service.h"

#include <algorithm>
#include <utility>

#include "engine/api/json_api.h"
#include "engine/error.h"
#include "engine/io/json_text.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/package/package.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/store/sql_open.h"
#include "service/openapi.h"
#include "service/spec_summary.h"
#include "service/zip_stream.h"

#ifndef LWD_VERSION
#define LWD_VERSION "0.1.0"
#endif

namespace lwd::service {
namespace {

using nlohmann::json;

// A JSON document from a request, read within `limits`: a syntax error or a
// document beyond them is the client's (400), named as `what`.
json parse_request_json(std::string_view text, const std::string& what, const io::JsonLimits& limits) {
  try {
    return io::parse_json(text, what, limits);
  } catch (const Error& e) {
    throw ApiError(ApiCode::malformed_request, e.what());
  }
}

json page_params() {
  return json::array({
      {{"name", "page"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "integer"}, {"minimum", 1}}},
       {"description", "1-based page number (default 1)"}},
      {{"name", "page_size"}, {"in", "query"}, {"required", false},
       {"schema", {{"type", "integer"}, {"minimum", 1}}}, {"description", "items per page (default 10)"}},
  });
}

struct Page {
  std::int64_t page = 1;
  std::int64_t size = 10;
  std::int64_t first(std::int64_t total) const { return std::min(total, (page - 1) * size); }
  std::int64_t last(std::int64_t total) const { return std::min(total, page * size); }
  json describe(std::int64_t total) const { return {{"page", page}, {"page_size", size}, {"total", total}}; }
};

Page page_of(const ApiRequest& request, std::int64_t max_page_size) {
  Page p;
  p.page = request.query_int("page", 1, 1, 1'000'000'000);
  p.size = request.query_int("page_size", 10, 1, max_page_size);
  return p;
}

const json kRecordSchema = {
    {"type", "object"},
    {"properties",
     {{"id", {{"type", "string"}}},
      {"name", {{"type", "string"}}},
      {"owner", {{"type", "string"}}},
      {"status", {{"type", "string"}, {"enum", {"invalid", "not_usable", "usable"}}}},
      {"reason", {{"type", "string"}}},
      {"package", {{"type", "string"}}},
      {"spec_keys", {{"type", "array"}, {"items", {{"type", "string"}}}}},
      {"created_at", {{"type", "string"}}},
      {"updated_at", {{"type", "string"}}}}}};

ApiReply json_reply(json data) {
  ApiReply reply;
  reply.data = std::move(data);
  return reply;
}

}  // namespace

void DockService::authenticate(ApiRequest& request) const { accounts_->authenticate(request); }

DockService::DockService(DockConfig config) : config_(std::move(config)) {
  market_ = std::make_unique<Market>(Market::open(config_.market_dir, config_.ctx, config_.limits, config_.db));
  search_gate_ = std::make_unique<SearchGate>(
      config_.search_slots > 0 ? config_.search_slots : default_search_slots(config_.ctx.n_threads),
      config_.search_queue_wait);
  submission_db_ = open_submission_database(config_.db.db, config_.market_dir);
  submissions_ = std::make_unique<SubmissionService>(*market_, config_.market_dir, *submission_db_, config_.uploads);
  auto bind = [this](ApiReply (DockService::*member)(const ApiRequest&) const) {
    return [this, member](const ApiRequest& request) { return (this->*member)(request); };
  };
  // The route table: every route, its least role, what the document says of
  // it. Nothing else decides who may call what (http_server.cpp checks the
  // role against min_role before the handler runs).
  routes_ = {
      {"GET", "/healthz", Role::anonymous, "service", "Liveness: the process answers", {}, nullptr,
       {{"type", "object"}, {"properties", {{"status", {{"type", "string"}}}}}}, "application/json",
       bind(&DockService::healthz)},
      {"GET", "/readyz", Role::anonymous, "service", "Readiness: the market's database answers", {}, nullptr,
       {{"type", "object"}, {"properties", {{"status", {{"type", "string"}}}}}}, "application/json",
       bind(&DockService::readyz)},
      {"GET", "/api/openapi.json", Role::anonymous, "service", "This document (not enveloped)", {}, nullptr, nullptr,
       "application/json", nullptr},
      {"GET", "/api/engine/vocabulary", Role::anonymous, "engine",
       "The semantic vocabularies: fields, their types and allowed values", {}, nullptr,
       {{"type", "array"}, {"items", {{"type", "object"}}}}, "application/json", bind(&DockService::vocabulary)},
      {"GET", "/api/engine/learnwares", Role::anonymous, "engine", "Usable learnwares, by id, paged", page_params(),
       nullptr,
       {{"type", "object"},
        {"properties",
         {{"items", {{"type", "array"}, {"items", kRecordSchema}}},
          {"page", {{"type", "integer"}}},
          {"page_size", {{"type", "integer"}}},
          {"total", {{"type", "integer"}}}}}},
       "application/json", bind(&DockService::list_learnwares)},
      {"GET", "/api/engine/learnwares/{id}", Role::anonymous, "engine",
       "One learnware: its record and semantic specification", {}, nullptr,
       {{"type", "object"}, {"properties", {{"record", kRecordSchema}, {"semantic", {{"type", "object"}}}}}},
       "application/json", bind(&DockService::learnware_info)},
      {"GET", "/api/engine/overview", Role::anonymous, "engine",
       "The market in numbers for its home page: learnwares by status, and usable ones by kind of statistical "
       "specification",
       {}, nullptr,
       {{"type", "object"},
        {"properties",
         {{"total", {{"type", "integer"}}},
          {"by_status", {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}},
          {"usable_by_kind", {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}}}}},
       "application/json", bind(&DockService::overview)},
      {"GET", "/api/engine/learnwares/{id}/spec", Role::anonymous, "engine",
       "The learnware's statistical specifications: each one's kind and summary (K, width, ...), the spec file "
       "itself (to search with, or to compare), and for RKME point sets the points on their first two principal "
       "components with their weights",
       {}, nullptr,
       {{"type", "object"},
        {"properties",
         {{"id", {{"type", "string"}}},
          {"specs",
           {{"type", "array"},
            {"items",
             {{"type", "object"},
              {"properties",
               {{"type", {{"type", "string"}}},
                {"summary", {{"type", "object"}}},
                {"file", {{"type", "object"}, {"description", "the spec file, as `lwdock spec generate` writes it"}}},
                {"projection",
                 {{"type", {"object", "null"}},
                  {"description", "x, y, weight per point; explained: share of the weighted variance per axis"}}}}}}}}}}}},
       "application/json", bind(&DockService::learnware_spec)},
      {"GET", "/api/engine/learnwares/{id}/download", Role::anonymous, "engine", "The learnware's package (zip)", {},
       nullptr, nullptr, "application/zip", bind(&DockService::download)},
      {"GET", "/api/engine/download", Role::anonymous, "engine",
       "Packages: one learnware's zip, or up to 10 in one zip (<id>.zip each); by ids, or by a download link's "
       "token (no Authorization needed: the token is the credential, and works once)",
       json::array({{{"name", "ids"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}},
                     {"description", "1 to 10 learnware ids, comma-separated"}},
                    {{"name", "token"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}},
                     {"description", "a token of POST /api/engine/download-tokens (instead of ids)"}}}),
       nullptr, nullptr, "application/zip", bind(&DockService::download_many)},
      {"POST", "/api/engine/download-tokens", Role::anonymous, "engine",
       "A download link for up to 10 learnwares the caller may see: works once, without Authorization, for a few "
       "minutes",
       {},
       {{"required", true},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"required", {"ids"}},
              {"properties",
               {{"ids",
                 {{"type", "array"}, {"minItems", 1}, {"maxItems", 10}, {"items", {{"type", "string"}}}}}}}}}}}}}},
       {{"type", "object"},
        {"properties",
         {{"token", {{"type", "string"}, {"description", "lwd_d_...: shown once, stored as a hash"}}},
          {"expires_at", {{"type", "string"}}},
          {"url", {{"type", "string"}, {"description", "the path to GET, token included"}}}}}},
       "application/json", bind(&DockService::issue_download_token)},
      {"POST", "/api/engine/search", Role::anonymous, "engine",
       "Search: semantic fields and a statistical spec of any kind; singles and the mixture, paged", page_params(),
       {{"required", false},
        {"content",
         {{"application/json",
           {{"schema", {{"type", "object"}, {"description", "the engine's search request: {spec, semantic, options}"}}}}},
          {"multipart/form-data",
           {{"schema",
             {{"type", "object"},
              {"properties",
               {{"spec", {{"type", "string"}, {"format", "binary"}, {"description", "a spec file of any kind"}}},
                {"semantic", {{"type", "string"}, {"description", "semantic specification JSON"}}},
                {"options", {{"type", "string"}, {"description", "search options JSON"}}}}}}}}}}}},
       {{"type", "object"},
        {"description", "the engine's search response (as `lwdock search --json`) with page, page_size, total"}},
       "application/json", bind(&DockService::search), {ApiCode::busy}},
  };
  // The accounts live in the market's database, so replicas share users and sessions.
  accounts_ = std::make_unique<AccountService>(
      [url = config_.db.db, file = config_.market_dir / "index.sqlite"] { return open_database_connection(url, file); },
      config_.accounts);
  for (Route& route : accounts_->routes()) routes_.push_back(std::move(route));
  for (Route& route : submissions_->routes()) routes_.push_back(std::move(route));
  migrate_engine_tables(*submission_db_);
  download_tokens_ = std::make_unique<DownloadTokens>(*submission_db_);
  usage_ = std::make_unique<UsageCounters>(*submission_db_);
  admin_ = std::make_unique<AdminService>(*market_, config_.market_dir, config_.db.db, *submission_db_,
                                          submissions_->queue(), *usage_);
  for (Route& route : admin_->routes()) routes_.push_back(std::move(route));
  openapi_ = openapi_document(routes_, LWD_VERSION);
  if (config_.verification.workers > 0) {
    verifiers_ = std::make_unique<VerifierPool>(config_.market_dir, config_.db, config_.limits, config_.verification);
    submissions_->on_submitted([pool = verifiers_.get()] { pool->wake(); });
  }
}

DockService::~DockService() = default;

ApiReply DockService::healthz(const ApiRequest&) const { return json_reply({{"status", "ok"}}); }

ApiReply DockService::readyz(const ApiRequest&) const {
  try {
    // One indexed lookup: the database answers (an id that cannot exist).
    (void)market_->get("readiness-probe");
  } catch (const Error& e) {
    throw ApiError(ApiCode::not_ready, e.what());
  }
  return json_reply({{"status", "ready"}});
}

ApiReply DockService::vocabulary(const ApiRequest&) const {
  json out = json::array();
  for (const auto& v : semantic_vocabularies()) {
    const char* type = v.type == SemanticFieldType::kClass ? "Class" : v.type == SemanticFieldType::kTag ? "Tag" : "String";
    out.push_back({{"key", v.key}, {"type", type}, {"values", v.values}});
  }
  return json_reply(out);
}

LearnwareRecord DockService::visible_learnware(const ApiRequest& request, const std::string& id) const {
  if (!is_valid_learnware_id(id)) throw ApiError(ApiCode::not_found, "no learnware " + id);
  auto record = market_->get(id);
  // Unverified or failed learnwares: their owner's and the admins' only.
  if (!record || (record->status != LearnwareStatus::usable && !submissions_->may_see_any_status(request, id))) {
    throw ApiError(ApiCode::not_found, "no learnware " + id);
  }
  return *record;
}

ApiReply DockService::list_learnwares(const ApiRequest& request) const {
  const Page page = page_of(request, config_.max_page_size);
  const auto records = market_->list(LearnwareStatus::usable);
  const auto total = static_cast<std::int64_t>(records.size());
  json items = json::array();
  for (auto i = page.first(total); i < page.last(total); ++i) items.push_back(to_json(records[static_cast<std::size_t>(i)]));
  json data = page.describe(total);
  data["items"] = std::move(items);
  return json_reply(data);
}

ApiReply DockService::learnware_info(const ApiRequest& request) const {
  const LearnwareRecord record = visible_learnware(request, request.path_params.at("id"));
  json semantic = nullptr;
  if (const auto spec = market_->semantic_spec(record.id)) spec->to_json(semantic);
  return json_reply({{"record", to_json(record)}, {"semantic", semantic}});
}

ApiReply DockService::overview(const ApiRequest&) const {
  json by_status = {{"usable", 0}, {"not_usable", 0}, {"invalid", 0}};
  json by_kind = json::object();
  const auto records = market_->list();
  for (const LearnwareRecord& record : records) {
    const std::string status(to_string(record.status));
    by_status[status] = by_status.value(status, 0) + 1;
    if (record.status != LearnwareStatus::usable) continue;
    for (const std::string& key : record.spec_keys) {
      // "RKMETableSpecification/8": the kind, then what parts its pack
      const std::string kind = key.substr(0, key.find('/'));
      by_kind[kind] = by_kind.value(kind, 0) + 1;
    }
  }
  return json_reply({{"total", records.size()}, {"by_status", by_status}, {"usable_by_kind", by_kind}});
}

ApiReply DockService::learnware_spec(const ApiRequest& request) const {
  const LearnwareRecord record = visible_learnware(request, request.path_params.at("id"));
  // The spec files are read from the package as the checker read them (staged
  // as hostile, within the market's limits); the model is extracted too,
  // which bounds this by the package limits, not by the spec.
  const StagedPackage staged =
      StagedPackage::open(market_->store().package_path(record.id), config_.limits.package);
  json specs = json::array();
  for (const auto& path : staged.stat_spec_paths()) {
    const StatSpec spec = load_stat_spec(path, config_.limits.spec);
    json item = spec_summary_json(spec);
    item["file"] = spec.kind().to_json(spec);
    specs.push_back(std::move(item));
  }
  return json_reply({{"id", record.id}, {"specs", std::move(specs)}});
}

ApiReply DockService::download(const ApiRequest& request) const {
  return package_reply({visible_learnware(request, request.path_params.at("id"))});
}

ApiReply DockService::package_reply(const std::vector<LearnwareRecord>& records) const {
  ApiReply reply;
  if (records.size() == 1) {
    reply.file_path = market_->store().package_path(records[0].id).string();
    reply.download_name = records[0].id + ".zip";
  } else {
    for (const LearnwareRecord& record : records) {
      ZipMember member{record.id + ".zip", market_->store().package_path(record.id), 0};
      std::error_code ec;
      member.size = std::filesystem::file_size(member.path, ec);
      if (ec) throw ApiError(ApiCode::not_found, "no learnware " + record.id);
      reply.zip_members.push_back(std::move(member));
    }
    if (!stored_zip_size(reply.zip_members)) {
      throw ApiError(ApiCode::payload_too_large, "the packages are too large for one zip: download them one by one");
    }
    reply.download_name = "learnwares.zip";
  }
  usage_->count("downloads", static_cast<std::int64_t>(records.size()));
  return reply;
}

namespace {

constexpr std::size_t kMaxDownloadIds = 10;

// Up to 10 distinct learnware ids, in the order given; 400 otherwise.
std::vector<std::string> download_ids(const std::vector<std::string>& given) {
  if (given.empty() || given.size() > kMaxDownloadIds) {
    throw ApiError(ApiCode::malformed_request, "give 1 to " + std::to_string(kMaxDownloadIds) + " learnware ids");
  }
  std::vector<std::string> ids;
  for (const std::string& id : given) {
    if (id.empty()) throw ApiError(ApiCode::malformed_request, "an empty learnware id");
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

}  // namespace

ApiReply DockService::download_many(const ApiRequest& request) const {
  const auto token = request.query_param("token");
  const auto ids_text = request.query_param("ids");
  if (token.has_value() == ids_text.has_value()) {
    throw ApiError(ApiCode::malformed_request, "give ids=ID,ID,... or the token of a download link");
  }
  std::vector<std::string> ids;
  ApiRequest caller = request;
  if (token) {
    const auto redeemed = download_tokens_->redeem(*token);
    if (!redeemed) throw ApiError(ApiCode::not_found, "no such download link: unknown, used or expired");
    // What the link's maker may see now (a role lowered or an account
    // deleted since holds; an anonymous maker sees usable learnwares).
    caller = ApiRequest{};
    if (redeemed->user_id != 0) {
      if (const auto user = accounts_->store().find_user(redeemed->user_id)) {
        caller.user_id = user->id;
        caller.username = user->name;
        caller.role = user->role;
      }
    }
    ids = redeemed->ids;
  } else {
    std::vector<std::string> given;
    std::size_t at = 0;
    while (true) {
      const auto comma = ids_text->find(',', at);
      given.push_back(ids_text->substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (comma == std::string::npos || given.size() > kMaxDownloadIds) break;
      at = comma + 1;
    }
    ids = download_ids(given);
  }
  std::vector<LearnwareRecord> records;
  for (const std::string& id : ids) records.push_back(visible_learnware(caller, id));
  return package_reply(records);
}

ApiReply DockService::issue_download_token(const ApiRequest& request) const {
  if (request.body.size() > config_.max_json_body_bytes) {
    throw ApiError(ApiCode::payload_too_large,
                   "the body is larger than " + std::to_string(config_.max_json_body_bytes) + " bytes");
  }
  if (request.content_type != "application/json") {
    throw ApiError(ApiCode::malformed_request, "send the body as application/json");
  }
  const json body = parse_request_json(request.body, "the request body", io::JsonLimits{});
  if (!body.is_object()) throw ApiError(ApiCode::malformed_request, "the body must be a JSON object {\"ids\": [...]}");
  for (const auto& [key, _] : body.items()) {
    if (key != "ids") throw ApiError(ApiCode::malformed_request, "unknown field \"" + key + "\" (ids)");
  }
  if (!body.contains("ids") || !body["ids"].is_array()) {
    throw ApiError(ApiCode::malformed_request, "give ids: an array of learnware ids");
  }
  std::vector<std::string> given;
  for (const json& id : body["ids"]) {
    if (!id.is_string()) throw ApiError(ApiCode::malformed_request, "every id must be a string");
    given.push_back(id.get<std::string>());
  }
  const std::vector<std::string> ids = download_ids(given);
  for (const std::string& id : ids) (void)visible_learnware(request, id);
  const IssuedDownload issued = download_tokens_->issue(request.user_id, ids, config_.download_token_ttl);
  ApiReply reply;
  reply.http_status = 201;
  reply.data = {{"token", issued.token},
                {"expires_at", utc_text(issued.expires_ms)},
                {"url", "/api/engine/download?token=" + issued.token}};
  return reply;
}

ApiReply DockService::search(const ApiRequest& request) const {
  const SpecLimits& limits = config_.limits.spec;
  const Page page = page_of(request, config_.max_page_size);
  json doc = json::object();
  if (request.content_type == "application/json") {
    doc = parse_request_json(request.body, "the request body", limits.spec_json());
  } else if (request.content_type == "multipart/form-data") {
    auto part = [&](const std::string& name) -> std::optional<std::string> {
      if (const auto it = request.files.find(name); it != request.files.end()) return it->second.content;
      if (const auto it = request.form_fields.find(name); it != request.form_fields.end()) return it->second;
      return std::nullopt;
    };
    for (const auto& [name, _] : request.files) {
      if (name != "spec" && name != "semantic" && name != "options")
        throw ApiError(ApiCode::malformed_request, "unknown part \"" + name + "\" (spec, semantic, options)");
    }
    for (const auto& [name, _] : request.form_fields) {
      if (name != "spec" && name != "semantic" && name != "options")
        throw ApiError(ApiCode::malformed_request, "unknown part \"" + name + "\" (spec, semantic, options)");
    }
    if (const auto text = part("spec")) doc["spec"] = parse_request_json(*text, "the spec part", limits.spec_json());
    if (const auto text = part("semantic"))
      doc["semantic"] = parse_request_json(*text, "the semantic part", limits.semantic_json());
    if (const auto text = part("options")) doc["options"] = parse_request_json(*text, "the options part", {});
  } else if (!request.body.empty()) {
    throw ApiError(ApiCode::malformed_request, "send the search as application/json or multipart/form-data");
  }
  SearchRequest search_request;
  try {
    search_request = search_request_from_json(doc, "the search request");
  } catch (const Error& e) {
    throw ApiError(ApiCode::malformed_request, e.what());
  }
  const bool with_stat = !search_request.spec.empty();
  SearchResponse response;
  try {
    if (with_stat) check_spec_limits(search_request.spec, limits, "the search request's spec");
    const auto slot = search_gate_->enter();
    if (!slot) {
      throw ApiError(ApiCode::busy,
                     "the server is running " + std::to_string(search_gate_->slots()) +
                         " searches and no slot freed up within " +
                         std::to_string(search_gate_->max_wait().count()) + " ms; retry in 1 s",
                     {{"Retry-After", "1"}});
    }
    response = market_->search(search_request);
  } catch (const Error& e) {
    throw ApiError(ApiCode::unprocessable, e.what());
  }
  // Page the list a person scrolls: the singles, or the semantic matches.
  std::int64_t total = 0;
  if (with_stat) {
    auto& singles = response.stat.singles;
    total = static_cast<std::int64_t>(singles.size());
    singles = {singles.begin() + page.first(total), singles.begin() + page.last(total)};
  } else {
    auto& ids = response.semantic_ids;
    total = static_cast<std::int64_t>(ids.size());
    ids = {ids.begin() + page.first(total), ids.begin() + page.last(total)};
  }
  usage_->count("searches");
  json data = to_json(response, with_stat);
  const json paging = page.describe(total);
  for (const auto& [key, value] : paging.items()) data[key] = value;
  return json_reply(data);
}

}  // namespace lwd::service

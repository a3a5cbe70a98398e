#include "service/admin_routes.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <system_error>

#include "engine/api/json_api.h"
#include "engine/error.h"

namespace lwd::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

ApiReply json_reply(json data) {
  ApiReply reply;
  reply.data = std::move(data);
  return reply;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Bytes of the regular files under `dir` (0 when it does not exist).
std::uint64_t bytes_under(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

std::uint64_t file_bytes(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  return ec ? 0 : size;
}

const std::vector<std::string> kStatuses = {"waiting", "processing", "usable", "not_usable", "invalid"};
const std::vector<std::string> kSemanticFields = {"Data", "Task", "Library", "Scenario", "License"};

}  // namespace

std::string AdminService::Row::status() const {
  if (record) return std::string(to_string(record->status));
  return latest ? latest->status() : "";
}

std::string AdminService::Row::verification() const { return latest ? latest->status() : ""; }

std::string AdminService::Row::owner() const {
  if (record && !record->owner.empty()) return record->owner;
  return latest ? latest->owner_name : "";
}

AdminService::AdminService(Market& market, fs::path market_dir, std::string db_url, SubmissionDatabase& db,
                           JobQueue& queue, UsageCounters& usage)
    : market_(market),
      market_dir_(std::move(market_dir)),
      db_url_(std::move(db_url)),
      db_(db),
      queue_(queue),
      usage_(usage) {}

std::vector<AdminService::Row> AdminService::rows() const {
  std::map<std::string, Row> by_id;
  for (LearnwareRecord& record : market_.list()) {
    Row& row = by_id[record.id];
    row.id = record.id;
    row.record = std::move(record);
  }
  // Newest first: the first submission seen of a learnware is its latest.
  for (Submission& s : queue_.list(0)) {
    if (s.learnware_id.empty()) continue;
    // Not in the market: listed while its add waits or is verified; done
    // (deleted since, withdrawn, or given up), it is no learnware.
    if (!by_id.contains(s.learnware_id) && s.state == "done") continue;
    Row& row = by_id[s.learnware_id];
    row.id = s.learnware_id;
    if (!row.latest) row.latest = std::move(s);
  }
  std::vector<Row> out;
  for (auto& [id, row] : by_id) {
    if (!row.record && !row.latest) continue;
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<Route> AdminService::routes() {
  auto bind = [this](ApiReply (AdminService::*member)(const ApiRequest&)) {
    return [this, member](const ApiRequest& request) { return (this->*member)(request); };
  };
  const json status_enum = {"waiting", "processing", "usable", "not_usable", "invalid", "withdrawn"};
  const json list_params = json::array({
      {{"name", "status"}, {"in", "query"}, {"required", false},
       {"schema", {{"type", "string"}, {"enum", {"waiting", "processing", "usable", "not_usable", "invalid"}}}},
       {"description",
        "learnwares with this status, or whose newest submission has it (an update waiting: status=waiting)"}},
      {{"name", "owner"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}},
       {"description", "the owner's name (any case)"}},
      {{"name", "q"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}},
       {"description", "part of the id or name, any case"}},
      {{"name", "page"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "integer"}, {"minimum", 1}}},
       {"description", "1-based page number (default 1)"}},
      {{"name", "page_size"}, {"in", "query"}, {"required", false},
       {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}}, {"description", "items per page (default 10)"}},
  });
  const json item = {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"name", {{"type", "string"}}},
        {"owner", {{"type", "string"}}},
        {"status", {{"type", "string"}, {"enum", status_enum}}},
        {"verification",
         {{"type", "string"}, {"nullable", true}, {"enum", status_enum},
          {"description", "the newest submission's status (null: none, it came from `lwdock market add`)"}}},
        {"submission_id", {{"type", "string"}, {"nullable", true}}},
        {"record", {{"type", "object"}, {"nullable", true}, {"description", "null until a worker stored it"}}}}}};
  const json summary_schema = {
      {"type", "object"},
      {"properties",
       {{"learnwares",
         {{"type", "object"},
          {"properties",
           {{"total", {{"type", "integer"}}},
            {"by_status", {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}}}}}},
        {"semantic",
         {{"type", "object"},
          {"description", "per field (Data, Task, Library, Scenario, License): learnwares per value"}}},
        {"storage",
         {{"type", "object"},
          {"properties",
           {{"packages_bytes", {{"type", "integer"}}},
            {"market_h5_bytes", {{"type", "integer"}}},
            {"submissions_bytes", {{"type", "integer"}}},
            {"uploads_bytes", {{"type", "integer"}}},
            {"database_bytes", {{"type", "integer"}, {"nullable", true}}}}}}},
        {"activity",
         {{"type", "array"},
          {"description", "per UTC day, oldest first: searches and downloads (packages sent)"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"day", {{"type", "string"}}}, {"searches", {{"type", "integer"}}}, {"downloads", {{"type", "integer"}}}}}}}}},
        {"queue",
         {{"type", "object"},
          {"properties", {{"queued", {{"type", "integer"}}}, {"processing", {{"type", "integer"}}}}}}}}}};
  return {
      {"GET", "/api/admin/learnwares", Role::admin, "admin-market",
       "Every learnware, whatever its status (waiting, processing, usable, not usable, invalid), with its owner; "
       "filtered and paged",
       list_params, nullptr,
       {{"type", "object"},
        {"properties",
         {{"items", {{"type", "array"}, {"items", item}}},
          {"page", {{"type", "integer"}}},
          {"page_size", {{"type", "integer"}}},
          {"total", {{"type", "integer"}}}}}},
       "application/json", bind(&AdminService::list_learnwares)},
      {"DELETE", "/api/admin/learnwares/{id}", Role::admin, "admin-market",
       "Delete a learnware of any owner and status; its waiting submissions are withdrawn (409 while one is being "
       "verified)",
       {}, nullptr,
       {{"type", "object"}, {"properties", {{"id", {{"type", "string"}}}, {"deleted", {{"type", "boolean"}}}}}},
       "application/json", bind(&AdminService::delete_learnware), {ApiCode::conflict}},
      {"GET", "/api/admin/summary", Role::admin, "admin-market",
       "The market at a glance: learnwares by status and semantic field, storage, searches and downloads per "
       "day, the queue",
       json::array({{{"name", "days"}, {"in", "query"}, {"required", false},
                     {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 366}}},
                     {"description", "days of activity, today included (default 30)"}}}),
       nullptr, summary_schema, "application/json", bind(&AdminService::summary)},
  };
}

ApiReply AdminService::list_learnwares(const ApiRequest& request) {
  const std::int64_t page = request.query_int("page", 1, 1, 1'000'000'000);
  const std::int64_t size = request.query_int("page_size", 10, 1, 100);
  const auto status = request.query_param("status");
  if (status && std::find(kStatuses.begin(), kStatuses.end(), *status) == kStatuses.end()) {
    throw ApiError(ApiCode::malformed_request,
                   "status \"" + *status + "\": waiting, processing, usable, not_usable or invalid");
  }
  const std::string owner = lower(request.query_param("owner").value_or(""));
  const std::string text = lower(request.query_param("q").value_or(""));
  std::vector<Row> matching;
  for (Row& row : rows()) {
    if (status && row.status() != *status && row.verification() != *status) continue;
    if (!owner.empty() && lower(row.owner()) != owner) continue;
    if (!text.empty()) {
      const std::string name = row.record ? row.record->name : "";
      if (lower(row.id).find(text) == std::string::npos && lower(name).find(text) == std::string::npos) continue;
    }
    matching.push_back(std::move(row));
  }
  const auto total = static_cast<std::int64_t>(matching.size());
  json items = json::array();
  for (auto i = std::min(total, (page - 1) * size); i < std::min(total, page * size); ++i) {
    const Row& row = matching[static_cast<std::size_t>(i)];
    items.push_back({{"id", row.id},
                     {"name", row.record ? row.record->name : ""},
                     {"owner", row.owner()},
                     {"status", row.status()},
                     {"verification", row.latest ? json(row.verification()) : json(nullptr)},
                     {"submission_id", row.latest ? json(row.latest->id) : json(nullptr)},
                     {"record", row.record ? to_json(*row.record) : json(nullptr)}});
  }
  return json_reply({{"items", items}, {"page", page}, {"page_size", size}, {"total", total}});
}

ApiReply AdminService::delete_learnware(const ApiRequest& request) {
  const std::string& id = request.path_params.at("id");
  if (!is_valid_learnware_id(id)) throw ApiError(ApiCode::not_found, "no learnware " + id);
  const bool stored = market_.get(id).has_value();
  bool waiting = false;
  for (const Submission& s : queue_.for_learnware(id)) waiting = waiting || s.state != "done";
  if (!stored && !waiting) throw ApiError(ApiCode::not_found, "no learnware " + id);
  if (!queue_.withdraw_for(id)) {
    throw ApiError(ApiCode::conflict, "learnware " + id + " is being verified; delete it when that is done");
  }
  const bool deleted = stored ? market_.remove(id) : true;
  return json_reply({{"id", id}, {"deleted", deleted}});
}

ApiReply AdminService::summary(const ApiRequest& request) {
  const auto days = static_cast<int>(request.query_int("days", 30, 1, 366));
  json by_status = json::object();
  for (const auto& s : kStatuses) by_status[s] = 0;
  json semantic = json::object();
  for (const auto& field : kSemanticFields) semantic[field] = json::object();
  std::int64_t total = 0;
  for (const Row& row : rows()) {
    const std::string status = row.status();
    if (!by_status.contains(status)) continue;
    by_status[status] = by_status[status].get<std::int64_t>() + 1;
    ++total;
    if (!row.record) continue;
    if (const auto spec = market_.semantic_spec(row.id)) {
      for (const auto& field : kSemanticFields) {
        for (const std::string& value : spec->values(field)) {
          json& counts = semantic[field];
          counts[value] = counts.value(value, std::int64_t{0}) + 1;
        }
      }
    }
  }

  json storage = {{"packages_bytes", bytes_under(market_dir_ / "packages")},
                  {"market_h5_bytes", file_bytes(market_dir_ / "market.h5")},
                  {"submissions_bytes", bytes_under(submissions_dir(market_dir_))},
                  {"uploads_bytes", bytes_under(uploads_dir(market_dir_))},
                  {"database_bytes", nullptr}};
  try {
    if (db_.postgres) {
      std::lock_guard lock(db_.mutex);
      const SqlResult r = db_.connection->run("SELECT pg_database_size(current_database())");
      if (!r.rows.empty() && !r.rows[0][0].empty()) storage["database_bytes"] = std::stoll(r.rows[0][0]);
    } else {
      fs::path file = market_dir_ / "index.sqlite";
      if (db_url_.rfind("sqlite:", 0) == 0) file = db_url_.substr(7);
      storage["database_bytes"] = file_bytes(file) + file_bytes(file.string() + "-wal");
    }
  } catch (const Error&) {
    // Not worth failing the summary for: the size stays null.
  }

  std::map<std::string, json> per_day;
  for (const DailyCount& c : usage_.last_days(days)) {
    json& day = per_day[c.day];
    if (day.is_null()) day = {{"day", c.day}, {"searches", 0}, {"downloads", 0}};
    day[c.name] = c.count;
  }
  json activity = json::array();
  for (auto& [_, day] : per_day) activity.push_back(std::move(day));

  json queue = {{"queued", 0}, {"processing", 0}};
  {
    std::lock_guard lock(db_.mutex);
    const SqlResult r = db_.connection->run(
        "SELECT state, COUNT(*) FROM submissions WHERE state IN ('queued', 'processing') GROUP BY state");
    for (const auto& row : r.rows) queue[row[0]] = std::stoll(row[1]);
  }
  return json_reply({{"learnwares", {{"total", total}, {"by_status", by_status}}},
                     {"semantic", semantic},
                     {"storage", storage},
                     {"activity", activity},
                     {"queue", queue}});
}

}  // namespace lwd::service

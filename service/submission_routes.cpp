#include "service/submission_routes.h"

#include <algorithm>
#include <charconv>
#include <fstream>

#include "engine/api/json_api.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "engine/io/sha256.h"

namespace lwd::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

ApiReply json_reply(json data, int status = 200) {
  ApiReply reply;
  reply.http_status = status;
  reply.data = std::move(data);
  return reply;
}

json parse_body(const ApiRequest& request) {
  if (request.content_type != "application/json") {
    throw ApiError(ApiCode::malformed_request, "send the body as application/json");
  }
  try {
    json doc = io::parse_json(request.body, "the request body", io::JsonLimits{});
    if (!doc.is_object()) throw ApiError(ApiCode::malformed_request, "the request body must be a JSON object");
    return doc;
  } catch (const Error& e) {
    throw ApiError(ApiCode::malformed_request, e.what());
  }
}

json submission_json(const Submission& s) {
  return {{"id", s.id},
          {"action", s.action},
          {"learnware_id", s.learnware_id},
          {"status", s.status()},
          {"attempts", s.attempts},
          {"filename", s.filename},
          {"size", s.size},
          {"sha256", s.sha256},
          {"log", s.log},
          {"created_at", s.created_at},
          {"updated_at", s.updated_at}};
}

json upload_json(const UploadState& u) {
  json ranges = json::array();
  for (const auto& [b, e] : u.received) ranges.push_back({b, e});
  return {{"id", u.id},
          {"filename", u.filename},
          {"size", u.size},
          {"sha256", u.sha256},
          {"received", ranges},
          {"received_bytes", u.received_bytes},
          {"complete", u.all_received()}};
}

const json kSubmissionSchema = {
    {"type", "object"},
    {"properties",
     {{"id", {{"type", "string"}}},
      {"action", {{"type", "string"}, {"enum", {"add", "update"}}}},
      {"learnware_id", {{"type", "string"}}},
      {"status",
       {{"type", "string"}, {"enum", {"waiting", "processing", "usable", "not_usable", "invalid", "withdrawn"}}}},
      {"attempts", {{"type", "integer"}}},
      {"filename", {{"type", "string"}}},
      {"size", {{"type", "integer"}}},
      {"sha256", {{"type", "string"}}},
      {"log", {{"type", "string"}, {"description", "one line per step of the verification"}}},
      {"created_at", {{"type", "string"}}},
      {"updated_at", {{"type", "string"}}}}}};

const json kUploadSchema = {
    {"type", "object"},
    {"properties",
     {{"id", {{"type", "string"}}},
      {"filename", {{"type", "string"}}},
      {"size", {{"type", "integer"}}},
      {"sha256", {{"type", "string"}}},
      {"received",
       {{"type", "array"},
        {"description", "received byte ranges [begin, end), merged"},
        {"items", {{"type", "array"}, {"items", {{"type", "integer"}}}}}}},
      {"received_bytes", {{"type", "integer"}}},
      {"complete", {{"type", "boolean"}}}}}};

const json kPackageBody = {
    {"required", true},
    {"content",
     {{"multipart/form-data",
       {{"schema",
         {{"type", "object"},
          {"properties",
           {{"package", {{"type", "string"}, {"format", "binary"}, {"description", "the learnware package (zip)"}}}}}}}}},
      {"application/json",
       {{"schema",
         {{"type", "object"},
          {"properties",
           {{"upload_id", {{"type", "string"}, {"description", "a chunked upload whose bytes have all arrived"}}}}}}}}}}}};

json page_params() {
  return json::array({
      {{"name", "page"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "integer"}, {"minimum", 1}}},
       {"description", "1-based page number (default 1)"}},
      {{"name", "page_size"}, {"in", "query"}, {"required", false},
       {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}}, {"description", "items per page (default 10)"}},
      {{"name", "all"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "boolean"}}},
       {"description", "admins: everyone's submissions, not only their own"}},
  });
}

std::string owner_name(const ApiRequest& request) {
  return request.username.empty() ? "user " + std::to_string(request.user_id) : request.username;
}

}  // namespace

SubmissionService::SubmissionService(Market& market, fs::path market_dir, SubmissionDatabase& db, UploadLimits limits)
    : market_(market),
      market_dir_(std::move(market_dir)),
      queue_(db),
      uploads_(db, uploads_dir(market_dir_), limits) {}

std::vector<Route> SubmissionService::routes() {
  auto bind = [this](ApiReply (SubmissionService::*member)(const ApiRequest&)) {
    return [this, member](const ApiRequest& request) { return (this->*member)(request); };
  };
  const json offset_param = json::array(
      {{{"name", "offset"}, {"in", "query"}, {"required", true}, {"schema", {{"type", "integer"}, {"minimum", 0}}},
        {"description", "where the chunk's first byte goes in the file"}}});
  const json user_learnware = {
      {"type", "object"},
      {"properties",
       {{"record", {{"type", "object"}, {"nullable", true}, {"description", "null until a worker stored it"}}},
        {"semantic", {{"type", "object"}, {"nullable", true}}},
        {"submissions", {{"type", "array"}, {"items", kSubmissionSchema}}}}}};
  return {
      {"POST", "/api/user/uploads", Role::user, "user",
       "Start a chunked upload of a package: its name, size and SHA-256", {},
       {{"required", true},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"required", {"filename", "size", "sha256"}},
              {"properties",
               {{"filename", {{"type", "string"}}},
                {"size", {{"type", "integer"}, {"minimum", 1}}},
                {"sha256", {{"type", "string"}, {"description", "64 hex digits"}}}}}}}}}}}},
       kUploadSchema, "application/json", bind(&SubmissionService::create_upload)},
      {"GET", "/api/user/uploads/{id}", Role::user, "user", "An upload's received ranges (to resume it)", {}, nullptr,
       kUploadSchema, "application/json", bind(&SubmissionService::upload_status)},
      {"PUT", "/api/user/uploads/{id}", Role::user, "user",
       "Bytes of an upload at an offset (any order; an identical retry changes nothing; different bytes: 409)",
       offset_param,
       {{"required", true},
        {"content", {{"application/octet-stream", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}},
       kUploadSchema, "application/json", bind(&SubmissionService::upload_chunk)},
      {"DELETE", "/api/user/uploads/{id}", Role::user, "user", "Abandon an upload", {}, nullptr,
       {{"type", "object"}, {"properties", {{"id", {{"type", "string"}}}}}}, "application/json",
       bind(&SubmissionService::abandon_upload)},
      {"POST", "/api/user/learnwares", Role::user, "user",
       "Submit a learnware: stored as waiting (202) and verified by a worker", {}, kPackageBody, kSubmissionSchema,
       "application/json", bind(&SubmissionService::submit)},
      {"GET", "/api/user/learnwares", Role::user, "user",
       "Your submissions, newest first, with status and verification log", page_params(), nullptr,
       {{"type", "object"},
        {"properties",
         {{"items", {{"type", "array"}, {"items", kSubmissionSchema}}},
          {"page", {{"type", "integer"}}},
          {"page_size", {{"type", "integer"}}},
          {"total", {{"type", "integer"}}}}}},
       "application/json", bind(&SubmissionService::list)},
      {"GET", "/api/user/learnwares/{id}", Role::user, "user",
       "One of your learnwares, whatever its status, with its submissions", {}, nullptr, user_learnware,
       "application/json", bind(&SubmissionService::learnware)},
      {"PUT", "/api/user/learnwares/{id}", Role::user, "user",
       "Replace one of your learnwares' package: stored as waiting (202) and verified by a worker", {}, kPackageBody,
       kSubmissionSchema, "application/json", bind(&SubmissionService::update)},
      {"DELETE", "/api/user/learnwares/{id}", Role::user, "user", "Delete one of your learnwares", {}, nullptr,
       {{"type", "object"}, {"properties", {{"id", {{"type", "string"}}}, {"deleted", {{"type", "boolean"}}}}}},
       "application/json", bind(&SubmissionService::remove)},
      {"GET", "/api/user/submissions/{id}", Role::user, "user", "One submission: its status and verification log", {},
       nullptr, kSubmissionSchema, "application/json", bind(&SubmissionService::submission)},
  };
}

bool SubmissionService::may_see_any_status(const ApiRequest& request, const std::string& id) const {
  if (request.role >= Role::admin) return true;
  if (request.role < Role::user || request.user_id == 0) return false;
  const auto owner = queue_.owner_of(id);
  return owner && *owner == request.user_id;
}

LearnwareRecord SubmissionService::owned_learnware(const ApiRequest& request, const std::string& id) const {
  if (!is_valid_learnware_id(id) || !may_see_any_status(request, id)) {
    throw ApiError(ApiCode::not_found, "no learnware " + id);
  }
  const auto record = market_.get(id);
  if (!record) throw ApiError(ApiCode::not_found, "no learnware " + id);
  return *record;
}

ApiReply SubmissionService::create_upload(const ApiRequest& request) {
  const json body = parse_body(request);
  for (const auto& [key, _] : body.items()) {
    if (key != "filename" && key != "size" && key != "sha256")
      throw ApiError(ApiCode::malformed_request, "unknown key \"" + key + "\" (filename, size, sha256)");
  }
  if (!body.contains("filename") || !body["filename"].is_string() || !body.contains("size") ||
      !body["size"].is_number_integer() || !body.contains("sha256") || !body["sha256"].is_string()) {
    throw ApiError(ApiCode::malformed_request, "give filename (string), size (integer) and sha256 (string)");
  }
  const UploadState state = uploads_.create(request.user_id, body["filename"].get<std::string>(),
                                            body["size"].get<std::int64_t>(), body["sha256"].get<std::string>());
  return json_reply(upload_json(state), 201);
}

ApiReply SubmissionService::upload_status(const ApiRequest& request) {
  return json_reply(upload_json(uploads_.get(request.path_params.at("id"), request.user_id)));
}

ApiReply SubmissionService::upload_chunk(const ApiRequest& request) {
  if (!request.query_param("offset")) throw ApiError(ApiCode::malformed_request, "give the chunk's offset (?offset=N)");
  const std::int64_t offset = request.query_int("offset", 0, 0, std::int64_t{1} << 62);
  if (request.content_type == "multipart/form-data") {
    throw ApiError(ApiCode::malformed_request, "send the chunk's bytes as the body (application/octet-stream)");
  }
  return json_reply(upload_json(uploads_.write_chunk(request.path_params.at("id"), request.user_id, offset,
                                                     request.body)));
}

ApiReply SubmissionService::abandon_upload(const ApiRequest& request) {
  const std::string& id = request.path_params.at("id");
  uploads_.abandon(id, request.user_id);
  return json_reply({{"id", id}});
}

ApiReply SubmissionService::enqueue(const ApiRequest& request, const std::string& action,
                                    const std::string& learnware_id_or_empty) {
  const fs::path dir = submissions_dir(market_dir_);
  const std::string package = random_hex(12) + ".zip";
  NewSubmission job;
  job.owner_id = request.user_id;
  job.owner_name = owner_name(request);
  job.action = action;
  job.package = package;
  auto learnware_id = [&] {
    return learnware_id_or_empty.empty() ? market_.reserve_id() : learnware_id_or_empty;
  };
  std::optional<Submission> queued;
  if (request.content_type == "multipart/form-data") {
    for (const auto& [name, _] : request.files)
      if (name != "package") throw ApiError(ApiCode::malformed_request, "unknown part \"" + name + "\" (package)");
    for (const auto& [name, _] : request.form_fields)
      throw ApiError(ApiCode::malformed_request, "unknown part \"" + name + "\" (package)");
    const auto part = request.files.find("package");
    if (part == request.files.end()) throw ApiError(ApiCode::malformed_request, "the form has no package file");
    const std::string& bytes = part->second.content;
    if (bytes.empty()) throw ApiError(ApiCode::malformed_request, "the package is empty");
    if (bytes.size() > uploads_.limits().max_package_bytes) {
      throw ApiError(ApiCode::payload_too_large,
                     "the package is " + std::to_string(bytes.size()) + " bytes; this server accepts at most " +
                         std::to_string(uploads_.limits().max_package_bytes));
    }
    job.filename = sanitise_filename(part->second.filename);
    job.size = static_cast<std::int64_t>(bytes.size());
    io::Sha256 hash;
    hash.update(bytes);
    job.sha256 = hash.hex_digest();
    std::error_code ec;
    fs::create_directories(dir, ec);
    // Written whole and durable before its row exists: a job never names half a file.
    io::write_text_file_atomically(dir / package, bytes);
    try {
      job.learnware_id = learnware_id();
      queued = queue_.enqueue(job);
    } catch (...) {
      fs::remove(dir / package, ec);
      throw;
    }
  } else {
    const json body = parse_body(request);
    for (const auto& [key, _] : body.items())
      if (key != "upload_id") throw ApiError(ApiCode::malformed_request, "unknown key \"" + key + "\" (upload_id)");
    if (!body.contains("upload_id") || !body["upload_id"].is_string()) {
      throw ApiError(ApiCode::malformed_request,
                     "send the package as a multipart form (part \"package\") or {\"upload_id\": ...} of a "
                     "chunked upload");
    }
    job.learnware_id = learnware_id();
    uploads_.complete(body["upload_id"].get<std::string>(), request.user_id, dir / package,
                      [&](const UploadState& upload) {
                        job.filename = upload.filename;
                        job.size = upload.size;
                        job.sha256 = upload.sha256;
                        queued = queue_.enqueue(job);
                      });
  }
  if (on_submitted_) on_submitted_();
  return json_reply(submission_json(*queued), 202);
}

ApiReply SubmissionService::submit(const ApiRequest& request) { return enqueue(request, "add", ""); }

ApiReply SubmissionService::update(const ApiRequest& request) {
  const LearnwareRecord record = owned_learnware(request, request.path_params.at("id"));
  return enqueue(request, "update", record.id);
}

ApiReply SubmissionService::list(const ApiRequest& request) {
  const std::int64_t page = request.query_int("page", 1, 1, 1'000'000'000);
  const std::int64_t size = request.query_int("page_size", 10, 1, 100);
  bool all = false;
  if (const auto text = request.query_param("all")) {
    if (*text != "true" && *text != "false") throw ApiError(ApiCode::malformed_request, "all must be true or false");
    all = *text == "true";
    if (all && request.role < Role::admin) throw ApiError(ApiCode::forbidden, "all=true needs the role admin");
  }
  const auto submissions = queue_.list(all ? 0 : request.user_id);
  const auto total = static_cast<std::int64_t>(submissions.size());
  json items = json::array();
  for (auto i = std::min(total, (page - 1) * size); i < std::min(total, page * size); ++i) {
    items.push_back(submission_json(submissions[static_cast<std::size_t>(i)]));
  }
  return json_reply({{"items", items}, {"page", page}, {"page_size", size}, {"total", total}});
}

ApiReply SubmissionService::submission(const ApiRequest& request) {
  const std::string& id = request.path_params.at("id");
  const auto s = queue_.get(id);
  if (!s || (request.role < Role::admin && s->owner_id != request.user_id)) {
    throw ApiError(ApiCode::not_found, "no submission " + id);
  }
  return json_reply(submission_json(*s));
}

ApiReply SubmissionService::learnware(const ApiRequest& request) {
  const std::string& id = request.path_params.at("id");
  if (!is_valid_learnware_id(id) || !may_see_any_status(request, id)) {
    throw ApiError(ApiCode::not_found, "no learnware " + id);
  }
  json submissions = json::array();
  for (const Submission& s : queue_.for_learnware(id)) submissions.push_back(submission_json(s));
  json record = nullptr;
  json semantic = nullptr;
  if (const auto stored = market_.get(id)) {
    record = to_json(*stored);
    if (const auto spec = market_.semantic_spec(id)) spec->to_json(semantic);
  } else if (submissions.empty()) {
    throw ApiError(ApiCode::not_found, "no learnware " + id);
  }
  return json_reply({{"record", record}, {"semantic", semantic}, {"submissions", submissions}});
}

ApiReply SubmissionService::remove(const ApiRequest& request) {
  const LearnwareRecord record = owned_learnware(request, request.path_params.at("id"));
  if (!queue_.withdraw_for(record.id)) {
    throw ApiError(ApiCode::conflict, "learnware " + record.id + " is being verified; delete it when that is done");
  }
  const bool deleted = market_.remove(record.id);
  return json_reply({{"id", record.id}, {"deleted", deleted}});
}

}  // namespace lwd::service

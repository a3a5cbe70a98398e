// The dock service's API, independent of the HTTP library: what a route
// receives (ApiRequest), what it answers (ApiReply), how it fails (ApiError),
// and the route table entry (Route) that declares who may call it.
//
// Every JSON reply is the envelope {"code": 0, "msg": "ok", "data": ...}; a
// failure sets an ApiCode (below, listed in the OpenAPI document) with a
// message a person can act on, and an HTTP status that means the same:
// clients may branch on either.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lwd::service {

// Who may call a route: each role may do what the ones before it may.
enum class Role { anonymous, user, admin, super_admin };
std::string_view to_string(Role role);

// The reply codes. The numbers are part of the API: never reuse one.
enum class ApiCode : int {
  ok = 0,
  malformed_request = 1001,  // 400: unreadable body, bad parameter
  unauthenticated = 1002,    // 401
  forbidden = 1003,          // 403
  not_found = 1004,          // 404: no such route, or no such object visible to the caller
  conflict = 1005,           // 409
  payload_too_large = 1006,  // 413
  unprocessable = 1007,      // 422: well-formed, but the engine refuses it (a spec beyond the limits, ...)
  rate_limited = 1008,       // 429
  not_ready = 1009,          // 503: the market or its database cannot be reached
  busy = 1010,               // 503: more searches at once than the server takes; Retry-After
  internal = 1099,           // 500: a bug or a failure of the server itself
};

struct ApiCodeInfo {
  ApiCode code;
  int http_status;
  std::string_view name;
  std::string_view meaning;
};
// Every code with its HTTP status, in order (the OpenAPI document lists them).
const std::vector<ApiCodeInfo>& api_codes();
const ApiCodeInfo& api_code_info(ApiCode code);

// Thrown by a handler to answer with an error: the status comes from the code;
// `headers` go with the reply (Retry-After of a rate_limited one).
class ApiError : public std::runtime_error {
 public:
  ApiError(ApiCode code, const std::string& message, std::map<std::string, std::string> headers = {})
      : std::runtime_error(message), code_(code), headers_(std::move(headers)) {}
  ApiCode code() const { return code_; }
  int http_status() const { return api_code_info(code_).http_status; }
  const std::map<std::string, std::string>& headers() const { return headers_; }

 private:
  ApiCode code_;
  std::map<std::string, std::string> headers_;
};

// {"code": ..., "msg": ..., "data": ...}
nlohmann::json envelope(ApiCode code, std::string_view message, nlohmann::json data = nullptr);

struct UploadedFile {
  std::string filename;      // as the client named it: never used as a path
  std::string content_type;
  std::string content;
};

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // as requested, without the query
  std::map<std::string, std::string> path_params;  // {id} in the route's path -> value
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;       // lower-case names
  std::string content_type;                         // without parameters, lower case
  std::string body;                                 // not for multipart bodies
  std::map<std::string, std::string> form_fields;   // multipart fields that are not files
  std::map<std::string, UploadedFile> files;        // multipart file parts by field name
  std::string remote_addr;
  // Who the caller is, set by DockService::authenticate before the route's
  // role check and handler: 0 / "" / anonymous for a caller with no valid token.
  Role role = Role::anonymous;
  std::int64_t user_id = 0;
  std::string username;

  // The query parameter, or nullopt.
  std::optional<std::string> query_param(std::string_view name) const;
  // A non-negative integer query parameter within [min, max], or `fallback`
  // when absent; ApiError (malformed_request) otherwise.
  std::int64_t query_int(std::string_view name, std::int64_t fallback, std::int64_t min, std::int64_t max) const;
};

// A file of a zip streamed from several (service/zip_stream.h).
struct ZipMember {
  std::string name;             // the name in the archive
  std::filesystem::path path;   // the file sent
  std::uint64_t size = 0;       // its size when listed (a file that changed since fails the stream)
};

struct ApiReply {
  int http_status = 200;
  nlohmann::json data;  // the envelope's data (JSON replies)
  // A file reply instead of JSON: the bytes are read from `file_path` when
  // sent (a package can be large), as `download_name`.
  std::string file_path;
  std::string download_name;
  std::string file_content_type = "application/zip";
  // Or several files, sent as one zip streamed from them (zip_stream.h).
  std::vector<ZipMember> zip_members;
  bool is_file() const { return !file_path.empty() || !zip_members.empty(); }
};

// One route: its method and path ("{name}" marks a path parameter), the
// least role that may call it, and what the OpenAPI document says of it.
struct Route {
  std::string method;
  std::string path;
  Role min_role = Role::anonymous;
  std::string tag;      // groups routes in the document: "service", "engine", ...
  std::string summary;  // one line
  nlohmann::json parameters = nlohmann::json::array();  // OpenAPI parameter objects (query ones; path ones are derived)
  nlohmann::json request_body;                          // OpenAPI requestBody object, or null
  nlohmann::json data_schema;                           // schema of the envelope's data on success, or null
  std::string success_content_type = "application/json";
  std::function<ApiReply(const ApiRequest&)> handler;
  // Codes it may answer beyond those every route of its kind may (400, 500;
  // 401 and 403 with a least role; 404 with a path parameter; 413 and 422
  // with a body), for the document.
  std::vector<ApiCode> more_errors = {};
};

}  // namespace lwd::service

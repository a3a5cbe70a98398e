#include "service/api.h"

#include <charconv>

namespace lwd::service {

std::string_view to_string(Role role) {
  switch (role) {
    case Role::anonymous:
      return "anonymous";
    case Role::user:
      return "user";
    case Role::admin:
      return "admin";
    case Role::super_admin:
      return "super-admin";
  }
  return "anonymous";
}

const std::vector<ApiCodeInfo>& api_codes() {
  static const std::vector<ApiCodeInfo> codes = {
      {ApiCode::ok, 200, "ok", "success"},
      {ApiCode::malformed_request, 400, "malformed_request", "the request cannot be read: body, parameter or file"},
      {ApiCode::unauthenticated, 401, "unauthenticated", "no valid session or client token"},
      {ApiCode::forbidden, 403, "forbidden", "the caller's role may not do this"},
      {ApiCode::not_found, 404, "not_found", "no such route, or no such object the caller may see"},
      {ApiCode::conflict, 409, "conflict", "the object changed or exists already"},
      {ApiCode::payload_too_large, 413, "payload_too_large", "the body is larger than the server accepts"},
      {ApiCode::unprocessable, 422, "unprocessable", "well-formed, but the engine refuses it (the message says why)"},
      {ApiCode::rate_limited, 429, "rate_limited", "too many attempts; retry later"},
      {ApiCode::not_ready, 503, "not_ready", "the market or its database cannot be reached"},
      {ApiCode::busy, 503, "busy", "more searches at once than the server takes; retry after Retry-After seconds"},
      {ApiCode::internal, 500, "internal", "a failure of the server itself"},
  };
  return codes;
}

const ApiCodeInfo& api_code_info(ApiCode code) {
  for (const auto& info : api_codes()) {
    if (info.code == code) return info;
  }
  return api_codes().back();
}

nlohmann::json envelope(ApiCode code, std::string_view message, nlohmann::json data) {
  return {{"code", static_cast<int>(code)}, {"msg", message}, {"data", std::move(data)}};
}

std::optional<std::string> ApiRequest::query_param(std::string_view name) const {
  const auto it = query.find(std::string(name));
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::int64_t ApiRequest::query_int(std::string_view name, std::int64_t fallback, std::int64_t min,
                                   std::int64_t max) const {
  const auto text = query_param(name);
  if (!text) return fallback;
  std::int64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    throw ApiError(ApiCode::malformed_request, "query parameter " + std::string(name) + " must be an integer in [" +
                                                   std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return value;
}

}  // namespace lwd::service

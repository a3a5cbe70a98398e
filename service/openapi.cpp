#include "service/openapi.h"

#include <cctype>

namespace lwd::service {

std::vector<std::string> path_parameter_names(const std::string& path) {
  std::vector<std::string> names;
  for (std::size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open + 1)) {
    const std::size_t close = path.find('}', open);
    if (close == std::string::npos) break;
    names.push_back(path.substr(open + 1, close - open - 1));
  }
  return names;
}

namespace {

nlohmann::json envelope_schema(const nlohmann::json& data_schema) {
  return {{"type", "object"},
          {"required", {"code", "msg", "data"}},
          {"properties",
           {{"code", {{"type", "integer"}, {"description", "0, or one of the codes in x-lwdock-codes"}}},
            {"msg", {{"type", "string"}}},
            {"data", data_schema.is_null() ? nlohmann::json{{"nullable", true}} : data_schema}}}};
}

std::string operation_id(const Route& route) {
  std::string id = route.method;
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool upper = true;
  for (const char c : route.path) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      id += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      upper = false;
    } else {
      upper = true;
    }
  }
  return id;
}

}  // namespace

nlohmann::json openapi_document(const std::vector<Route>& routes, const std::string& version) {
  nlohmann::json codes = nlohmann::json::array();
  for (const auto& info : api_codes()) {
    codes.push_back({{"code", static_cast<int>(info.code)},
                     {"http_status", info.http_status},
                     {"name", info.name},
                     {"meaning", info.meaning}});
  }
  nlohmann::json doc = {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "lwdock dock service"},
        {"version", version},
        {"description",
         "The learnware dock's HTTP API. Every JSON reply is {code, msg, data}; code 0 is success, the "
         "others are listed in x-lwdock-codes with the HTTP status each comes with."}}},
      {"x-lwdock-codes", codes},
      {"components",
       {{"securitySchemes",
         {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"description", "a session or client token"}}}}},
        {"schemas", {{"Envelope", envelope_schema(nullptr)}}}}},
      {"paths", nlohmann::json::object()},
  };
  for (const auto& route : routes) {
    nlohmann::json parameters = nlohmann::json::array();
    for (const auto& name : path_parameter_names(route.path)) {
      parameters.push_back({{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
    for (const auto& p : route.parameters) parameters.push_back(p);
    nlohmann::json success;
    if (route.success_content_type == "application/json") {
      success = {{"description", "success"},
                 {"content", {{"application/json", {{"schema", envelope_schema(route.data_schema)}}}}}};
    } else {
      success = {{"description", "the file"},
                 {"content", {{route.success_content_type, {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}};
    }
    nlohmann::json responses = {{"200", success}};
    const nlohmann::json error_body = {
        {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Envelope"}}}}}}}};
    auto add_error = [&](ApiCode code) {
      const auto& info = api_code_info(code);
      nlohmann::json r = error_body;
      r["description"] = std::string(info.name) + ": " + std::string(info.meaning);
      responses[std::to_string(info.http_status)] = r;
    };
    add_error(ApiCode::malformed_request);
    if (route.min_role != Role::anonymous) {
      add_error(ApiCode::unauthenticated);
      add_error(ApiCode::forbidden);
    }
    if (!path_parameter_names(route.path).empty()) add_error(ApiCode::not_found);
    if (!route.request_body.is_null()) {
      add_error(ApiCode::payload_too_large);
      add_error(ApiCode::unprocessable);
    }
    for (const ApiCode code : route.more_errors) add_error(code);
    add_error(ApiCode::internal);
    nlohmann::json op = {{"operationId", operation_id(route)},
                         {"summary", route.summary},
                         {"description", route.min_role == Role::anonymous
                                             ? std::string("Anyone may call it; no token needed.")
                                             : "Least role: " + std::string(to_string(route.min_role)) +
                                                   " (Authorization: Bearer <session or client token> of a "
                                                   "user with this role or a higher one)."},
                         {"tags", {route.tag}},
                         {"parameters", parameters},
                         {"responses", responses},
                         {"x-lwdock-min-role", to_string(route.min_role)},
                         {"security", route.min_role == Role::anonymous
                                          ? nlohmann::json::array()
                                          : nlohmann::json::array({{{"bearer", nlohmann::json::array()}}})}};
    if (!route.request_body.is_null()) op["requestBody"] = route.request_body;
    std::string method = route.method;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    doc["paths"][route.path][method] = op;
  }
  return doc;
}

}  // namespace lwd::service

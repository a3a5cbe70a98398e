// The OpenAPI 3 document of a route table: every operation with its
// parameters, body, reply schema, the codes it may answer, and its security
// requirement (none for anonymous routes, a bearer token otherwise) with the
// least role in "x-lwdock-min-role". The test suite checks the server against
// it, route by route.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "service/api.h"

namespace lwd::service {

nlohmann::json openapi_document(const std::vector<Route>& routes, const std::string& version);

// The names of a path's parameters, in order: "/a/{id}/b/{n}" -> {"id", "n"}.
std::vector<std::string> path_parameter_names(const std::string& path);

}  // namespace lwd::service

// Resolving the paths a manifest names against the package root. A package
// comes from a developer we do not trust, so a relative path must stay inside
// its root: "../" tricks and absolute paths are rejected where the caller
// says so.
#pragma once

#include <filesystem>
#include <string_view>

namespace lwd::model_detail {

// root / relative, lexically normalised. Throws lwd::Error naming `what` when
// `relative` is empty, absolute, or climbs out of the root.
std::filesystem::path resolve_inside_package(const std::filesystem::path& package_root,
                                             const std::filesystem::path& relative, std::string_view what);

}  // namespace lwd::model_detail

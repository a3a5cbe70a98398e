// Which memory allocator lwdock runs on (`lwdock --version` says it): jemalloc
// with transparent huge pages when built with LW_JEMALLOC (CMakeLists.txt), the
// C library's malloc otherwise.
#pragma once

#include <string>

namespace lwdock {

// e.g. "jemalloc 5.3.0-0-g54eaed1d…, thp:always".
std::string allocator_description();

}  // namespace lwdock

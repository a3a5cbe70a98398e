#include "apps/lwdock/allocator.h"

#ifdef LWD_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

// jemalloc reads its options from this symbol when it starts, before main and
// before the environment's MALLOC_CONF (which still overrides it). Transparent
// huge pages for the heap and jemalloc's own metadata: a command's heap is a
// few megabytes it touches once, and on a virtual machine faulting them in 4
// KiB at a time was the largest single cost of a one-search command. The
// kernel grants huge pages only where its policy allows ("madvise" or
// "always" in /sys/kernel/mm/transparent_hugepage/enabled); elsewhere nothing
// changes.
#ifdef LWD_JEMALLOC
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
const char* malloc_conf = "thp:always,metadata_thp:always";
}
#endif

namespace lwdock {

std::string allocator_description() {
#ifdef LWD_JEMALLOC
  const char* version = nullptr;
  std::size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) return "jemalloc";
  const char* thp = nullptr;
  size = sizeof(thp);
  std::string out = std::string("jemalloc ") + version;
  if (mallctl("opt.thp", &thp, &size, nullptr, 0) == 0 && thp != nullptr) out += ", thp:" + std::string(thp);
  return out;
#else
  return "the C library's malloc";
#endif
}

}  // namespace lwdock

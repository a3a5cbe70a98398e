// parse_manifest (engine/package/manifest.h), the learnware.yaml reader:
// refused with lwd::Error or accepted; an accepted manifest lists its file
// references, and manifest_to_yaml of it parses back to an equal Manifest
// (the round trip manifest.h promises).
#include <string>

#include "engine/error.h"
#include "engine/package/manifest.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lwd::Manifest manifest;
  try {
    manifest = lwd::parse_manifest(lwd::fuzz::as_text(data, size), "fuzz.zip!learnware.yaml");
  } catch (const lwd::Error&) {
    return 0;  // expected refusal
  }
  for (const lwd::ManifestFileReference& ref : lwd::manifest_file_references(manifest))
    LWD_FUZZ_CHECK(lwd::archive_name_problem(ref.archive_name).empty(), "every referenced file name is usable");
  const std::string written = lwd::manifest_to_yaml(manifest);
  try {
    if (!(lwd::parse_manifest(written, "written.yaml") == manifest)) {
      std::fprintf(stderr, "written manifest:\n%s\n", written.c_str());
      LWD_FUZZ_CHECK(false, "a written manifest reads back equal");
    }
  } catch (const lwd::Error& e) {
    std::fprintf(stderr, "%s\nwritten manifest:\n%s\n", e.what(), written.c_str());
    LWD_FUZZ_CHECK(false, "a manifest the reader accepted and wrote out is accepted again");
  }
  return 0;
}

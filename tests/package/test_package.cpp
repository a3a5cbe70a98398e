// Learnware packages (engine/package/package.h): building them reproducibly,
// staging them safely, and refusing hostile archives without leaving anything
// behind. The hostile archives are made here with libzip, and where libzip
// will not write the lie itself (embedded NUL, understated sizes, duplicate
// names) its output is patched byte by byte.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/package/package.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1 << 20;

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t permission_bits(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path.string());
  return st.st_mode & 07777;
}

// Every path below `root`, relative, so a test can tell that nothing appeared.
std::set<std::string> tree_listing(const fs::path& root) {
  std::set<std::string> listing;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    listing.insert(entry.path().lexically_relative(root).generic_string());
  }
  return listing;
}

// A fresh directory per test: input archives, sources, a staging parent and
// outputs all live inside, so "nothing was written elsewhere" can be checked.
class Sandbox {
 public:
  Sandbox() {
    std::string pattern = (fs::temp_directory_path() / "lwd-test-package-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = pattern;
    fs::create_directories(staging());
    fs::create_directories(root_ / "out");
  }
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  ~Sandbox() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  const fs::path& root() const { return root_; }
  fs::path staging() const { return root_ / "staging"; }
  fs::path input(const std::string& name) const { return root_ / "in" / name; }
  fs::path output(const std::string& name) const { return root_ / "out" / name; }

 private:
  fs::path root_;
};

// ---- writing archives by hand ----------------------------------------------

struct RawEntry {
  std::string name;
  std::string content;
  std::optional<std::uint32_t> unix_mode;  // full st_mode incl. type bits; nullopt: libzip's default
  bool directory = false;
  bool encrypted = false;
};

void write_zip(const fs::path& path, const std::vector<RawEntry>& entries) {
  fs::create_directories(path.parent_path());
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (archive == nullptr) throw std::runtime_error("zip_open failed");
  for (const RawEntry& entry : entries) {
    zip_int64_t index = -1;
    if (entry.directory) {
      index = zip_dir_add(archive, entry.name.c_str(), ZIP_FL_ENC_RAW);
    } else {
      zip_source_t* source = zip_source_buffer(archive, entry.content.data(), entry.content.size(), 0);
      index = zip_file_add(archive, entry.name.c_str(), source, ZIP_FL_ENC_RAW);
      if (index < 0) zip_source_free(source);
    }
    if (index < 0) throw std::runtime_error("libzip refused entry '" + entry.name + "'");
    const auto at = static_cast<zip_uint64_t>(index);
    if (entry.unix_mode) zip_file_set_external_attributes(archive, at, 0, ZIP_OPSYS_UNIX, *entry.unix_mode << 16);
    if (entry.encrypted) {
      const zip_uint16_t method =
          zip_encryption_method_supported(ZIP_EM_AES_256, 1) ? ZIP_EM_AES_256 : ZIP_EM_TRAD_PKWARE;
      if (zip_file_set_encryption(archive, at, method, "secret") != 0) throw std::runtime_error("no encryption");
    }
  }
  if (zip_close(archive) != 0) {
    std::string message = zip_error_strerror(zip_get_error(archive));
    zip_discard(archive);
    throw std::runtime_error("zip_close failed: " + message);
  }
}

// Replaces every occurrence of `from` by `to` (same length) in a file.
void patch_bytes(const fs::path& path, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  std::string bytes = read_file(path);
  std::size_t count = 0;
  for (std::size_t at = bytes.find(from); at != std::string::npos; at = bytes.find(from, at + to.size())) {
    bytes.replace(at, from.size(), to);
    ++count;
  }
  ASSERT_GT(count, 0u) << "'" << from << "' not found in " << path;
  write_file(path, bytes);
}

void put_u32(std::string& bytes, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

// Rewrites the uncompressed size that the local and central headers of entry
// `name` declare, leaving the compressed data alone: the archive now lies.
void understate_size(const fs::path& path, const std::string& name, std::uint32_t declared) {
  std::string bytes = read_file(path);
  int patched = 0;
  for (std::size_t at = 0; at + 46 < bytes.size(); ++at) {
    if (bytes.compare(at, 4, "PK\x03\x04") == 0 && bytes.compare(at + 30, name.size(), name) == 0) {
      put_u32(bytes, at + 22, declared);
      ++patched;
    } else if (bytes.compare(at, 4, "PK\x01\x02") == 0 && bytes.compare(at + 46, name.size(), name) == 0) {
      put_u32(bytes, at + 24, declared);
      ++patched;
    }
  }
  ASSERT_EQ(patched, 2) << "expected one local and one central header for " << name;
  write_file(path, bytes);
}

// ---- a valid package, entry by entry -----------------------------------------

const char* const kManifestText = R"yaml(format: lwdock-learnware/1
name: "test learnware"
model:
  kind: xgboost
  file: model.json
  task: regression
  input_dim: 3
  output_dim: 1
semantic_specification: semantic.json
stat_specifications:
  - type: RKMETableSpecification
    file: rkme.json
environment: environment.yaml
)yaml";

const char* const kProcessManifestText = R"yaml(format: lwdock-learnware/1
model:
  kind: process
  task: classification
  input_dim: 2
  output_dim: 2
  command: ["./bin/predict.sh", "weights.bin"]
semantic_specification: spec/semantic.json
stat_specifications:
  - type: RKMETableSpecification
    file: spec/rkme.json
environment: environment.yaml
)yaml";

std::vector<RawEntry> valid_entries() {
  return {
      {"learnware.yaml", kManifestText, {}, false, false},
      {"model.json", R"({"learner":{"trees":[]}})", {}, false, false},
      {"semantic.json", R"({"Data":{"Values":["Table"],"Type":"Class"}})", {}, false, false},
      {"rkme.json",
       R"({"type":"RKMETableSpecification","gamma":0.1,"num_points":1,"z":[[0,0,0]],"beta":[1]})",
       {},
       false,
       false},
      {"environment.yaml", "python: '3.11'\n", {}, false, false},
  };
}

std::vector<RawEntry> with_entry(std::vector<RawEntry> entries, RawEntry extra) {
  entries.push_back(std::move(extra));
  return entries;
}

std::vector<RawEntry> without_entry(std::vector<RawEntry> entries, const std::string& name) {
  entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const RawEntry& e) { return e.name == name; }),
                entries.end());
  return entries;
}

std::vector<RawEntry> with_content(std::vector<RawEntry> entries, const std::string& name, std::string content) {
  for (RawEntry& entry : entries) {
    if (entry.name == name) entry.content = std::move(content);
  }
  return entries;
}

// Opening `zip` must fail with lwd::Error mentioning each fragment, and leave
// the sandbox exactly as it was: no staging directory, nothing anywhere else.
void expect_refused(const Sandbox& sandbox, const fs::path& zip, const std::vector<std::string>& fragments,
                    const PackageLimits& limits = {}) {
  const std::set<std::string> before = tree_listing(sandbox.root());
  try {
    StagedPackage staged = StagedPackage::open(zip, limits, sandbox.staging());
    ADD_FAILURE() << "accepted " << zip << ", staged at " << staged.root();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message << "\nexpected: " << fragment;
    }
  }
  EXPECT_TRUE(fs::is_empty(sandbox.staging())) << "staging directory left behind";
  EXPECT_EQ(tree_listing(sandbox.root()), before) << "files appeared or vanished outside staging";
}

void expect_entries_refused(const Sandbox& sandbox, const std::vector<RawEntry>& entries,
                            const std::vector<std::string>& fragments, const PackageLimits& limits = {}) {
  const fs::path zip = sandbox.input("hostile.zip");
  write_zip(zip, entries);
  expect_refused(sandbox, zip, fragments, limits);
}

// Sources for build_package, written into the sandbox.
struct Sources {
  Manifest manifest;
  std::map<std::string, fs::path> files;
};

Sources write_sources(const Sandbox& sandbox, const char* manifest_text = kManifestText) {
  Sources sources{parse_manifest(manifest_text, "test"), {}};
  int counter = 0;
  for (const ManifestFileReference& ref : manifest_file_references(sources.manifest)) {
    const fs::path source = sandbox.root() / "src" / ("file" + std::to_string(counter++));
    write_file(source, "contents of " + ref.archive_name + "\n" + std::string(1000 + 37 * counter, 'x'));
    sources.files.emplace(ref.archive_name, source);
  }
  return sources;
}

// ---- round trip -------------------------------------------------------------

TEST(Package, BuildThenOpenGivesTheSameManifestAndFiles) {
  Sandbox sandbox;
  const Sources sources = write_sources(sandbox);
  const fs::path zip = sandbox.output("learnware.zip");
  build_package(sources.manifest, sources.files, zip);

  const StagedPackage staged = StagedPackage::open(zip, {}, sandbox.staging());
  EXPECT_EQ(staged.manifest(), sources.manifest);
  EXPECT_EQ(staged.root().parent_path(), sandbox.staging());
  EXPECT_EQ(permission_bits(staged.root()), 0755);  // the model sandbox's uid reads it
  for (const auto& [name, source] : sources.files) {
    EXPECT_EQ(read_file(staged.path_of(name)), read_file(source)) << name;
    EXPECT_EQ(permission_bits(staged.path_of(name)), 0644) << name;
  }
  EXPECT_EQ(parse_manifest(read_file(staged.path_of("learnware.yaml")), "staged"), sources.manifest);
  EXPECT_EQ(staged.semantic_json_text(), read_file(sources.files.at("semantic.json")));
  EXPECT_EQ(staged.stat_spec_paths(), std::vector<fs::path>{staged.root() / "rkme.json"});
  EXPECT_EQ(tree_listing(staged.root()),
            (std::set<std::string>{"learnware.yaml", "model.json", "semantic.json", "rkme.json", "environment.yaml"}));
}

TEST(Package, ProcessPackageRoundTripsWithAnExecutableCommand) {
  Sandbox sandbox;
  const Sources sources = write_sources(sandbox, kProcessManifestText);
  const fs::path zip = sandbox.output("process.zip");
  build_package(sources.manifest, sources.files, zip);

  // The archive itself records mode 0755 for the command, 0644 for the rest.
  int error = 0;
  zip_t* archive = zip_open(zip.c_str(), ZIP_RDONLY, &error);
  ASSERT_NE(archive, nullptr);
  for (zip_int64_t i = 0; i < zip_get_num_entries(archive, 0); ++i) {
    zip_uint8_t opsys = 0;
    zip_uint32_t attributes = 0;
    ASSERT_EQ(zip_file_get_external_attributes(archive, static_cast<zip_uint64_t>(i), 0, &opsys, &attributes), 0);
    const std::string name = zip_get_name(archive, static_cast<zip_uint64_t>(i), 0);
    EXPECT_EQ(opsys, ZIP_OPSYS_UNIX);
    EXPECT_EQ(attributes >> 16, name == "bin/predict.sh" ? (S_IFREG | 0755u) : (S_IFREG | 0644u)) << name;
  }
  zip_discard(archive);

  const StagedPackage staged = StagedPackage::open(zip, {}, sandbox.staging());
  EXPECT_EQ(staged.manifest(), sources.manifest);
  EXPECT_EQ(permission_bits(staged.path_of("bin/predict.sh")), 0755);
  EXPECT_EQ(permission_bits(staged.path_of("spec/rkme.json")), 0644);
  EXPECT_EQ(read_file(staged.path_of("bin/predict.sh")), read_file(sources.files.at("bin/predict.sh")));
}

TEST(Package, CommandBecomesExecutableEvenWhenTheArchiveLostTheBit) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("process.zip");
  write_zip(zip, {
                     {"learnware.yaml", kProcessManifestText, {}, false, false},
                     {"bin/predict.sh", "#!/bin/sh\n", S_IFREG | 0600, false, false},
                     {"spec/semantic.json", "{}", S_IFREG | 0777, false, false},
                     {"spec/rkme.json", "{}", {}, false, false},
                     {"environment.yaml", "", {}, false, false},
                 });
  const StagedPackage staged = StagedPackage::open(zip, {}, sandbox.staging());
  EXPECT_EQ(permission_bits(staged.path_of("bin/predict.sh")), 0755);
  EXPECT_EQ(permission_bits(staged.path_of("spec/semantic.json")), 0644);
}

TEST(Package, StagingDirectoryIsRemovedOnDestructionAndFollowsMoves) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("ok.zip");
  write_zip(zip, valid_entries());
  fs::path root;
  {
    StagedPackage first = StagedPackage::open(zip, {}, sandbox.staging());
    root = first.root();
    StagedPackage second = std::move(first);
    EXPECT_EQ(second.root(), root);
    EXPECT_TRUE(first.root().empty());  // NOLINT(bugprone-use-after-move): moved-from state is specified
    StagedPackage third = StagedPackage::open(zip, {}, sandbox.staging());
    const fs::path third_root = third.root();
    third = std::move(second);
    EXPECT_FALSE(fs::exists(third_root)) << "move assignment must release the directory it replaces";
    EXPECT_TRUE(fs::exists(root / "model.json"));
  }
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::is_empty(sandbox.staging()));
}

TEST(Package, StagesUnderTheSystemTempDirectoryByDefault) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("ok.zip");
  write_zip(zip, valid_entries());
  fs::path root;
  {
    const StagedPackage staged = StagedPackage::open(zip);
    root = staged.root();
    EXPECT_EQ(root.parent_path(), fs::temp_directory_path());
    EXPECT_EQ(root.filename().string().rfind("lwd-package-", 0), 0u);
  }
  EXPECT_FALSE(fs::exists(root));
}

TEST(Package, DirectoryEntriesAreAllowed) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("dirs.zip");
  write_zip(zip, {
                     {"spec/", "", {}, true, false},
                     {"empty-folder/", "", {}, true, false},
                     {"learnware.yaml", kProcessManifestText, {}, false, false},
                     {"bin/predict.sh", "#!/bin/sh\n", {}, false, false},
                     {"spec/semantic.json", "{}", {}, false, false},
                     {"spec/rkme.json", "{}", {}, false, false},
                     {"environment.yaml", "", {}, false, false},
                 });
  const StagedPackage staged = StagedPackage::open(zip, {}, sandbox.staging());
  EXPECT_TRUE(fs::is_directory(staged.root() / "empty-folder"));
  EXPECT_EQ(read_file(staged.stat_spec_paths().at(0)), "{}");
}

TEST(Package, PathOfStaysInsideTheStagingDirectory) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("ok.zip");
  write_zip(zip, valid_entries());
  const StagedPackage staged = StagedPackage::open(zip, {}, sandbox.staging());
  EXPECT_EQ(staged.path_of("model.json"), staged.root() / "model.json");
  EXPECT_EQ(staged.path_of("not/there.txt"), staged.root() / "not" / "there.txt");
  for (const char* bad : {"../x", "/etc/passwd", "a/../../x", "", "a\\b", "..", "."}) {
    EXPECT_THROW(staged.path_of(bad), Error) << bad;
  }
}

// ---- building ---------------------------------------------------------------

TEST(BuildPackage, EqualInputsGiveByteIdenticalArchives) {
  Sandbox sandbox;
  const Sources sources = write_sources(sandbox, kProcessManifestText);
  build_package(sources.manifest, sources.files, sandbox.output("a.zip"));
  // Source modification times must not leak into the archive.
  for (const auto& [name, source] : sources.files) {
    fs::last_write_time(source, fs::last_write_time(source) - std::chrono::hours(24 * 400));
  }
  build_package(sources.manifest, sources.files, sandbox.output("b.zip"));
  EXPECT_EQ(read_file(sandbox.output("a.zip")), read_file(sandbox.output("b.zip")));

  Manifest renamed = sources.manifest;
  renamed.name = "another name";
  build_package(renamed, sources.files, sandbox.output("c.zip"));
  EXPECT_NE(read_file(sandbox.output("a.zip")), read_file(sandbox.output("c.zip")));
}

TEST(BuildPackage, ReplacesAnExistingArchive) {
  Sandbox sandbox;
  const Sources sources = write_sources(sandbox);
  const fs::path zip = sandbox.output("learnware.zip");
  write_file(zip, "old contents");
  build_package(sources.manifest, sources.files, zip);
  EXPECT_EQ(StagedPackage::open(zip, {}, sandbox.staging()).manifest(), sources.manifest);
  EXPECT_EQ(tree_listing(sandbox.root() / "out"), std::set<std::string>{"learnware.zip"});
}

// build_package must throw and leave the output folder exactly as it was.
void expect_build_refused(const Sandbox& sandbox, const Manifest& manifest,
                          const std::map<std::string, fs::path>& files, const std::string& fragment) {
  const fs::path zip = sandbox.output("learnware.zip");
  const std::set<std::string> before = tree_listing(sandbox.root() / "out");
  const std::string old_contents = fs::exists(zip) ? read_file(zip) : "";
  try {
    build_package(manifest, files, zip);
    ADD_FAILURE() << "build_package accepted the inputs";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
  EXPECT_EQ(tree_listing(sandbox.root() / "out"), before);
  if (fs::exists(zip)) {
    EXPECT_EQ(read_file(zip), old_contents);
  }
}

TEST(BuildPackage, MissingSourceFileLeavesNoOutput) {
  Sandbox sandbox;
  Sources sources = write_sources(sandbox);
  fs::remove(sources.files.at("rkme.json"));
  expect_build_refused(sandbox, sources.manifest, sources.files, "missing or not a regular file");
  EXPECT_FALSE(fs::exists(sandbox.output("learnware.zip")));
}

TEST(BuildPackage, FailureKeepsThePreviousArchiveUntouched) {
  Sandbox sandbox;
  Sources sources = write_sources(sandbox);
  write_file(sandbox.output("learnware.zip"), "previous package");
  sources.files["rkme.json"] = sandbox.root() / "src" / "no-such-file";
  expect_build_refused(sandbox, sources.manifest, sources.files, "no-such-file");
}

TEST(BuildPackage, RefusesAManifestFileWithoutSource) {
  Sandbox sandbox;
  Sources sources = write_sources(sandbox);
  sources.files.erase("environment.yaml");
  expect_build_refused(sandbox, sources.manifest, sources.files, "field 'environment' names 'environment.yaml'");
}

TEST(BuildPackage, RefusesFilesTheManifestDoesNotReference) {
  Sandbox sandbox;
  Sources sources = write_sources(sandbox);
  sources.files.emplace("notes.txt", sources.files.at("rkme.json"));
  expect_build_refused(sandbox, sources.manifest, sources.files, "'notes.txt' is not referenced");
  Sources with_manifest = write_sources(sandbox);
  with_manifest.files.emplace("learnware.yaml", with_manifest.files.at("rkme.json"));
  expect_build_refused(sandbox, with_manifest.manifest, with_manifest.files, "written from the manifest");
}

TEST(BuildPackage, RefusesAnInvalidManifest) {
  Sandbox sandbox;
  Sources sources = write_sources(sandbox);
  sources.manifest.model.input_dim = 0;
  expect_build_refused(sandbox, sources.manifest, sources.files, "model.input_dim");
}

TEST(BuildPackage, RefusesFilesAboveTheLimits) {
  Sandbox sandbox;
  const Sources sources = write_sources(sandbox);
  PackageLimits limits;
  limits.max_entry_bytes = 100;
  try {
    build_package(sources.manifest, sources.files, sandbox.output("big.zip"), limits);
    ADD_FAILURE() << "accepted files above max_entry_bytes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(sandbox.output("big.zip")));
}

// ---- hostile names ------------------------------------------------------------

TEST(PackageRefuses, ZipSlipNames) {
  Sandbox sandbox;
  const std::string outside = (sandbox.root() / "outside.txt").string();
  for (const std::string& name : {std::string("../evil"), std::string("a/../../b"), std::string("../../../tmp/evil"),
                                  outside, std::string("/etc/x"), std::string("a\\..\\..\\b"), std::string("a\\b"),
                                  std::string("./model.json"), std::string("a//b")}) {
    SCOPED_TRACE(name);
    expect_entries_refused(sandbox, with_entry(valid_entries(), {name, "pwned", {}, false, false}),
                           {"unsafe", "hostile.zip"});
  }
  EXPECT_FALSE(fs::exists(sandbox.root() / "outside.txt"));
}

TEST(PackageRefuses, EntryNameWithEmbeddedNul) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("nul.zip");
  write_zip(zip, with_entry(valid_entries(), {"model.jsonZ../evil", "pwned", {}, false, false}));
  patch_bytes(zip, "model.jsonZ../evil", std::string("model.json\0../evil", 18));
  expect_refused(sandbox, zip, {"NUL"});
}

TEST(PackageRefuses, SymlinkEntries) {
  Sandbox sandbox;
  expect_entries_refused(sandbox,
                         with_entry(without_entry(valid_entries(), "model.json"),
                                    {"model.json", "/etc/passwd", S_IFLNK | 0777, false, false}),
                         {"'model.json'", "symbolic link"});
}

TEST(PackageRefuses, SpecialFileEntries) {
  Sandbox sandbox;
  expect_entries_refused(
      sandbox,
      with_entry(without_entry(valid_entries(), "model.json"), {"model.json", "", S_IFIFO | 0644, false, false}),
      {"'model.json'", "special file"});
}

TEST(PackageRefuses, DuplicateEntryNames) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("duplicate.zip");
  write_zip(zip, with_entry(valid_entries(), {"rkme.jsoQ", "{}", {}, false, false}));
  patch_bytes(zip, "rkme.jsoQ", "rkme.json");
  expect_refused(sandbox, zip, {"duplicate.zip", "'rkme.json' appears more than once"});
}

TEST(PackageRefuses, AFileAndAFolderOfTheSameName) {
  Sandbox sandbox;
  expect_entries_refused(sandbox, with_entry(valid_entries(), {"model.json/", "", {}, true, false}),
                         {"'model.json'", "more than once"});
  expect_entries_refused(sandbox, with_entry(valid_entries(), {"model.json/inner", "x", {}, false, false}),
                         {"'model.json/inner'", "inside 'model.json'"});
}

TEST(PackageRefuses, EncryptedEntries) {
  Sandbox sandbox;
  std::vector<RawEntry> entries = valid_entries();
  entries[1].encrypted = true;
  expect_entries_refused(sandbox, entries, {"'model.json'", "encrypted"});
}

// ---- sizes and counts -----------------------------------------------------------

TEST(PackageRefuses, EntryAboveTheSizeLimit) {
  Sandbox sandbox;
  PackageLimits limits;
  limits.max_entry_bytes = kMiB;
  expect_entries_refused(sandbox, with_content(valid_entries(), "model.json", std::string(2 * kMiB, '\0')),
                         {"'model.json'", "limit of 1048576"}, limits);
}

TEST(PackageRefuses, EntryWhoseHeaderUnderstatesItsSize) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("bomb.zip");
  write_zip(zip, with_content(valid_entries(), "model.json", std::string(2 * kMiB, '\0')));
  EXPECT_LT(fs::file_size(zip), 64 * 1024u) << "zeros should compress well";
  understate_size(zip, "model.json", 100);
  PackageLimits limits;
  limits.max_entry_bytes = kMiB;
  expect_refused(sandbox, zip, {"'model.json'", "expands to more than 1048576 bytes"}, limits);
  // Within the limits, the lie is still caught: the entry is not what it claims.
  expect_refused(sandbox, zip, {"'model.json'"});
}

TEST(PackageRefuses, TooManyEntries) {
  Sandbox sandbox;
  PackageLimits limits;
  limits.max_entries = 5;
  expect_entries_refused(sandbox, with_entry(valid_entries(), {"extra/", "", {}, true, false}),
                         {"6 entries", "limit of 5"}, limits);
}

TEST(PackageRefuses, TotalAboveTheLimit) {
  Sandbox sandbox;
  PackageLimits limits;
  limits.max_entry_bytes = kMiB;
  limits.max_total_bytes = kMiB;
  auto entries = with_content(valid_entries(), "model.json", std::string(600 * 1024, 'm'));
  entries = with_content(entries, "rkme.json", std::string(600 * 1024, 'r'));
  expect_entries_refused(sandbox, entries, {"limit of 1048576"}, limits);
}

TEST(PackageRefuses, TotalAboveTheLimitWhenHeadersUnderstateSizes) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("bombs.zip");
  auto entries = with_content(valid_entries(), "model.json", std::string(600 * 1024, '\0'));
  entries = with_content(entries, "rkme.json", std::string(600 * 1024, '\0'));
  write_zip(zip, entries);
  // model.json is honest and fits; rkme.json claims 10 bytes so the declared
  // total fits too, and only counting while extracting finds the excess.
  understate_size(zip, "rkme.json", 10);
  PackageLimits limits;
  limits.max_entry_bytes = kMiB;
  limits.max_total_bytes = kMiB;
  expect_refused(sandbox, zip, {"'rkme.json'", "total size of all entries"}, limits);
}

TEST(PackageRefuses, ManifestAboveItsLimit) {
  Sandbox sandbox;
  PackageLimits limits;
  limits.max_manifest_bytes = 100;
  expect_entries_refused(sandbox, valid_entries(), {"'learnware.yaml'", "manifest size limit"}, limits);
}

// ---- manifest against archive -----------------------------------------------------

TEST(PackageRefuses, MissingManifest) {
  Sandbox sandbox;
  expect_entries_refused(sandbox, without_entry(valid_entries(), "learnware.yaml"), {"no learnware.yaml"});
  expect_entries_refused(sandbox,
                         with_entry(without_entry(valid_entries(), "learnware.yaml"),
                                    {"pkg/learnware.yaml", kManifestText, {}, false, false}),
                         {"no learnware.yaml"});
}

TEST(PackageRefuses, ManifestReferencingAMissingFile) {
  Sandbox sandbox;
  expect_entries_refused(sandbox, without_entry(valid_entries(), "rkme.json"),
                         {"field 'stat_specifications[0].file'", "'rkme.json'", "no such file"});
  expect_entries_refused(sandbox, without_entry(valid_entries(), "model.json"), {"field 'model.file'"});
}

TEST(PackageRefuses, ProcessCommandMissingFromTheArchive) {
  Sandbox sandbox;
  expect_entries_refused(sandbox,
                         {
                             {"learnware.yaml", kProcessManifestText, {}, false, false},
                             {"spec/semantic.json", "{}", {}, false, false},
                             {"spec/rkme.json", "{}", {}, false, false},
                             {"environment.yaml", "", {}, false, false},
                         },
                         {"field 'model.command[0]'", "'bin/predict.sh'"});
}

TEST(PackageRefuses, UnknownExtraFile) {
  Sandbox sandbox;
  expect_entries_refused(sandbox, with_entry(valid_entries(), {"notes.txt", "hello", {}, false, false}),
                         {"unknown file 'notes.txt'"});
}

TEST(PackageRefuses, MalformedManifest) {
  Sandbox sandbox;
  expect_entries_refused(sandbox, with_content(valid_entries(), "learnware.yaml", "format: [oops\n"),
                         {"hostile.zip!learnware.yaml", "not valid YAML"});
  std::string typo = kManifestText;
  typo.replace(typo.find("input_dim"), 9, "imput_dim");
  expect_entries_refused(sandbox, with_content(valid_entries(), "learnware.yaml", typo), {"model.imput_dim"});
}

// ---- not a zip -------------------------------------------------------------------

TEST(PackageRefuses, RandomBytes) {
  Sandbox sandbox;
  std::mt19937 random(42);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(random() & 0xff);
  write_file(sandbox.input("random.zip"), bytes);
  expect_refused(sandbox, sandbox.input("random.zip"), {"random.zip", "not a zip archive"});
}

TEST(PackageRefuses, EmptyFile) {
  Sandbox sandbox;
  write_file(sandbox.input("empty.zip"), "");
  expect_refused(sandbox, sandbox.input("empty.zip"), {"empty"});
}

TEST(PackageRefuses, MissingFileOrFolder) {
  Sandbox sandbox;
  expect_refused(sandbox, sandbox.input("absent.zip"), {"no such file"});
  fs::create_directories(sandbox.input("folder.zip"));
  expect_refused(sandbox, sandbox.input("folder.zip"), {"not a regular file"});
}

TEST(PackageRefuses, TruncatedArchives) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("whole.zip");
  write_zip(zip, valid_entries());
  const std::string bytes = read_file(zip);
  for (const std::size_t keep : {bytes.size() / 2, bytes.size() - 10, bytes.size() - 30, std::size_t{30}}) {
    SCOPED_TRACE(keep);
    write_file(sandbox.input("cut.zip"), bytes.substr(0, keep));
    expect_refused(sandbox, sandbox.input("cut.zip"), {"cut.zip"});
  }
  // Data cut from the middle while the directory survives: offsets now point wrong.
  write_file(sandbox.input("cut.zip"), bytes.substr(0, 40) + bytes.substr(80));
  expect_refused(sandbox, sandbox.input("cut.zip"), {"cut.zip"});
}

TEST(PackageRefuses, CorruptedCompressedData) {
  Sandbox sandbox;
  const fs::path zip = sandbox.input("corrupt.zip");
  std::string pattern;
  for (int i = 0; i < 20000; ++i) pattern += std::to_string(i * 7919 % 1000);
  write_zip(zip, with_content(valid_entries(), "model.json", pattern));
  std::string bytes = read_file(zip);
  const std::size_t middle = bytes.find("model.json") + 200;  // inside model.json's deflated data
  for (std::size_t i = middle; i < middle + 16; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  write_file(zip, bytes);
  expect_refused(sandbox, zip, {"corrupt archive", "'model.json'"});
}

}  // namespace
}  // namespace lwd

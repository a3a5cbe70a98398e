// The learnware.yaml manifest (engine/package/manifest.h): what it accepts,
// what it refuses and how the refusal names the field to fix.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/json_text.h"
#include "engine/package/manifest.h"

namespace lwd {
namespace {

const char* const kXgboostManifest = R"yaml(format: lwdock-learnware/1
name: "store-17 sales (xgboost)"
model:
  kind: xgboost
  file: model.json
  task: regression
  input_dim: 32
  output_dim: 1
semantic_specification: semantic.json
stat_specifications:
  - type: RKMETableSpecification
    file: rkme.json
environment: environment.yaml
)yaml";

const char* const kProcessManifest = R"yaml(format: lwdock-learnware/1
model:
  kind: process
  task: classification
  input_dim: 4
  output_dim: 3
  command: ["./bin/predict.sh", "--batch", "weights.bin"]
  timeout_seconds: 12.5
semantic_specification: spec/semantic.json
stat_specifications:
  - type: RKMETableSpecification
    file: spec/rkme-a.json
  - type: RKMETableSpecification
    file: spec/rkme-b.json
environment: requirements.txt
)yaml";

// Replaces the first occurrence of `from` in `text` (which must be there).
std::string edited(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in manifest";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// Expects parse_manifest to refuse `yaml` with a message containing every `fragment`.
void expect_refused(const std::string& yaml, const std::vector<std::string>& fragments) {
  try {
    parse_manifest(yaml, "pkg.zip!learnware.yaml");
    ADD_FAILURE() << "accepted:\n" << yaml;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("pkg.zip!learnware.yaml: ", 0), 0u) << message;
    for (const std::string& fragment : fragments) EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

TEST(Manifest, ParsesEveryFieldOfAnXgboostManifest) {
  const Manifest m = parse_manifest(kXgboostManifest, "test");
  EXPECT_EQ(m.format, "lwdock-learnware/1");
  EXPECT_EQ(m.name, "store-17 sales (xgboost)");
  EXPECT_EQ(m.model.kind, "xgboost");
  EXPECT_EQ(m.model.file, "model.json");
  EXPECT_EQ(m.model.task, TaskType::kRegression);
  EXPECT_EQ(m.model.input_dim, 32);
  EXPECT_EQ(m.model.output_dim, 1);
  EXPECT_TRUE(m.model.command.empty());
  EXPECT_EQ(m.semantic_file, "semantic.json");
  ASSERT_EQ(m.stat_specs.size(), 1u);
  EXPECT_EQ(m.stat_specs[0], (StatSpecEntry{"RKMETableSpecification", "rkme.json"}));
  EXPECT_EQ(m.environment_file, "environment.yaml");
}

TEST(Manifest, ParsesAProcessModelWithoutModelFile) {
  const Manifest m = parse_manifest(kProcessManifest, "test");
  EXPECT_EQ(m.name, "");
  EXPECT_EQ(m.model.kind, "process");
  EXPECT_TRUE(m.model.file.empty());
  EXPECT_EQ(m.model.task, TaskType::kClassification);
  EXPECT_EQ(m.model.command, (std::vector<std::string>{"./bin/predict.sh", "--batch", "weights.bin"}));
  EXPECT_DOUBLE_EQ(m.model.timeout_seconds, 12.5);
  ASSERT_EQ(m.stat_specs.size(), 2u);
  EXPECT_EQ(m.stat_specs[1].file, "spec/rkme-b.json");
}

TEST(Manifest, ProcessTimeoutDefaultsToThirtySeconds) {
  const Manifest m = parse_manifest(edited(kProcessManifest, "  timeout_seconds: 12.5\n", ""), "test");
  EXPECT_DOUBLE_EQ(m.model.timeout_seconds, 30.0);
}

TEST(Manifest, YamlRoundTripGivesAnEqualManifest) {
  for (const char* text : {kXgboostManifest, kProcessManifest}) {
    const Manifest original = parse_manifest(text, "test");
    const std::string yaml = manifest_to_yaml(original);
    EXPECT_EQ(parse_manifest(yaml, "round trip"), original) << yaml;
  }
}

TEST(Manifest, YamlRoundTripKeepsAwkwardStrings) {
  Manifest m = parse_manifest(kProcessManifest, "test");
  m.name = "quotes \" and 'colons': #hash, unicode \xc3\xa9, ~";
  m.model.command = {"./bin/predict.sh", "", "null", "- dash", "a: b", "[x]"};
  m.model.timeout_seconds = 0.1;
  m.stat_specs[0].type = "yes";
  m.semantic_file = "null";
  EXPECT_EQ(parse_manifest(manifest_to_yaml(m), "round trip"), m) << manifest_to_yaml(m);
}

// Such a string could not be written back (manifest_to_yaml) and read the same.
TEST(Manifest, StringsThatAreNotUtf8AreRefusedNamingTheField) {
  const std::string manifest = std::string(kProcessManifest);
  for (const std::string bad : {std::string("\x92"), std::string("a\xc3"), std::string("\xed\xa0\x80"),
                                std::string("\xe0\x80\x80"), std::string("\xf4\x90\x80\x80")}) {
    std::string text = manifest;
    const auto at = text.find("spec/semantic.json");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, std::string("spec/semantic.json").size(), bad);
    try {
      parse_manifest(text, "learnware.yaml");
      ADD_FAILURE() << "accepted a file name that is not UTF-8";
    } catch (const lwd::Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("semantic_specification"), std::string::npos) << message;
      EXPECT_NE(message.find("must be UTF-8 text"), std::string::npos) << message;
    }
  }
}

TEST(Utf8, WellFormedTextIsAcceptedAndEveryIllFormedKindRefused) {
  using lwd::io::is_valid_utf8;
  for (const char* good : {"", "plain", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\x9f\xbf",
                           "\xf4\x8f\xbf\xbf"})
    EXPECT_TRUE(is_valid_utf8(good)) << good;
  for (const char* bad : {"\x80", "\xc0\xaf", "\xc1\xbf", "\xc3", "\xe0\x9f\xbf", "\xed\xa0\x80",
                          "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "a\xe2\x82"})
    EXPECT_FALSE(is_valid_utf8(bad)) << bad;
}

TEST(Manifest, FileReferencesListEachFileOnceWithItsField) {
  const Manifest m = parse_manifest(kProcessManifest, "test");
  const std::vector<ManifestFileReference> expected = {
      {"bin/predict.sh", "model.command[0]"},
      {"spec/semantic.json", "semantic_specification"},
      {"spec/rkme-a.json", "stat_specifications[0].file"},
      {"spec/rkme-b.json", "stat_specifications[1].file"},
      {"requirements.txt", "environment"},
  };
  EXPECT_EQ(manifest_file_references(m), expected);
  EXPECT_EQ(process_command_file(m), "bin/predict.sh");
}

TEST(Manifest, AbsoluteProcessCommandIsNotAPackageFile) {
  const Manifest m = parse_manifest(edited(kProcessManifest, "./bin/predict.sh", "/usr/bin/python3"), "test");
  EXPECT_EQ(process_command_file(m), "");
  EXPECT_EQ(manifest_file_references(m).size(), 4u);
}

TEST(Manifest, ProcessModelFileMayBeItsCommand) {
  const std::string yaml = edited(kProcessManifest, "  kind: process\n", "  kind: process\n  file: bin/predict.sh\n");
  const Manifest m = parse_manifest(yaml, "test");
  EXPECT_EQ(manifest_file_references(m).front(), (ManifestFileReference{"bin/predict.sh", "model.file"}));
  EXPECT_EQ(manifest_file_references(m).size(), 5u);
}

TEST(ManifestRefuses, MalformedYaml) {
  expect_refused("format: [unclosed\n", {"not valid YAML", "line"});
  expect_refused("model:\n  kind: xgboost\n kind: bad-indent\n", {"not valid YAML"});
}

TEST(ManifestRefuses, EmptyTextOrNonMappingRoot) {
  expect_refused("", {"empty"});
  expect_refused("# only a comment\n", {"empty"});
  expect_refused("- a\n- b\n", {"must be a mapping"});
  expect_refused("just text\n", {"must be a mapping"});
}

TEST(ManifestRefuses, UnknownFormatVersion) {
  expect_refused(edited(kXgboostManifest, "lwdock-learnware/1", "lwdock-learnware/2"),
                 {"field 'format'", "lwdock-learnware/2", "lwdock-learnware/1"});
}

TEST(ManifestRefuses, EachMissingRequiredField) {
  const std::vector<std::pair<std::string, std::string>> removals = {
      {"format: lwdock-learnware/1\n", "field 'format'"},
      {"  kind: xgboost\n", "field 'model.kind'"},
      {"  file: model.json\n", "field 'model.file'"},
      {"  task: regression\n", "field 'model.task'"},
      {"  input_dim: 32\n", "field 'model.input_dim'"},
      {"  output_dim: 1\n", "field 'model.output_dim'"},
      {"semantic_specification: semantic.json\n", "field 'semantic_specification'"},
      {"    file: rkme.json\n", "field 'stat_specifications[0].file'"},
      {"  - type: RKMETableSpecification\n    file", "field 'stat_specifications[0].type'"},
      {"environment: environment.yaml\n", "field 'environment'"},
  };
  for (const auto& [line, field] : removals) {
    const std::string replacement = line.find("- type") != std::string::npos ? "  - file" : "";
    expect_refused(edited(kXgboostManifest, line, replacement), {field});
  }
  const std::string no_model = R"yaml(format: lwdock-learnware/1
semantic_specification: semantic.json
stat_specifications: [{type: RKMETableSpecification, file: rkme.json}]
environment: environment.yaml
)yaml";
  expect_refused(no_model, {"field 'model'", "required"});
  expect_refused(edited(kProcessManifest, "  command: [\"./bin/predict.sh\", \"--batch\", \"weights.bin\"]\n", ""),
                 {"field 'model.command'", "required"});
}

TEST(ManifestRefuses, UnknownKeysAtEveryLevel) {
  expect_refused(edited(kXgboostManifest, "environment:", "enviroment:"), {"field 'enviroment'", "not a known key"});
  expect_refused(edited(kXgboostManifest, "  input_dim:", "  inputdim:"), {"field 'model.inputdim'"});
  expect_refused(edited(kXgboostManifest, "    file: rkme.json\n", "    file: rkme.json\n    gamma: 0.1\n"),
                 {"field 'stat_specifications[0].gamma'"});
}

TEST(ManifestRefuses, RepeatedKeys) {
  expect_refused(edited(kXgboostManifest, "  output_dim: 1\n", "  output_dim: 1\n  output_dim: 2\n"),
                 {"field 'model.output_dim'", "more than once"});
}

TEST(ManifestRefuses, ValuesOfTheWrongType) {
  expect_refused(edited(kXgboostManifest, "format: lwdock-learnware/1", "format: [lwdock-learnware/1]"),
                 {"field 'format'", "must be a string"});
  expect_refused(edited(kXgboostManifest, "  kind: xgboost", "  kind: {a: b}"), {"field 'model.kind'"});
  expect_refused(edited(kXgboostManifest, "  input_dim: 32", "  input_dim: many"),
                 {"field 'model.input_dim'", "integer", "many"});
  expect_refused(edited(kXgboostManifest, "  input_dim: 32", "  input_dim: 3.5"), {"field 'model.input_dim'"});
  expect_refused(edited(kXgboostManifest, "  output_dim: 1", "  output_dim: [1]"), {"field 'model.output_dim'"});
  expect_refused(edited(kXgboostManifest, "  file: model.json", "  file: [model.json]"), {"field 'model.file'"});
  expect_refused(edited(kXgboostManifest, "environment: environment.yaml", "environment: [a, b]"),
                 {"field 'environment'", "must be a string"});
  expect_refused("format: lwdock-learnware/1\nmodel: xgboost\n", {"field 'model'", "mapping"});
  expect_refused(edited(kXgboostManifest, "  - type: RKMETableSpecification\n    file: rkme.json\n", "  rkme.json\n"),
                 {"field 'stat_specifications'", "list"});
  expect_refused(edited(kXgboostManifest, "  - type: RKMETableSpecification\n    file: rkme.json\n", "  - rkme.json\n"),
                 {"field 'stat_specifications[0]'", "mapping"});
  expect_refused(edited(kProcessManifest, "[\"./bin/predict.sh\", \"--batch\", \"weights.bin\"]", "./bin/predict.sh"),
                 {"field 'model.command'", "list"});
  expect_refused(edited(kProcessManifest, "\"--batch\"", "[nested]"), {"field 'model.command[1]'"});
  expect_refused(edited(kProcessManifest, "timeout_seconds: 12.5", "timeout_seconds: soon"),
                 {"field 'model.timeout_seconds'"});
}

TEST(ManifestRefuses, UnknownModelKind) {
  expect_refused(edited(kXgboostManifest, "kind: xgboost", "kind: lightgbm"),
                 {"field 'model.kind'", "lightgbm", "xgboost, linear, process"});
  expect_refused(edited(kXgboostManifest, "kind: xgboost", "kind: \"\""), {"field 'model.kind'", "empty"});
}

TEST(ManifestRefuses, BadTask) {
  expect_refused(edited(kXgboostManifest, "task: regression", "task: Regression"),
                 {"field 'model.task'", "Regression"});
  expect_refused(edited(kXgboostManifest, "task: regression", "task: clustering"), {"field 'model.task'"});
}

TEST(ManifestRefuses, DimensionsBelowOne) {
  expect_refused(edited(kXgboostManifest, "input_dim: 32", "input_dim: 0"), {"field 'model.input_dim'", ">= 1"});
  expect_refused(edited(kXgboostManifest, "output_dim: 1", "output_dim: -3"), {"field 'model.output_dim'", ">= 1"});
}

TEST(ManifestRefuses, ProcessOnlyKeysOnOtherKinds) {
  expect_refused(edited(kXgboostManifest, "  output_dim: 1\n", "  output_dim: 1\n  command: [\"./run\"]\n"),
                 {"field 'model.command'", "process"});
  expect_refused(edited(kXgboostManifest, "  output_dim: 1\n", "  output_dim: 1\n  timeout_seconds: 5\n"),
                 {"field 'model.timeout_seconds'", "process"});
}

TEST(ManifestRefuses, BadProcessCommandOrTimeout) {
  expect_refused(edited(kProcessManifest, "[\"./bin/predict.sh\", \"--batch\", \"weights.bin\"]", "[]"),
                 {"field 'model.command'", "empty"});
  expect_refused(edited(kProcessManifest, "./bin/predict.sh", ""), {"field 'model.command[0]'", "empty"});
  expect_refused(edited(kProcessManifest, "./bin/predict.sh", "../predict.sh"), {"field 'model.command[0]'", ".."});
  expect_refused(edited(kProcessManifest, "./bin/predict.sh", "./"), {"field 'model.command[0]'"});
  expect_refused(edited(kProcessManifest, "timeout_seconds: 12.5", "timeout_seconds: 0"),
                 {"field 'model.timeout_seconds'"});
  expect_refused(edited(kProcessManifest, "timeout_seconds: 12.5", "timeout_seconds: .inf"),
                 {"field 'model.timeout_seconds'"});
}

TEST(ManifestRefuses, EmptyStatSpecificationList) {
  expect_refused(
      edited(kXgboostManifest, "stat_specifications:\n  - type: RKMETableSpecification\n    file: rkme.json\n",
             "stat_specifications: []\n"),
      {"field 'stat_specifications'", "at least one"});
}

TEST(ManifestRefuses, UnsafeOrEmptyFileNames) {
  const std::vector<std::pair<std::string, std::string>> names = {
      {"\"\"", "empty"},
      {"/etc/passwd", "absolute"},
      {"../model.json", "'..'"},
      {"a/../../model.json", "'..'"},
      {"models/../model.json", "'..'"},
      {"\"models\\\\model.json\"", "backslash"},
      {"./model.json", "'.'"},
      {"a//model.json", "empty path component"},
      {"\"model\\tjson\"", "control character"},
  };
  for (const auto& [name, problem] : names) {
    expect_refused(edited(kXgboostManifest, "file: model.json", "file: " + name), {"field 'model.file'", problem});
  }
  expect_refused(edited(kXgboostManifest, "semantic_specification: semantic.json", "semantic_specification: /x.json"),
                 {"field 'semantic_specification'", "absolute"});
  expect_refused(edited(kXgboostManifest, "environment: environment.yaml", "environment: ../env"),
                 {"field 'environment'"});
  expect_refused(edited(kXgboostManifest, "file: rkme.json", "file: learnware.yaml"),
                 {"field 'stat_specifications[0].file'", "manifest"});
}

TEST(ManifestRefuses, TheSameFileNamedTwice) {
  expect_refused(edited(kXgboostManifest, "file: rkme.json", "file: semantic.json"),
                 {"field 'stat_specifications[0].file'", "semantic.json", "semantic_specification"});
  expect_refused(edited(kXgboostManifest, "environment: environment.yaml", "environment: model.json"),
                 {"field 'environment'", "model.file"});
  expect_refused(edited(kProcessManifest, "file: spec/rkme-b.json", "file: spec/rkme-a.json"),
                 {"field 'stat_specifications[1].file'"});
  expect_refused(edited(kProcessManifest, "environment: requirements.txt", "environment: bin/predict.sh"),
                 {"field 'model.command[0]'", "environment"});
}

TEST(ArchiveNames, AcceptsPlainRelativePaths) {
  for (const char* name : {"model.json", "spec/rkme.json", "a/b/c.d", "caf\xc3\xa9.txt", ".hidden", "x..y"}) {
    EXPECT_EQ(archive_name_problem(name), "") << name;
  }
}

TEST(ArchiveNames, RefusesEmbeddedNul) {
  EXPECT_NE(archive_name_problem(std::string_view("model.json\0../x", 15)).find("NUL"), std::string::npos);
}

}  // namespace
}  // namespace lwd

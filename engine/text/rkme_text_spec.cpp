#include "engine/text/rkme_text_spec.h"

#include <cctype>
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "engine/text/language_detector.h"

namespace lwd {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLanguageCodeLength = 16;

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(std::string(source) + ": " + what);
}

void validate_language_codes(const std::vector<std::string>& codes, std::string_view source) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::string& code = codes[i];
    const std::string at = "field \"language\": language[" + std::to_string(i) + "]";
    if (code.empty() || code.size() > kMaxLanguageCodeLength ||
        !std::all_of(code.begin(), code.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; }))
      fail(source, at + " = \"" + io::excerpt(code) + "\" is not a language code (lower-case letters and '-', e.g. \"en\", \"zh-cn\")");
    if (!seen.insert(code).second) fail(source, at + " = \"" + code + "\" is listed twice");
  }
}

void validate_encoder(const text::TextEncoderId& encoder, std::int64_t z_width, std::string_view source) {
  if (encoder.name.empty()) fail(source, "field \"encoder\": the encoder name is empty");
  if (encoder.dim != z_width)
    fail(source, "field \"encoder\": encoder " + io::excerpt(encoder.describe(), 3 * io::kExcerptChars) + " writes vectors of width " +
                     std::to_string(encoder.dim) + " but z has width " + std::to_string(z_width));
}

text::TextEncoderId read_encoder(const json& in, std::int64_t z_width, std::string_view source) {
  const auto it = in.find("encoder");
  if (it == in.end()) return {std::string(RKMETextSpec::kReferenceEncoderName), z_width, ""};
  const json& e = *it;
  if (!e.is_object()) fail(source, std::string("field \"encoder\" must be an object, got ") + e.type_name());
  const auto field = [&](const char* name) -> const json& {
    const auto f = e.find(name);
    if (f == e.end()) fail(source, std::string("field \"encoder\" has no \"") + name + "\"");
    return *f;
  };
  const json& name = field("name");
  const json& dim = field("dim");
  const json& fingerprint = field("fingerprint");
  if (!name.is_string()) fail(source, std::string("field \"encoder\": \"name\" must be a string, got ") + name.type_name());
  if (!dim.is_number_integer())
    fail(source, std::string("field \"encoder\": \"dim\" must be an integer, got ") + dim.type_name());
  if (!fingerprint.is_string())
    fail(source, std::string("field \"encoder\": \"fingerprint\" must be a string, got ") + fingerprint.type_name());
  return {name.get<std::string>(), dim.get<std::int64_t>(), fingerprint.get<std::string>()};
}

std::vector<std::string> read_language(const json& in, std::string_view source) {
  const auto it = in.find("language");
  if (it == in.end()) fail(source, "missing field \"language\" (a text specification lists its languages, maybe [])");
  if (!it->is_array()) fail(source, std::string("field \"language\" must be an array of strings, got ") + it->type_name());
  std::vector<std::string> codes;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& c = (*it)[i];
    if (!c.is_string())
      fail(source, "field \"language\": language[" + std::to_string(i) + "] must be a string, got " + c.type_name());
    codes.push_back(c.get<std::string>());
  }
  return codes;
}

template <class Json>
void fill_json(const RKMETextSpec& spec, Json& out) {
  if (spec.empty()) throw Error("cannot serialise an empty RKMETextSpec");
  Json rows = json_rows<Json>(spec.rkme().z());
  // The reference's key order: the table spec's attributes, the type, then
  // the text spec's own attribute; ours last.
  out = Json::object();
  out["z"] = std::move(rows);
  out["beta"] = spec.rkme().beta();
  out["gamma"] = spec.gamma();
  out["num_points"] = spec.num_points();
  out["cuda_idx"] = -1;
  out["device"] = "cpu";
  out["type"] = RKMETextSpec::kTypeName;
  out["language"] = spec.language();
  Json encoder = Json::object();
  encoder["name"] = spec.encoder().name;
  encoder["dim"] = spec.encoder().dim;
  encoder["fingerprint"] = spec.encoder().fingerprint;
  out["encoder"] = std::move(encoder);
}

}  // namespace

RKMETextSpec::RKMETextSpec(RKMETableSpec rkme, std::vector<std::string> language, text::TextEncoderId encoder)
    : rkme_(std::move(rkme)), language_(std::move(language)), encoder_(std::move(encoder)) {
  if (rkme_.empty()) throw Error("RKMETextSpec: the RKME is empty");
  validate_language_codes(language_, "RKMETextSpec");
  validate_encoder(encoder_, rkme_.dim(), "RKMETextSpec");
}

RKMETextSpec RKMETextSpec::generate(const kernels::Context& ctx, std::span<const std::string> documents,
                                    const text::SentenceEncoder& encoder, const TextSpecOptions& options) {
  if (documents.empty()) throw Error("cannot build a text specification of no documents");
  std::vector<std::string> language = text::detect_languages(documents);
  kernels::Matrix<double> embeddings = encoder.encode(ctx, documents);
  RKMETableSpec rkme = RKMETableSpec::generate(ctx, std::move(embeddings), options.rkme);
  return RKMETextSpec(std::move(rkme), std::move(language), encoder.id());
}

void RKMETextSpec::require_comparable(const RKMETextSpec& other) const {
  if (empty() || other.empty()) throw Error("text specification is empty");
  if (!comparable_with(other))
    throw Error("text specifications made by different encoders cannot be compared: " + encoder_.describe() +
                " vs " + other.encoder_.describe() + "; build both with the same encoder");
}

double RKMETextSpec::inner_product(const RKMETextSpec& other, const kernels::Context& ctx) const {
  require_comparable(other);
  return rkme_.inner_product(other.rkme_, ctx);
}

double RKMETextSpec::dist(const RKMETextSpec& other, const kernels::Context& ctx) const {
  require_comparable(other);
  return rkme_.dist(other.rkme_, ctx);
}

bool RKMETextSpec::languages_within(const RKMETextSpec& learnware) const {
  return text_languages_compatible(language_, learnware.language_);
}

std::string RKMETextSpec::pack_type() const {
  // Pack names are HDF5 group names of [A-Za-z0-9_]: escape everything else
  // (and '_' itself) as _xx, so distinct encoder keys stay distinct.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kTypeName);
  out += "__";
  for (const char c : encoder_.key()) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) {
      out += c;
    } else {
      out += '_';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string RKMETextSpec::to_json_text() const {
  return io::ordered_json_text([&](nlohmann::ordered_json& out) { fill_json(*this, out); });
}

void RKMETextSpec::to_json(json& out) const { fill_json(*this, out); }

RKMETextSpec RKMETextSpec::parse(std::string_view json_text, std::string_view source, const io::JsonLimits& limits) {
  // The table parser explains syntax errors best (NaN tokens, overflow...):
  // let it fail on the same text.
  return from_json(io::parse_json(json_text, source, limits,
                                  [&](std::string_view text) { RKMETableSpec::parse(text, source, limits); }),
                   source);
}

RKMETextSpec RKMETextSpec::from_json(const json& in, std::string_view source) {
  if (!in.is_object()) fail(source, std::string("expected a JSON object, got ") + in.type_name());
  const auto type = in.find("type");
  if (type == in.end()) fail(source, "missing field \"type\"");
  if (!type->is_string()) fail(source, std::string("field \"type\" must be a string, got ") + type->type_name());
  if (type->get_ref<const std::string&>() != kTypeName)
    fail(source, "field \"type\" is \"" + io::excerpt(type->get_ref<const std::string&>()) + "\", expected \"" + std::string(kTypeName) + "\"");

  std::vector<std::string> language = read_language(in, source);
  validate_language_codes(language, source);

  // The RKME part is a table spec in all but its type name: validate it with
  // the table parser so both report malformed z, beta, gamma alike.
  json table = in;
  table["type"] = RKMETableSpec::kTypeName;
  table.erase("language");
  table.erase("encoder");
  RKMETableSpec rkme = RKMETableSpec::from_json(table, source);

  text::TextEncoderId encoder = read_encoder(in, rkme.dim(), source);
  validate_encoder(encoder, rkme.dim(), source);
  return RKMETextSpec(std::move(rkme), std::move(language), std::move(encoder));
}

void RKMETextSpec::save(const std::filesystem::path& path) const { io::write_text_file_atomically(path, to_json_text()); }

RKMETextSpec RKMETextSpec::load(const std::filesystem::path& path) {
  return parse(io::read_text_file(path), path.string());
}

bool text_languages_compatible(std::span<const std::string> user, std::span<const std::string> learnware) {
  return std::all_of(user.begin(), user.end(), [&](const std::string& code) {
    return std::find(learnware.begin(), learnware.end(), code) != learnware.end();
  });
}

std::vector<std::string> read_documents_file(const std::filesystem::path& path) {
  const std::string content = io::read_text_file(path);
  std::vector<std::string> documents;
  std::size_t start = 0;
  if (content.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;
  while (start < content.size()) {
    std::size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::size_t stop = end;
    if (stop > start && content[stop - 1] == '\r') --stop;
    const std::string_view line(content.data() + start, stop - start);
    if (line.find_first_not_of(" \t\r\f\v") != std::string_view::npos) documents.emplace_back(line);
    start = end + 1;
  }
  if (documents.empty()) throw Error(path.string() + ": no documents (expected one document per line)");
  return documents;
}

RKMETextSpec generate_text_spec_from_file(const kernels::Context& ctx, const std::filesystem::path& documents_file,
                                          const text::SentenceEncoder& encoder, const TextSpecOptions& options) {
  const std::vector<std::string> documents = read_documents_file(documents_file);
  return RKMETextSpec::generate(ctx, documents, encoder, options);
}

}  // namespace lwd

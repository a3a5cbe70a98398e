// RKMETextSpec: the statistical specification of a text collection. A fixed
// sentence encoder maps each document to a vector, the table RKME is built on
// those vectors, and the spec records the documents' languages and which
// encoder made the vectors.
//
// JSON: the reference's RKMETextSpecification, i.e. the table spec's fields
// plus "language", with "type" set to "RKMETextSpecification"; we add
// "encoder" (the reference reads only the fields it knows, so it loads ours):
//   {"z":[[...],...], "beta":[...], "gamma":0.1, "num_points":n,
//    "cuda_idx":-1, "device":"cpu", "type":"RKMETextSpecification",
//    "language":["en"],
//    "encoder":{"name":"sif","dim":100,"fingerprint":"0123456789abcdef"}}
// "language" is required (an array of language codes, possibly empty: the
// reference writes [] when detection fails). A file without "encoder" was
// made by the reference, whose extractor is always the sentence transformer
// paraphrase-multilingual-MiniLM-L12-v2, so it loads with that name, the
// width of z and an empty fingerprint: reference specs compare with each
// other and never with ours.
//
// Compatibility: distances and inner products need the same encoder (name,
// width and fingerprint); anything else throws an lwd::Error naming both
// encoders. A market must also never put specs of different encoders in one
// pack: key text packs by pack_type() (type + encoder key) instead of the
// bare type name. Search keeps a learnware only when the user's languages are
// a subset of the learnware's (the reference rule; an empty user list is a
// subset of everything).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/spec/rkme_table_spec.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/context.h"
#include "kernels/rkme.h"

namespace lwd {

struct TextSpecOptions {
  kernels::RkmeOptions rkme{};  // K, gamma, steps... as for a table spec (reference defaults)
};

class RKMETextSpec {
 public:
  static constexpr std::string_view kTypeName = "RKMETextSpecification";
  static constexpr std::string_view kReferenceEncoderName = "paraphrase-multilingual-MiniLM-L12-v2";

  RKMETextSpec() = default;
  // Validates: the encoder's name is non-empty and its dim equals the width of
  // z; every language code is non-empty, at most 16 characters of [a-z-] and
  // listed once. Throws lwd::Error otherwise.
  RKMETextSpec(RKMETableSpec rkme, std::vector<std::string> language, text::TextEncoderId encoder);

  // Detects the documents' languages, encodes them, and builds the RKME of
  // the embeddings (ctx.seed seeds k-means++). Throws lwd::Error when there
  // are no documents.
  static RKMETextSpec generate(const kernels::Context& ctx, std::span<const std::string> documents,
                               const text::SentenceEncoder& encoder, const TextSpecOptions& options = {});

  const RKMETableSpec& rkme() const { return rkme_; }
  const std::vector<std::string>& language() const { return language_; }
  const text::TextEncoderId& encoder() const { return encoder_; }
  double gamma() const { return rkme_.gamma(); }
  std::int64_t dim() const { return rkme_.dim(); }
  std::int64_t size() const { return rkme_.size(); }
  std::int64_t num_points() const { return rkme_.num_points(); }
  bool empty() const { return rkme_.empty(); }

  // True when both specs' embeddings come from the same encoder.
  bool comparable_with(const RKMETextSpec& other) const { return encoder_ == other.encoder_; }
  // <this, other> and MMD^2 with this spec's gamma; throw lwd::Error naming
  // both encoders when they differ.
  double inner_product(const RKMETextSpec& other, const kernels::Context& ctx = {}) const;
  double dist(const RKMETextSpec& other, const kernels::Context& ctx = {}) const;
  // The search's language rule, this spec being the user's.
  bool languages_within(const RKMETextSpec& learnware) const;
  // "RKMETextSpecification__<encoder key, escaped>": the type under which a
  // market packs this spec, so that one pack never mixes encoders. Only
  // [A-Za-z0-9_] (it names an HDF5 group); other bytes of the key, and '_',
  // are written as _xx (hex), so distinct keys give distinct pack types.
  std::string pack_type() const;

  std::string to_json_text() const;
  void to_json(nlohmann::json& out) const;
  // Errors name `source` and the field (missing "language", wrong "type",
  // ragged z, encoder width != z width, invalid JSON...).
  static RKMETextSpec parse(std::string_view json_text, std::string_view source = "<memory>",
                            const io::JsonLimits& limits = {});
  static RKMETextSpec from_json(const nlohmann::json& in, std::string_view source = "<memory>");
  void save(const std::filesystem::path& path) const;  // atomic
  static RKMETextSpec load(const std::filesystem::path& path);

 private:
  void require_comparable(const RKMETextSpec& other) const;

  RKMETableSpec rkme_;
  std::vector<std::string> language_;
  text::TextEncoderId encoder_;
};

// user ⊆ learnware, as sets.
bool text_languages_compatible(std::span<const std::string> user, std::span<const std::string> learnware);

// A documents file: UTF-8 text, one document per line. "\r\n" line ends are
// accepted; blank lines (only whitespace) are skipped, not empty documents;
// a UTF-8 byte-order mark at the start is dropped. Throws lwd::Error naming
// the file when it cannot be read or holds no document.
std::vector<std::string> read_documents_file(const std::filesystem::path& path);

// read_documents_file + RKMETextSpec::generate.
RKMETextSpec generate_text_spec_from_file(const kernels::Context& ctx, const std::filesystem::path& documents_file,
                                          const text::SentenceEncoder& encoder, const TextSpecOptions& options = {});

}  // namespace lwd

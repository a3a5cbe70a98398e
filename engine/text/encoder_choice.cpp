#include "engine/text/encoder_choice.h"

#include "engine/error.h"

namespace lwd::text {
namespace {

EncoderChoice load_sif(const WordVectorLocation& vectors, const kernels::Context& ctx, std::string explanation) {
  EncoderChoice choice;
  choice.explanation = std::move(explanation);
  if (!vectors.load) throw Error("the word vectors " + vectors.name + " have no loader");
  choice.encoder = std::make_unique<SifEncoder>(ctx, vectors.load(choice.load_note));
  return choice;
}

}  // namespace

EncoderChoice choose_sentence_encoder(std::string_view name, const WordVectorLocation& vectors,
                                      const HashingOptions& hashing, const kernels::Context& ctx,
                                      std::string_view option) {
  const std::string flag(option);
  if (name == HashingEncoder::kName) {
    EncoderChoice choice;
    choice.encoder = std::make_unique<HashingEncoder>(hashing);
    choice.explanation = choice.encoder->id().describe() + ", as asked by " + flag + " hashing";
    return choice;
  }
  if (name != SifEncoder::kName && name != "auto")
    throw Error("unknown text encoder '" + std::string(name) + "' (known: auto, sif, hashing)");
  const bool sif_asked = name == SifEncoder::kName;
  if (vectors.dir.empty()) {
    if (sif_asked) throw Error(flag + " sif needs the word vectors " + vectors.name + ": " + vectors.no_dir_reason);
  } else if (vectors.present) {
    return load_sif(vectors, ctx,
                    sif_asked ? "sif over " + vectors.name + " in " + vectors.dir.string() + ", as asked by " + flag +
                                    " sif"
                              : "sif (" + flag + " auto: the word vectors " + vectors.name + " are in " +
                                    vectors.dir.string() + ")");
  } else if (sif_asked) {
    throw Error(flag + " sif needs the word vectors " + vectors.name + ", which are not in " + vectors.dir.string() +
                ": fetch them with `" + vectors.fetch_command + "` (or use " + flag + " hashing)");
  }
  EncoderChoice choice;
  choice.encoder = std::make_unique<HashingEncoder>(hashing);
  const std::string why = vectors.dir.empty()
                              ? "no data directory for the word vectors (" + vectors.no_dir_reason + ")"
                              : "the word vectors " + vectors.name + " are not in " + vectors.dir.string() + "; `" +
                                    vectors.fetch_command + "` brings them for sif";
  choice.explanation = choice.encoder->id().describe() + " (" + flag + " auto: " + why + ")";
  return choice;
}

}  // namespace lwd::text

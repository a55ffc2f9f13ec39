// Where to cut text before handing it to llama.cpp's tokenizer, so that no input can crash it.
//
// Why
// ---
// llama.cpp pre-tokenizes with one regular expression per vocabulary. Vocabularies without a
// hand-written fast path (deepseek-coder among them) fall back to std::regex, whose libstdc++
// executor recurses once per character of a match: a run of ~25,000 letters, CJK characters or dashes
// overflows an 8 MiB thread stack (SIGSEGV; llama.cpp issues #26965, #27783). Base64 data URIs with
// long runs of `A`, minified bundles and lock files are such inputs.
//
// The pre-tokenizer never merges across a cut that it would also make, and BPE merges only inside one
// pre-tokenized word, so text is tokenized piece by piece with pieces that are short enough for the
// regex while ordinary text is not cut at all:
//   1. a run of characters of one class (letters, digits, whitespace, other) longer than kMaxRun
//      characters is cut every kMaxRun characters (the last piece of the run keeps at least
//      kMaxRun / 2, so a special token such as `<|fim_prefix|>` right after a long run stays whole);
//   2. a line still longer than kMaxLine characters between cuts is cut at a space before a word (else
//      at a change of class, else anywhere): regexes such as `[^\n]+` or `\S+` match whole lines.
// Text whose class runs are at most kMaxRun and whose lines are at most kMaxLine characters long
// (every ordinary source file) is one piece, tokenized exactly as llama.cpp would tokenize it.
// The cut points depend only on the text, so the same text always gives the same tokens (KV reuse).
// Pure: no llama.cpp here (native/tests/tokenize_split_test.cpp).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace pronto {

constexpr size_t kMaxRun = 256;    // characters of one class in one piece (before the run's last piece)
constexpr size_t kMaxLine = 4096;  // characters of one line in one piece

// Byte offsets where the text is cut (ascending, each at a UTF-8 character boundary, never 0 or
// text.size()). Empty: tokenize the text as a whole.
std::vector<size_t> tokenizer_cut_points(const std::string& text);

}  // namespace pronto

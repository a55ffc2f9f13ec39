#include "tokenize_split.h"

#include <cstdint>

namespace pronto {

namespace {

enum CharClass : uint8_t { kSpace, kLetter, kDigit, kOther };

// Close to the classes the pre-tokenizer regexes use (\s, \p{L}, \p{N}, the rest). Exactness only
// matters for where long runs are cut; rule 2 (kMaxLine) bounds every piece whatever the classes.
CharClass char_class(uint32_t c) {
  if (c < 0x80) {
    if (c == ' ' || (c >= '\t' && c <= '\r')) return kSpace;
    if (c >= '0' && c <= '9') return kDigit;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return kLetter;
    return kOther;
  }
  if (c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
      c == 0x202F || c == 0x205F || c == 0x3000)
    return kSpace;
  if (c >= 0xFF10 && c <= 0xFF19) return kDigit;
  if ((c >= 0xA1 && c <= 0xBF) || c == 0xD7 || c == 0xF7 || (c >= 0x2010 && c <= 0x2027) ||
      (c >= 0x2030 && c <= 0x205E) || (c >= 0x2190 && c <= 0x2BFF) || (c >= 0x3001 && c <= 0x3003) ||
      (c >= 0x3008 && c <= 0x301F) || (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
      (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65))
    return kOther;
  return kLetter;  // letters of every script, CJK, marks
}

// Decodes the character at s[i]; returns its length in bytes (an invalid byte counts as one character).
size_t decode(const std::string& s, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    cp = c;
    return 1;
  }
  cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
  for (size_t k = 1; k < n; k++) {
    if ((b(i + k) & 0xC0) != 0x80) {
      cp = c;
      return 1;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  return n;
}

struct Char {
  uint32_t byte;  // offset of its first byte
  CharClass cls;
  bool newline;
};

}  // namespace

std::vector<size_t> tokenizer_cut_points(const std::string& text) {
  // Fast path (every ordinary text): no class run and no line over the limits, nothing to cut.
  {
    size_t run = 0, line = 0;
    int prev = -1;
    bool over = false;
    for (size_t i = 0; i < text.size() && !over;) {
      uint32_t cp;
      i += decode(text, i, cp);
      const CharClass cls = char_class(cp);
      run = cls == prev ? run + 1 : 1;
      prev = cls;
      line = cp == '\n' ? 0 : line + 1;
      over = run > kMaxRun || line > kMaxLine;
    }
    if (!over) return {};
  }
  std::vector<Char> chars;
  chars.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    const size_t n = decode(text, i, cp);
    chars.push_back({static_cast<uint32_t>(i), char_class(cp), cp == '\n'});
    i += n;
  }
  const size_t n = chars.size();
  // Rule 1: cut long runs of one class every kMaxRun characters; the run's last piece keeps at least
  // kMaxRun / 2 (a cut is "before character i").
  std::vector<bool> run_cut(n, false);
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && chars[e].cls == chars[s].cls) e++;
    for (size_t c = s + kMaxRun; c + kMaxRun / 2 <= e; c += kMaxRun) run_cut[c] = true;
    s = e;
  }
  // Rule 2: no piece of a line longer than kMaxLine; cut at a space before a word, else at a change of
  // class, else anywhere, in the second half of the window.
  std::vector<size_t> cuts;
  size_t seg = 0, best_space = 0, best_class = 0;
  for (size_t i = 1; i < n; i++) {
    if (chars[i - 1].newline) seg = i, best_space = best_class = 0;
    if (run_cut[i]) {
      cuts.push_back(i);
      seg = i, best_space = best_class = 0;
      continue;
    }
    if (i - seg >= kMaxLine / 2) {
      if (chars[i - 1].cls == kSpace && chars[i].cls != kSpace) best_space = i;
      if (chars[i - 1].cls != chars[i].cls) best_class = i;
    }
    if (i - seg == kMaxLine) {
      const size_t c = best_space > seg ? best_space : best_class > seg ? best_class : i;
      cuts.push_back(c);
      seg = c, best_space = best_class = 0;
    }
  }
  for (auto& c : cuts) c = chars[c].byte;
  return cuts;
}

}  // namespace pronto

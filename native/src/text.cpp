#include "text.h"
#include <algorithm>

namespace pronto {

static int utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return c >= 0xC2 ? 2 : 0;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return c <= 0xF4 ? 4 : 0;
  return 0;
}

// Returns the length of a valid sequence at s[i], 0 when invalid, -1 when incomplete (needs more bytes).
static int utf8_seq(const std::string& s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  int n = utf8_len(c);
  if (n == 0) return 0;
  for (int k = 1; k < n; k++) {
    if (i + k >= s.size()) return -1;
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    if (k == 1) {  // overlong / surrogate / out-of-range checks
      if (c == 0xE0 && d < 0xA0) return 0;
      if (c == 0xED && d > 0x9F) return 0;
      if (c == 0xF0 && d < 0x90) return 0;
      if (c == 0xF4 && d > 0x8F) return 0;
    }
  }
  return n;
}

void utf8_take_complete(std::string& pending, std::string& out, bool flush) {
  size_t i = 0;
  while (i < pending.size()) {
    int n = utf8_seq(pending, i);
    if (n > 0) {
      out.append(pending, i, n);
      i += n;
    } else if (n == 0) {
      out += "\xEF\xBF\xBD";
      i += 1;
    } else {  // incomplete tail
      if (!flush) break;
      out += "\xEF\xBF\xBD";
      i = pending.size();
    }
  }
  pending.erase(0, i);
}

bool utf8_is_valid(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    int n = utf8_seq(s, i);
    if (n <= 0) return false;
    i += n;
  }
  return true;
}

static bool is_blank(const std::string& s, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
  return true;
}

static size_t indent_of(const std::string& s, size_t from, size_t to) {
  size_t n = 0;
  for (size_t i = from; i < to && (s[i] == ' ' || s[i] == '\t'); i++) n += s[i] == '\t' ? 4 : 1;
  return n;
}

StopResult check_stops(const std::string& text, const Limits& limits, const std::string& line_prefix) {
  StopResult r;
  size_t cut = std::string::npos;
  for (const auto& s : limits.stop) {
    if (s.empty()) continue;
    size_t p = text.find(s);
    if (p != std::string::npos) cut = std::min(cut, p);
  }
  if (limits.stop_at_eol) {
    // End of the first line that has non-blank generated text.
    size_t start = 0;
    while (true) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) break;
      if (!is_blank(text, start, nl)) {
        cut = std::min(cut, nl);
        break;
      }
      start = nl + 1;
    }
  }
  if (limits.stop_at_block_end) {
    // Reference indentation: the first line with non-blank text (the cursor line counts its prefix).
    std::string full = line_prefix + text;
    size_t off = line_prefix.size();
    size_t start = 0;
    bool have_ref = false;
    size_t ref = 0;
    while (start <= full.size()) {
      size_t nl = full.find('\n', start);
      size_t end = nl == std::string::npos ? full.size() : nl;
      bool blank = is_blank(full, start, end);
      if (!blank) {
        size_t ind = indent_of(full, start, end);
        bool indent_known = ind < end - start;  // a non-blank char follows the indentation
        if (!have_ref) {
          have_ref = true;
          ref = ind;
        } else if (indent_known && ind < ref && start > off) {
          cut = std::min(cut, start - 1 - off);  // drop the newline before the dedented line
          break;
        }
      }
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  if (cut != std::string::npos) {
    r.stop = true;
    r.keep_len = cut;
    return r;
  }
  // Hold back what could still become a stop string, or a line that may turn out to end the block.
  size_t emit = text.size();
  for (const auto& s : limits.stop) {
    for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), text.size()); k > 0; k--) {
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        emit = std::min(emit, text.size() - k);
        break;
      }
    }
  }
  if (limits.stop_at_eol || limits.stop_at_block_end) {
    size_t nl = text.rfind('\n');
    if (nl != std::string::npos && is_blank(text, nl + 1, text.size())) emit = std::min(emit, nl);
  }
  // Never split a UTF-8 character.
  while (emit > 0 && emit < text.size() && (static_cast<unsigned char>(text[emit]) & 0xC0) == 0x80) emit--;
  r.emit_len = emit;
  return r;
}

}  // namespace pronto

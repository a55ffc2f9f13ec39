// Pure text helpers for generated output: UTF-8 assembly and stop conditions. No llama.cpp here, so
// they are easy to reason about; the engine calls them after every accepted token.
#pragma once
#include <string>
#include "types.h"

namespace pronto {

// Moves the complete UTF-8 characters at the front of `pending` to the end of `out`; bytes that can
// never start or continue a valid character become U+FFFD. An incomplete trailing sequence stays in
// `pending` unless `flush` is set (then it becomes U+FFFD too).
void utf8_take_complete(std::string& pending, std::string& out, bool flush);

// True when `s` is valid UTF-8.
bool utf8_is_valid(const std::string& s);

struct StopResult {
  bool stop = false;    // a stop condition matched
  size_t keep_len = 0;  // when stop: the text to keep (stop string / cut line removed)
  size_t emit_len = 0;  // when not stop: how much may be sent so far (holds back a possible stop prefix)
};

// `text` is the whole generated text (valid UTF-8); `line_prefix` is the cursor line before the
// completion (for stop_at_block_end).
StopResult check_stops(const std::string& text, const Limits& limits, const std::string& line_prefix);

}  // namespace pronto

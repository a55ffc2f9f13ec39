// Table-driven tests of the pure text helpers (stop conditions, UTF-8 assembly). Built as
// pronto-text-test; test/integration/engine.text.test.ts runs it. Exit code = number of failures.
#include <cstdio>
#include <string>
#include <vector>

#include "text.h"

using namespace pronto;

static int failures = 0;
static void expect(bool ok, const std::string& what) {
  if (!ok) {
    failures++;
    std::printf("FAIL: %s\n", what.c_str());
  } else {
    std::printf("ok: %s\n", what.c_str());
  }
}

int main() {
  struct StopCase {
    const char* name;
    std::string text, line_prefix;
    Limits limits;
    bool stop;
    size_t keep_or_emit;
  };
  auto L = [](std::vector<std::string> stop, bool eol, bool block) {
    Limits l;
    l.stop = std::move(stop);
    l.stop_at_eol = eol;
    l.stop_at_block_end = block;
    return l;
  };
  std::vector<StopCase> cases = {
      {"no limits: emit all", "abc", "", L({}, false, false), false, 3},
      {"stop string cut", "foo();\nbar", "", L({";"}, false, false), true, 5},
      {"earliest of two stop strings", "a END b STOP", "", L({"STOP", "END"}, false, false), true, 2},
      {"hold back a possible stop prefix", "value EN", "", L({"END"}, false, false), false, 6},
      {"eol: stop at end of first non-blank line", "x + 1\n  y", "", L({}, true, false), true, 5},
      {"eol: leading blank lines are skipped", "\n  \nfoo\nbar", "", L({}, true, false), true, 7},
      {"eol: hold back a trailing newline", "foo", "", L({}, true, false), false, 3},
      {"block end: dedent ends the block", "    a = 1\n    b = 2\nc = 3\n", "", L({}, false, true), true, 19},
      {"block end: cursor line prefix sets the indent", "a = 1\n    b = 2\nc", "    ", L({}, false, true), true, 15},
      {"block end: deeper indent continues", "if x:\n        y()\n    z()", "    ", L({}, false, true), false, 25},
      {"block end: a trailing blank line is held back", "a\n\n", "    ", L({}, false, true), false, 2},
  };
  for (auto& c : cases) {
    StopResult r = check_stops(c.text, c.limits, c.line_prefix);
    size_t got = r.stop ? r.keep_len : r.emit_len;
    expect(r.stop == c.stop && got == c.keep_or_emit,
           std::string(c.name) + " (stop=" + (r.stop ? "1" : "0") + " len=" + std::to_string(got) + ")");
  }

  // UTF-8 assembly: split multi-byte characters wait for their tail; invalid bytes become U+FFFD.
  {
    std::string pending = "h\xC3", out;
    utf8_take_complete(pending, out, false);
    expect(out == "h" && pending == "\xC3", "incomplete character is held");
    pending += "\xA9!";
    utf8_take_complete(pending, out, false);
    expect(out == "h\xC3\xA9!" && pending.empty(), "completed character is released");
    pending =
        "a\xFF"
        "b";
    out.clear();
    utf8_take_complete(pending, out, false);
    expect(out ==
               "a\xEF\xBF\xBD"
               "b",
           "invalid byte becomes U+FFFD");
    pending = "\xE2\x82";
    out.clear();
    utf8_take_complete(pending, out, true);
    expect(out == "\xEF\xBF\xBD" && pending.empty(), "flush turns a dangling sequence into U+FFFD");
    expect(utf8_is_valid("caf\xC3\xA9") && !utf8_is_valid("\xC0\xAF") && !utf8_is_valid("\xED\xA0\x80"),
           "validator rejects overlong and surrogate encodings");
  }
  // Emission never splits a character even when a stop prefix is held back.
  {
    Limits l;
    l.stop = {"\xC3\xA9X"};
    StopResult r = check_stops("ab\xC3\xA9", l, "");
    expect(!r.stop && r.emit_len == 2, "held-back stop prefix keeps characters whole");
  }
  std::printf("%d failure(s)\n", failures);
  return failures;
}

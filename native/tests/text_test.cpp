// Table-driven tests of the pure text helpers (stop conditions, UTF-8 assembly).
#include <string>
#include <vector>

#include "text.h"
#include "unit.h"

using namespace pronto;

namespace {

Limits limits(std::vector<std::string> stop, bool eol, bool block) {
  Limits l;
  l.stop = std::move(stop);
  l.stop_at_eol = eol;
  l.stop_at_block_end = block;
  return l;
}

struct StopCase {
  const char* name;
  std::string text, line_prefix;
  Limits limits;
  bool stop;
  size_t keep_or_emit;
};

const unit::Table stop_cases([] {
  static const std::vector<StopCase> cases = {
      {"no limits: emit all", "abc", "", limits({}, false, false), false, 3},
      {"stop string cut", "foo();\nbar", "", limits({";"}, false, false), true, 5},
      {"earliest of two stop strings", "a END b STOP", "", limits({"STOP", "END"}, false, false), true, 2},
      {"hold back a possible stop prefix", "value EN", "", limits({"END"}, false, false), false, 6},
      {"eol: stop at end of first non-blank line", "x + 1\n  y", "", limits({}, true, false), true, 5},
      {"eol: leading blank lines are skipped", "\n  \nfoo\nbar", "", limits({}, true, false), true, 7},
      {"eol: hold back a trailing newline", "foo", "", limits({}, true, false), false, 3},
      {"block end: dedent ends the block", "    a = 1\n    b = 2\nc = 3\n", "", limits({}, false, true), true, 19},
      {"block end: cursor line prefix sets the indent", "a = 1\n    b = 2\nc", "    ", limits({}, false, true), true,
       15},
      {"block end: deeper indent continues", "if x:\n        y()\n    z()", "    ", limits({}, false, true), false, 25},
      {"block end: a trailing blank line is held back", "a\n\n", "    ", limits({}, false, true), false, 2},
  };
  for (const auto& c : cases) {
    unit::add(std::string("check_stops: ") + c.name, [&c] {
      StopResult r = check_stops(c.text, c.limits, c.line_prefix);
      size_t got = r.stop ? r.keep_len : r.emit_len;
      CHECK_MSG(r.stop == c.stop && got == c.keep_or_emit,
                std::string("stop=") + (r.stop ? "1" : "0") + " len=" + std::to_string(got));
    });
  }
});

}  // namespace

TEST("utf8: an incomplete character is held, then released when completed") {
  std::string pending = "h\xC3", out;
  utf8_take_complete(pending, out, false);
  CHECK(out == "h" && pending == "\xC3");
  pending += "\xA9!";
  utf8_take_complete(pending, out, false);
  CHECK(out == "h\xC3\xA9!" && pending.empty());
}

TEST("utf8: an invalid byte becomes U+FFFD") {
  std::string pending =
                  "a\xFF"
                  "b",
              out;
  utf8_take_complete(pending, out, false);
  CHECK(out ==
        "a\xEF\xBF\xBD"
        "b");
}

TEST("utf8: flush turns a dangling sequence into U+FFFD") {
  std::string pending = "\xE2\x82", out;
  utf8_take_complete(pending, out, true);
  CHECK(out == "\xEF\xBF\xBD" && pending.empty());
}

TEST("utf8: the validator rejects overlong and surrogate encodings") {
  CHECK(utf8_is_valid("caf\xC3\xA9"));
  CHECK(!utf8_is_valid("\xC0\xAF"));
  CHECK(!utf8_is_valid("\xED\xA0\x80"));
}

TEST("check_stops: a held-back stop prefix keeps characters whole") {
  Limits l;
  l.stop = {"\xC3\xA9X"};
  StopResult r = check_stops("ab\xC3\xA9", l, "");
  CHECK(!r.stop && r.emit_len == 2);
}

// Where text is cut before tokenizing (tokenize_split.h): ordinary text never, pathological runs and
// lines into pieces the regex pre-tokenizers survive.
#include <string>
#include <vector>

#include "tokenize_split.h"
#include "unit.h"

using namespace pronto;

namespace {

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; i++) out += s;
  return out;
}

std::vector<std::string> pieces(const std::string& text) {
  std::vector<std::string> out;
  size_t from = 0;
  for (size_t cut : tokenizer_cut_points(text)) {
    out.push_back(text.substr(from, cut - from));
    from = cut;
  }
  out.push_back(text.substr(from));
  return out;
}

size_t chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool valid_utf8_boundaries(const std::vector<std::string>& ps) {
  for (const auto& p : ps)
    if (p.empty() || (static_cast<unsigned char>(p[0]) & 0xC0) == 0x80) return false;
  return true;
}

const std::string kCode =
    "#include <stdio.h>\n"
    "int main(int argc, char** argv) {\n"
    "  // Grüße, 世界: ordinary text with non-ASCII letters\n"
    "  printf(\"%d\\n\", argc);  /* ------------------------------------------------ */\n"
    "  return 0;\n"
    "}\n";

}  // namespace

TEST("ordinary code is not cut") { CHECK(tokenizer_cut_points(kCode).empty()); }

TEST("a run of kMaxRun + kMaxRun/2 - 1 letters is not cut (its last piece would be too short)") {
  CHECK(tokenizer_cut_points(repeat("r", kMaxRun + kMaxRun / 2 - 1)).empty());
}

TEST("a run of kMaxRun + kMaxRun/2 letters is cut once, after kMaxRun") {
  auto cuts = tokenizer_cut_points("x = " + repeat("r", kMaxRun + kMaxRun / 2));
  CHECK_MSG(cuts.size() == 1 && cuts[0] == 4 + kMaxRun, std::to_string(cuts.size()));
}

TEST("lines of exactly kMaxLine characters are not cut") {
  std::string line;
  while (line.size() < kMaxLine) line += (line.size() % 7 == 6) ? ' ' : 'a';
  CHECK(tokenizer_cut_points(line + "\n" + line + "\n" + line).empty());
}

namespace {
struct RunCase {
  const char* name;
  std::string unit;  // repeated to 60,000 characters
};
const unit::Table run_cases([] {
  static const std::vector<RunCase> cases = {
      {"letters", "r"}, {"CJK", "\xE4\xB8\xAD"}, {"dashes", "-"}, {"digits", "7"}, {"spaces", " "}, {"tabs", "\t"},
  };
  for (const auto& c : cases) {
    unit::add(std::string("60,000 ") + c.name + ": pieces of at most 1.5 x kMaxRun characters, cut at characters",
              [&c] {
                const std::string text = "let s = '" + repeat(c.unit, 60000) + "';\n";
                auto ps = pieces(text);
                CHECK_MSG(ps.size() >= 60000 / kMaxRun - 1, std::to_string(ps.size()));
                std::string joined;
                for (const auto& p : ps) {
                  CHECK_MSG(chars(p) <= kMaxRun + kMaxRun / 2 + 16, std::to_string(chars(p)));
                  joined += p;
                }
                CHECK(joined == text);
                CHECK(valid_utf8_boundaries(ps));
              });
  }
});
}  // namespace

TEST("a long line of words is cut after a space, in pieces of at most kMaxLine") {
  const std::string text = repeat("alpha beta gamma ", 10000);
  auto ps = pieces(text);
  CHECK(ps.size() > 1);
  for (size_t i = 0; i < ps.size(); i++) {
    CHECK(chars(ps[i]) <= kMaxLine);
    if (i + 1 < ps.size()) CHECK_MSG(ps[i].back() == ' ', ps[i].substr(ps[i].size() - 10));
  }
}

TEST("a minified line (no spaces) is cut at a change of class") {
  const std::string text = repeat("function a(b,c){return b+c}var d=a(1,2);", 2000);
  auto ps = pieces(text);
  CHECK(ps.size() > 1);
  for (const auto& p : ps) CHECK(chars(p) <= kMaxLine);
  for (size_t i = 0; i + 1 < ps.size(); i++) {
    const char a = ps[i].back(), b = ps[i + 1][0];
    const bool a_word = std::isalnum(static_cast<unsigned char>(a)),
               b_word = std::isalnum(static_cast<unsigned char>(b));
    CHECK_MSG(
        a_word != b_word || std::isdigit(static_cast<unsigned char>(a)) != std::isdigit(static_cast<unsigned char>(b)),
        std::string(1, a) + "|" + std::string(1, b));
  }
}

TEST("a special token right after a long run of dashes stays whole") {
  const std::string special =
      "<\xEF\xBD\x9C"
      "fim\xE2\x96\x81hole\xEF\xBD\x9C>";  // <｜fim▁hole｜>
  auto ps = pieces(repeat("-", 1000) + special + "x");
  bool whole = false;
  for (const auto& p : ps) whole |= p.find(special) != std::string::npos;
  CHECK(whole);
}

TEST("newlines end a line: many long lines under the limit are not cut") {
  std::string line = repeat("word ", kMaxLine / 5 - 1) + "\n";
  CHECK(tokenizer_cut_points(repeat(line, 50)).empty());
}

TEST("invalid UTF-8 bytes do not break the scan") {
  auto ps = pieces(repeat("\xFF", 1000));
  std::string joined;
  for (const auto& p : ps) joined += p;
  CHECK(joined == repeat("\xFF", 1000));
  CHECK(ps.size() > 1);
}

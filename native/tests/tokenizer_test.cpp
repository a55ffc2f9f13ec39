// The engine's tokenizer (tokenizer.cpp) on the real vocabularies of the test models (llama.cpp's
// models/ggml-vocab-*.gguf): hostile inputs do not crash it and come back unchanged from the tokens;
// ordinary text gets exactly the tokens llama.cpp gives it unsplit.
//
//   pronto-tokenizer-test                         run the cases
//   pronto-tokenizer-test --unsplit MODEL FILE    print llama_tokenize's tokens of FILE (unsplit) as JSON
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"
#include "tokenize_split.h"
#include "tokenizer.h"
#include "unit.h"

using namespace pronto;

namespace {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};

llama_model* load_vocab(const std::string& path) {
  static std::map<std::string, std::unique_ptr<llama_model, ModelDeleter>> loaded;
  auto& m = loaded[path];
  if (!m) {
    llama_model_params p = llama_model_default_params();
    p.vocab_only = true;
    m.reset(llama_model_load_from_file(path.c_str(), p));
    if (!m) throw unit::Failure{"cannot load the vocabulary " + path};
  }
  return m.get();
}

Tokenizer tokenizer_for(const std::string& vocab) {
  return Tokenizer(llama_model_get_vocab(load_vocab(std::string(PRONTO_VOCAB_DIR) + "/ggml-vocab-" + vocab + ".gguf")));
}

std::string detokenize(const llama_vocab* vocab, const std::vector<llama_token>& t) {
  std::string out(t.size() * 16 + 16, '\0');
  int n = llama_detokenize(vocab, t.data(), static_cast<int32_t>(t.size()), out.data(),
                           static_cast<int32_t>(out.size()), false, true);
  if (n < 0) {
    out.resize(-n);
    n = llama_detokenize(vocab, t.data(), static_cast<int32_t>(t.size()), out.data(), static_cast<int32_t>(out.size()),
                         false, true);
  }
  out.resize(n < 0 ? 0 : n);
  return out;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i++) out += s;
  return out;
}

std::string base64(const std::vector<unsigned char>& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i + 2 < bytes.size(); i += 3) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int k = 3; k >= 0; k--) out += a[(v >> (6 * k)) & 63];
  }
  return out;
}

// A PNG-like payload: mostly zero bytes (long runs of "A") with some noise.
std::string data_uri(size_t n_chars) {
  std::vector<unsigned char> bytes(n_chars * 3 / 4);
  uint32_t x = 12345;
  for (size_t i = 0; i < bytes.size(); i++) {
    x = x * 1103515245u + 12345u;
    bytes[i] = (i / 4096) % 2 == 0 ? 0 : static_cast<unsigned char>(x >> 24);
  }
  return "const icon = \"data:image/png;base64," + base64(bytes) + "\";\n";
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const char* kVocabs[] = {"deepseek-coder", "starcoder", "qwen2"};

struct Hostile {
  const char* name;
  std::string (*make)();
};
const Hostile kHostile[] = {
    {"60,000 letters", [] { return "x = " + repeat("r", 60000); }},
    {"60,000 CJK characters", [] { return "// " + repeat("\xE4\xB8\xAD", 60000); }},
    {"60,000 dashes", [] { return "/*" + repeat("-", 60000) + "*/"; }},
    {"60,000 digits", [] { return "n = " + repeat("7", 60000); }},
    {"60,000 spaces", [] { return "a" + repeat(" ", 60000) + "b"; }},
    {"a 60,000-character base64 data URI", [] { return data_uri(60000); }},
    {"a 60,000-character minified line", [] { return repeat("function a(b,c){return b+c}var d=a(1,2);", 1500); }},
    {"a 60,000-character line of words", [] { return repeat("alpha beta gamma ", 3600); }},
};

const unit::Table hostile_cases([] {
  for (const char* vocab : kVocabs) {
    for (const auto& h : kHostile) {
      unit::add(std::string(vocab) + ": " + h.name + " tokenizes without a crash and round-trips", [vocab, &h] {
        Tokenizer tok = tokenizer_for(vocab);
        const std::string text = h.make();
        auto tokens = tok.tokenize(text, false, false);
        CHECK(!tokens.empty());
        const llama_vocab* v =
            llama_model_get_vocab(load_vocab(std::string(PRONTO_VOCAB_DIR) + "/ggml-vocab-" + vocab + ".gguf"));
        CHECK(detokenize(v, tokens) == text);
      });
    }
  }
});

// Ordinary text: the engine's own sources and a few snippets with non-ASCII text.
const char* kOrdinaryFiles[] = {"src/engine.cpp", "src/fim.cpp", "src/text.cpp", "README.md", "CMakeLists.txt"};
const char* kSnippets[] = {
    "def greet(name: str) -> str:\n    return f\"Grüße, {name}! 你好，世界\"\n",
    "  const url = 'https://example.com/a/very/long/path?query=1&other=2#fragment';\n",
    "// ================================================================\n\tif (x < 0x7fff && y >= 1e-9) {}\n",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id DESC LIMIT 10;\n",
};

const unit::Table ordinary_cases([] {
  for (const char* vocab : kVocabs) {
    unit::add(std::string(vocab) + ": ordinary text gets exactly llama.cpp's tokens (no cut)", [vocab] {
      Tokenizer tok = tokenizer_for(vocab);
      std::vector<std::string> texts(std::begin(kSnippets), std::end(kSnippets));
      for (const char* f : kOrdinaryFiles) texts.push_back(read_file(std::string(PRONTO_NATIVE_DIR) + "/" + f));
      for (const auto& text : texts) {
        CHECK(!text.empty());
        CHECK(tokenizer_cut_points(text).empty());
        for (bool special : {false, true})
          CHECK_MSG(
              tok.tokenize(text, special, special) == tok.tokenize_unsplit(text.data(), text.size(), special, special),
              text.substr(0, 40));
      }
    });
    unit::add(std::string(vocab) + ": BOS/EOS are placed around split text as around unsplit text", [vocab] {
      Tokenizer tok = tokenizer_for(vocab);
      const auto empty = tok.tokenize_unsplit("", 0, true, false);  // exactly the specials llama.cpp adds
      const auto split = tok.tokenize("x = " + repeat("r", 2000), true, false);
      CHECK(split.size() > empty.size());
      if (!empty.empty()) CHECK(split.front() == empty.front());
      const auto unsplit_x = tok.tokenize_unsplit("x", 1, true, false);
      CHECK(unsplit_x.size() >= empty.size());
    });
  }
});

}  // namespace

TEST("deepseek-coder: a FIM token right after 1,000 dashes is parsed as one special token") {
  Tokenizer tok = tokenizer_for("deepseek-coder");
  auto t = tok.tokenize(repeat("-", 1000) +
                            "<\xEF\xBD\x9C"
                            "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
                        false, true);
  CHECK(!t.empty() && t.back() == 32015);
}

TEST("starcoder: <fim_middle> right after 1,000 letters is parsed as one special token") {
  Tokenizer tok = tokenizer_for("starcoder");
  auto t = tok.tokenize(repeat("a", 1000) + "<fim_middle>", false, true);
  CHECK(!t.empty() && t.back() == 2);
}

int main(int argc, char** argv) {
  llama_log_set(
      [](ggml_log_level level, const char* text, void*) {
        if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
      },
      nullptr);
  if (argc == 4 && std::strcmp(argv[1], "--unsplit") == 0) {
    Tokenizer tok(llama_model_get_vocab(load_vocab(argv[2])));
    const std::string text = read_file(argv[3]);
    auto t = tok.tokenize_unsplit(text.data(), text.size(), false, false);
    std::printf("[");
    for (size_t i = 0; i < t.size(); i++) std::printf(i ? ",%d" : "%d", t[i]);
    std::printf("]\n");
    return 0;
  }
  return unit::run(argc, argv);
}

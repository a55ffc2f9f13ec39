// FIM prompt assembly, laid out for KV-cache reuse.
//
// Why this order
// --------------
// The KV cache can only be reused up to the first token that differs from a resident sequence. In
// the classic prefix-suffix-middle layout (`<PRE>prefix<SUF>suffix<MID>`) the suffix FOLLOWS the
// cursor text, so every keystroke changes the prompt in the middle and everything after it — the
// whole suffix — must be evaluated again (measured with llama-server: 273 tokens for 6 characters).
// We therefore use the suffix-prefix-middle order the FIM-trained models also accept:
//
//   [BOS] [<file_sep>name\ntext\n ...extra chunks]  [<file_sep>filename\n]  <SUF>suffix <PRE>prefix <MID>
//
// Extra context and the suffix change rarely; the prefix ends at the cursor, so typing only appends
// tokens to it: a keystroke costs the typed tokens plus `<MID>` (and the last one or two tokens the
// tokenizer merges differently). Effect on quality: SPM is one of the two orders these models are
// trained on (StarCoder, DeepSeek-Coder, Qwen2.5-Coder use FIM rate 0.5 with PSM/SPM mixed, and
// llama.cpp's `--spm-infill` exists for this); the prefix sits right before `<MID>`, which is where
// the model's attention to the cursor matters most. Repo-level chunks use `<file_sep>` when the
// vocabulary has it, otherwise a plain "// filename" header line.
#include <algorithm>

#include "engine.h"

namespace pronto {

BuiltPrompt Engine::build_fim(const FimInput& fim, int max_tokens) const {
  BuiltPrompt out;
  size_t nl = fim.prefix.rfind('\n');
  out.line_prefix = nl == std::string::npos ? fim.prefix : fim.prefix.substr(nl + 1);

  const bool add_bos = llama_vocab_get_add_bos(vocab_);
  const llama_token bos = llama_vocab_bos(vocab_);
  const llama_token sep = llama_vocab_fim_sep(vocab_);
  auto tok = [&](const std::string& s) { return tokenize(s, false, false); };

  // Budget: the prompt plus the generation must fit the context.
  int budget = n_ctx_ - std::min(max_tokens, n_ctx_ / 2) - 8;
  if (budget < 16) throw BadRequest{"prompt_too_long", "context too small for this request"};

  std::vector<std::vector<llama_token>> chunks;
  for (const auto& c : fim.extra) {
    std::vector<llama_token> t;
    if (fim_info_.repo_level) {
      t.push_back(sep);
      auto body = tok((c.filename.empty() ? std::string("untitled") : c.filename) + "\n" + c.text + "\n");
      t.insert(t.end(), body.begin(), body.end());
    } else {
      t = tok((c.filename.empty() ? std::string() : "// " + c.filename + "\n") + c.text + "\n");
    }
    chunks.push_back(std::move(t));
  }
  std::vector<llama_token> file_header;
  if (fim_info_.repo_level && (!fim.filename.empty() || !fim.extra.empty())) {
    file_header.push_back(sep);
    auto t = tok((fim.filename.empty() ? std::string("untitled") : fim.filename) + "\n");
    file_header.insert(file_header.end(), t.begin(), t.end());
  }
  std::vector<llama_token> suffix = tok(fim.suffix);
  std::vector<llama_token> prefix = tok(fim.prefix);

  const int fixed = (add_bos ? 1 : 0) + 3 + static_cast<int>(file_header.size());
  // Trim: suffix to a quarter of the budget (its end), prefix keeps its end, extra chunks go first.
  int avail = budget - fixed;
  int max_suffix = std::max(0, avail / 4);
  if (static_cast<int>(suffix.size()) > max_suffix) suffix.resize(max_suffix);
  int room_prefix = avail - static_cast<int>(suffix.size());
  if (static_cast<int>(prefix.size()) > room_prefix) prefix.erase(prefix.begin(), prefix.end() - room_prefix);
  int room_extra = avail - static_cast<int>(suffix.size()) - static_cast<int>(prefix.size());
  // Keep the chunks nearest to the file (the last ones) when they do not all fit.
  std::vector<llama_token> extra;
  int used = 0;
  size_t first_kept = chunks.size();
  for (size_t i = chunks.size(); i-- > 0;) {
    if (used + static_cast<int>(chunks[i].size()) > room_extra) break;
    used += static_cast<int>(chunks[i].size());
    first_kept = i;
  }
  for (size_t i = first_kept; i < chunks.size(); i++) extra.insert(extra.end(), chunks[i].begin(), chunks[i].end());

  auto& t = out.tokens;
  if (add_bos && bos != LLAMA_TOKEN_NULL) t.push_back(bos);
  t.insert(t.end(), extra.begin(), extra.end());
  t.insert(t.end(), file_header.begin(), file_header.end());
  if (fim_info_.supported && fim_info_.order == "psm") {
    // --fim-order psm: for models trained on prefix-suffix-middle only. Keystrokes then re-evaluate
    // the suffix (chunk reuse still recovers it when it is at least --cache-reuse tokens long).
    t.push_back(llama_vocab_fim_pre(vocab_));
    t.insert(t.end(), prefix.begin(), prefix.end());
    t.push_back(llama_vocab_fim_suf(vocab_));
    t.insert(t.end(), suffix.begin(), suffix.end());
    t.push_back(llama_vocab_fim_mid(vocab_));
  } else if (fim_info_.supported) {
    t.push_back(llama_vocab_fim_suf(vocab_));
    t.insert(t.end(), suffix.begin(), suffix.end());
    t.push_back(llama_vocab_fim_pre(vocab_));
    t.insert(t.end(), prefix.begin(), prefix.end());
    t.push_back(llama_vocab_fim_mid(vocab_));
  } else {
    // No FIM tokens: plain left-to-right completion of the prefix.
    t.insert(t.end(), prefix.begin(), prefix.end());
  }
  return out;
}

}  // namespace pronto

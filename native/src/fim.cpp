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
//
// Token budgets (fim.budget)
// --------------------------
// The request may cap each part in tokens, applied before the context-size trimming below: the
// prefix keeps its LAST `prefix_tokens` tokens, the suffix its FIRST `suffix_tokens`, the extra
// chunks fill `extra_tokens` nearest-first (the last chunks, whole chunks only). The cuts are made
// on the tokens of the whole text, never by re-tokenizing a cut text, so the kept tokens are the
// same on every request. The prefix cut is moved forward to the next line start when one is near
// (within an eighth of the budget): the model never sees half a line at the far edge, and — the
// point for KV reuse — while the user types on one line the cut stays on the same line start, so
// the prompt start does not shift on every keystroke. When the cut does move to the next line, the
// engine's chunk reuse (--cache-reuse) shifts the cached prefix back instead of evaluating it again.
#include <algorithm>

#include "engine.h"
#include "errors.h"

namespace pronto {

// Index of the first prefix token to keep so that at most `keep` tokens remain, moved forward to the
// start of a line when one starts within `slack` tokens: preferably after a token ending in '\n',
// otherwise after a token containing one (newline merged with the next line's indentation).
static size_t prefix_cut(const Engine& e, const std::vector<llama_token>& prefix, size_t keep, size_t slack) {
  if (prefix.size() <= keep) return 0;
  const size_t drop = prefix.size() - keep;
  if (drop == 0) return 0;
  const size_t last = std::min(prefix.size(), drop + slack);
  size_t contains = 0;
  for (size_t i = drop; i < last; i++) {
    const std::string piece = e.token_piece(prefix[i - 1]);
    if (!piece.empty() && piece.back() == '\n') return i;
    if (contains == 0 && piece.find('\n') != std::string::npos) contains = i;
  }
  return contains != 0 ? contains : drop;
}

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
  if (budget < 16) throw EngineError("prompt_too_long", "context too small for this request");

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

  // The request's token budgets first; the context-size trimming below still applies on top.
  const FimBudget& fb = fim.budget;
  if (fb.suffix_tokens >= 0 && static_cast<int>(suffix.size()) > fb.suffix_tokens) suffix.resize(fb.suffix_tokens);
  if (fb.prefix_tokens >= 0) {
    const size_t keep = static_cast<size_t>(fb.prefix_tokens);
    size_t cut = prefix_cut(*this, prefix, keep, std::max<size_t>(keep / 8, 1));
    prefix.erase(prefix.begin(), prefix.begin() + static_cast<std::ptrdiff_t>(cut));
  }

  const int fixed = (add_bos ? 1 : 0) + 3 + static_cast<int>(file_header.size());
  // Trim to the context: suffix to a quarter of the budget (its start), prefix keeps its end, extra
  // chunks go first.
  int avail = budget - fixed;
  int max_suffix = std::max(0, avail / 4);
  if (static_cast<int>(suffix.size()) > max_suffix) suffix.resize(max_suffix);
  int room_prefix = avail - static_cast<int>(suffix.size());
  if (static_cast<int>(prefix.size()) > room_prefix) prefix.erase(prefix.begin(), prefix.end() - room_prefix);
  int room_extra = avail - static_cast<int>(suffix.size()) - static_cast<int>(prefix.size());
  if (fb.extra_tokens >= 0) room_extra = std::min(room_extra, fb.extra_tokens);
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

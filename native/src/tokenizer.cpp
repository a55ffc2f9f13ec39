#include "tokenizer.h"

#include <algorithm>

#include "errors.h"
#include "tokenize_split.h"

namespace pronto {

std::vector<llama_token> Tokenizer::tokenize_unsplit(const char* text, size_t len, bool add_special,
                                                     bool parse_special) const {
  std::vector<llama_token> out(len + 8);
  const auto n_text = static_cast<int32_t>(len);
  int n =
      llama_tokenize(vocab_, text, n_text, out.data(), static_cast<int32_t>(out.size()), add_special, parse_special);
  if (n < 0) {
    out.resize(-n);
    n = llama_tokenize(vocab_, text, n_text, out.data(), static_cast<int32_t>(out.size()), add_special, parse_special);
  }
  out.resize(std::max(0, n));
  return out;
}

std::vector<llama_token> Tokenizer::tokenize(const std::string& text, bool add_special, bool parse_special) const {
  const std::vector<size_t> cuts = tokenizer_cut_points(text);
  if (cuts.empty()) return tokenize_unsplit(text.data(), text.size(), add_special, parse_special);
  // Pieces without their special tokens; BOS/EOS around the whole, as llama_tokenize would add them.
  std::vector<llama_token> out;
  if (add_special && llama_vocab_get_add_bos(vocab_) && llama_vocab_bos(vocab_) != LLAMA_TOKEN_NULL)
    out.push_back(llama_vocab_bos(vocab_));
  size_t from = 0;
  for (size_t i = 0; i <= cuts.size(); i++) {
    const size_t to = i < cuts.size() ? cuts[i] : text.size();
    auto part = tokenize_unsplit(text.data() + from, to - from, false, parse_special);
    out.insert(out.end(), part.begin(), part.end());
    from = to;
  }
  if (add_special && llama_vocab_get_add_eos(vocab_) && llama_vocab_eos(vocab_) != LLAMA_TOKEN_NULL)
    out.push_back(llama_vocab_eos(vocab_));
  return out;
}

std::string Tokenizer::piece(llama_token t) const {
  if (t < 0 || t >= llama_vocab_n_tokens(vocab_))
    throw EngineError("internal", "token id " + std::to_string(t) + " is outside the vocabulary");
  char buf[256];
  int n = llama_token_to_piece(vocab_, t, buf, sizeof buf, 0, false);
  if (n < 0) {
    std::string big(-n, '\0');
    n = llama_token_to_piece(vocab_, t, big.data(), static_cast<int32_t>(big.size()), 0, false);
    big.resize(std::max(0, n));
    return big;
  }
  return std::string(buf, n);
}

}  // namespace pronto

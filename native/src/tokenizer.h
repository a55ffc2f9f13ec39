// The ONE way the engine turns text into tokens and tokens into text (FIM parts, chat, prompts,
// /tokenize, budgets). Text is cut where llama.cpp's regex pre-tokenizer could not survive it
// (tokenize_split.h) and each piece tokenized on its own; ordinary text is one piece.
#pragma once
#include <string>
#include <vector>

#include "llama.h"

namespace pronto {

class Tokenizer {
 public:
  explicit Tokenizer(const llama_vocab* vocab = nullptr) : vocab_(vocab) {}
  // Thread-safe. `add_special`: BOS/EOS as the vocabulary wants them; `parse_special`: special-token
  // text (e.g. <|fim_prefix|>) becomes the special token.
  std::vector<llama_token> tokenize(const std::string& text, bool add_special, bool parse_special) const;
  // Text of one token; throws EngineError for an id outside the vocabulary.
  std::string piece(llama_token t) const;
  // llama_tokenize on the whole text, unsplit (what tokenize() must equal for ordinary text; tests).
  std::vector<llama_token> tokenize_unsplit(const char* text, size_t len, bool add_special, bool parse_special) const;

 private:
  const llama_vocab* vocab_;
};

}  // namespace pronto

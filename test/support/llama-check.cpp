// Loads a GGUF with the prebuilt llama.cpp libraries and greedy-decodes a few tokens, printing one JSON
// line. Used by test/integration/models.test.ts to prove the generated models are real models.
//   llama-check <backend-dir> <model.gguf> <prompt> <n_gen>
#include "ggml-backend.h"
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char ** argv) {
    if (argc != 5) { fprintf(stderr, "usage: llama-check <backend-dir> <model.gguf> <prompt> <n_gen>\n"); return 2; }
    ggml_backend_load_all_from_path(argv[1]);
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_backend_init();
    llama_model * model = llama_model_load_from_file(argv[2], llama_model_default_params());
    if (!model) { printf("{\"ok\":false}\n"); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 1;
    llama_context * ctx = llama_init_from_model(model, cp);
    std::string prompt = argv[3];
    std::vector<llama_token> toks(prompt.size() + 8);
    int n = llama_tokenize(vocab, prompt.c_str(), (int) prompt.size(), toks.data(), (int) toks.size(), true, true);
    if (n < 0) { printf("{\"ok\":false,\"error\":\"tokenize\"}\n"); return 1; }
    toks.resize(n);
    const int n_gen = atoi(argv[4]);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<llama_token> out;
    llama_batch batch = llama_batch_get_one(toks.data(), n);
    llama_token cur = 0;
    for (int i = 0; i < n_gen; i++) {
        if (llama_decode(ctx, batch) != 0) { printf("{\"ok\":false,\"error\":\"decode\"}\n"); return 1; }
        const float * logits = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int t = 1; t < n_vocab; t++) if (logits[t] > logits[best]) best = t;
        out.push_back(best);
        cur = best;
        batch = llama_batch_get_one(&cur, 1);
    }
    printf("{\"ok\":true,\"n_vocab\":%d,\"n_prompt\":%d,\"fim\":[%d,%d,%d,%d,%d,%d],\"arch_layers\":%d,\"n_embd\":%d,\"tokens\":[",
           n_vocab, n, llama_vocab_fim_pre(vocab), llama_vocab_fim_suf(vocab), llama_vocab_fim_mid(vocab),
           llama_vocab_fim_pad(vocab), llama_vocab_fim_rep(vocab), llama_vocab_fim_sep(vocab),
           llama_model_n_layer(model), llama_model_n_embd(model));
    for (size_t i = 0; i < out.size(); i++) printf("%s%d", i ? "," : "", out[i]);
    printf("]}\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

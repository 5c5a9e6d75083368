// llamacpp_ref: a tiny driver around libllama (llama.cpp's C API) used by
// scripts/llamacpp/regenerate.sh to make the reference fixtures in
// tests/fixtures/llamacpp/. It is NOT built by cargo or CI.
//
//   llamacpp_ref quantize IN.gguf OUT.gguf FTYPE
//       llama_model_quantize with default params (ftype ids: include/llama.h,
//       36 = LLAMA_FTYPE_MOSTLY_TQ1_0, 37 = LLAMA_FTYPE_MOSTLY_TQ2_0).
//
//   llamacpp_ref dump MODEL.gguf OUT.json LABEL N_STEPS ID0 ID1 ...
//       Evaluates the prompt ids in ONE batch (logits at every position), then
//       N_STEPS teacher-forced greedy steps: next = greedy(last logits) (llama.cpp's
//       own greedy sampler: first index of the maximum), feed it, record the logits.
//       Context: n_ctx 64, F32 K/V cache, flash attention off, 2 threads,
//       otherwise llama.cpp defaults (CPU only, weight repacking allowed).
//       Writes {"model", "prompt_ids", "prompt_logits", "greedy_ids",
//       "step_logits", "llama_cpp", "kv_type"}; floats with 6 significant digits.
//
// Build (regenerate.sh does this):
//   g++ -O2 -std=c++17 llamacpp_ref.cpp -I$LLAMA/include -I$LLAMA/ggml/include \
//       -L$BUILD/bin -lllama -lggml -lggml-base -Wl,-rpath,$BUILD/bin -o llamacpp_ref

#include "llama.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void die(const char * msg) {
    fprintf(stderr, "llamacpp_ref: %s\n", msg);
    exit(1);
}

static void write_row(FILE * f, const float * v, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        fprintf(f, i ? ",%.6g" : "%.6g", v[i]);
    }
    fputc(']', f);
}

static void write_ids(FILE * f, const std::vector<llama_token> & ids) {
    fputc('[', f);
    for (size_t i = 0; i < ids.size(); i++) {
        fprintf(f, i ? ",%d" : "%d", ids[i]);
    }
    fputc(']', f);
}

static int cmd_quantize(int argc, char ** argv) {
    if (argc != 5) die("usage: quantize IN OUT FTYPE");
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype   = (enum llama_ftype) atoi(argv[4]);
    qp.nthread = 2;
    if (llama_model_quantize(argv[2], argv[3], &qp) != 0) die("llama_model_quantize failed");
    return 0;
}

static int cmd_dump(int argc, char ** argv) {
    if (argc < 7) die("usage: dump MODEL OUT LABEL N_STEPS ID...");
    const char * model_path = argv[2];
    const char * out_path   = argv[3];
    const char * label      = argv[4];
    const int    n_steps    = atoi(argv[5]);
    std::vector<llama_token> prompt;
    for (int i = 6; i < argc; i++) prompt.push_back(atoi(argv[i]));
    const int n_prompt = (int) prompt.size();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(model_path, mp);
    if (!model) die("cannot load model");
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx           = 64;
    cp.n_batch         = 64;
    cp.n_ubatch        = 64;
    cp.n_seq_max       = 1;
    cp.n_threads       = 2;
    cp.n_threads_batch = 2;
    cp.type_k          = GGML_TYPE_F32;
    cp.type_v          = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf         = true;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) die("cannot create context");
    if (n_prompt + n_steps > (int) cp.n_ctx) die("too many tokens for n_ctx");

    // prompt: one batch, logits at every position
    llama_batch batch = llama_batch_init(n_prompt, 0, 1);
    for (int i = 0; i < n_prompt; i++) {
        batch.token[i]     = prompt[i];
        batch.pos[i]       = i;
        batch.n_seq_id[i]  = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i]    = 1;
    }
    batch.n_tokens = n_prompt;
    if (llama_decode(ctx, batch) != 0) die("prompt decode failed");

    std::vector<std::vector<float>> prompt_logits(n_prompt);
    for (int i = 0; i < n_prompt; i++) {
        const float * l = llama_get_logits_ith(ctx, i);
        if (!l) die("no logits");
        prompt_logits[i].assign(l, l + n_vocab);
    }

    llama_sampler * greedy = llama_sampler_init_greedy();
    std::vector<llama_token> greedy_ids;
    std::vector<std::vector<float>> step_logits;
    llama_token next = llama_sampler_sample(greedy, ctx, n_prompt - 1);
    for (int s = 0; s < n_steps; s++) {
        greedy_ids.push_back(next);
        batch.token[0]     = next;
        batch.pos[0]       = n_prompt + s;
        batch.n_seq_id[0]  = 1;
        batch.seq_id[0][0] = 0;
        batch.logits[0]    = 1;
        batch.n_tokens     = 1;
        if (llama_decode(ctx, batch) != 0) die("step decode failed");
        const float * l = llama_get_logits_ith(ctx, -1);
        if (!l) die("no logits");
        step_logits.emplace_back(l, l + n_vocab);
        next = llama_sampler_sample(greedy, ctx, -1);
    }

    FILE * f = fopen(out_path, "w");
    if (!f) die("cannot open output");
    std::string name = model_path;
    const size_t slash = name.find_last_of('/');
    if (slash != std::string::npos) name = name.substr(slash + 1);
    fprintf(f, "{\"model\": \"%s\",\n\"prompt_ids\": ", name.c_str());
    write_ids(f, prompt);
    fprintf(f, ",\n\"prompt_logits\": [\n");
    for (int i = 0; i < n_prompt; i++) {
        write_row(f, prompt_logits[i].data(), n_vocab);
        fputs(i + 1 < n_prompt ? ",\n" : "\n", f);
    }
    fprintf(f, "],\n\"greedy_ids\": ");
    write_ids(f, greedy_ids);
    fprintf(f, ",\n\"step_logits\": [\n");
    for (int i = 0; i < n_steps; i++) {
        write_row(f, step_logits[i].data(), n_vocab);
        fputs(i + 1 < n_steps ? ",\n" : "\n", f);
    }
    fprintf(f, "],\n\"llama_cpp\": \"%s\",\n\"kv_type\": \"f32\"}\n", label);
    fclose(f);

    llama_sampler_free(greedy);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

int main(int argc, char ** argv) {
    if (argc < 2) die("usage: llamacpp_ref quantize|dump ...");
    llama_backend_init();
    int rc;
    if      (strcmp(argv[1], "quantize") == 0) rc = cmd_quantize(argc, argv);
    else if (strcmp(argv[1], "dump")     == 0) rc = cmd_dump(argc, argv);
    else die("unknown command");
    llama_backend_free();
    return rc;
}

/* septet C API (C11): load a LLaMA-family model, tokenize, evaluate, sample,
 * generate with streaming, and the Q3P5 (3.5-bit) matvec on caller-owned arrays.
 *
 *   septet_model* m = NULL;
 *   if (septet_model_load("stories260K.bin", NULL, &m) != SEPTET_OK) {
 *     fprintf(stderr, "%s\n", septet_last_error());
 *     return 1;
 *   }
 *   septet_context* c = NULL;
 *   septet_context_create(m, NULL, &c);
 *   ...
 *   septet_context_free(c);
 *   septet_model_free(m);
 *
 * Rules every function follows:
 *  - It returns a septet_status (a few pure queries return a value and are
 *    marked so). Nothing throws across this header: every C++ exception inside
 *    becomes SEPTET_ERR_OUT_OF_MEMORY or SEPTET_ERR_INTERNAL.
 *  - On failure it leaves its out-parameters unchanged (except the "needed
 *    size" of SEPTET_ERR_BUFFER_TOO_SMALL) and sets the calling thread's last
 *    error text, which names the argument, field or file at fault. Every call
 *    first clears that text, so septet_last_error() describes the most recent
 *    call made on this thread ("" after a success).
 *  - Handles: every handle carries a magic number and is recorded in a
 *    process-wide table of live handles. A handle that is not live (never made
 *    by septet, already freed, or of another kind) is refused with
 *    SEPTET_ERR_BAD_HANDLE *without reading its memory*: so a double free is
 *    reported, not undefined. (If the allocator hands the same address to a
 *    new handle of the same kind in between, the guard cannot tell them apart;
 *    clear your pointer after freeing.) The *_free functions accept NULL and
 *    return SEPTET_OK.
 *  - Buffers: a function that fills a caller buffer takes its capacity and
 *    returns SEPTET_ERR_BUFFER_TOO_SMALL with the needed count in *n_needed
 *    when it does not fit; call again with a buffer that large.
 *  - Versioned structs start with `uint32_t struct_size`; fill them with their
 *    *_init function (which sets struct_size = sizeof) and then change fields.
 *    A struct_size smaller than the first version's is refused, a larger one
 *    than this library knows is refused (the caller was built against a newer
 *    header); passing NULL means "all defaults".
 *  - Threads: a model may be shared by contexts on several threads; a context
 *    or sampler must be used by one thread at a time.
 */
#ifndef SEPTET_SEPTET_C_H_
#define SEPTET_SEPTET_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header (a function's signature or
 * meaning, a struct's first-version layout, an enum value). */
#define SEPTET_C_ABI_VERSION 1

typedef enum septet_status {
  SEPTET_OK = 0,
  SEPTET_ERR_INVALID_ARGUMENT = 1, /* a value out of its domain (named in the error text) */
  SEPTET_ERR_NOT_FOUND = 2,        /* file missing */
  SEPTET_ERR_CORRUPT = 3,          /* malformed or truncated file */
  SEPTET_ERR_UNSUPPORTED = 4,      /* valid but not handled (architecture, type, struct_size) */
  SEPTET_ERR_IO = 5,               /* OS-level read failure */
  SEPTET_ERR_OUT_OF_RANGE = 6,     /* e.g. tokens past the context length */
  SEPTET_ERR_INTERNAL = 7,         /* a bug in septet; the text says where */
  SEPTET_ERR_NULL_ARGUMENT = 8,    /* a required pointer was NULL */
  SEPTET_ERR_BAD_HANDLE = 9,       /* a handle that is not live (freed, foreign, wrong kind) */
  SEPTET_ERR_BUFFER_TOO_SMALL = 10,/* *n_needed holds the count needed */
  SEPTET_ERR_OUT_OF_MEMORY = 11,
  SEPTET_ERR_NO_LOGITS = 12        /* septet_get_logits before any septet_eval */
} septet_status;

typedef enum septet_finish_reason {
  SEPTET_FINISH_EOS = 0,
  SEPTET_FINISH_STOP_STRING = 1,
  SEPTET_FINISH_MAX_TOKENS = 2,
  SEPTET_FINISH_CONTEXT_FULL = 3,
  SEPTET_FINISH_CANCELLED = 4      /* the callback returned 0 */
} septet_finish_reason;

typedef struct septet_model septet_model;     /* immutable after load; shareable */
typedef struct septet_context septet_context; /* one sequence: KV cache + last logits */
typedef struct septet_sampler septet_sampler; /* sampling chain + its random state */

/* ---- library ---- */
/* The ABI version the library was built with (compare with SEPTET_C_ABI_VERSION). Returns a value. */
uint32_t septet_abi_version(void);
/* "0.1.0"; static storage. Returns a value. */
const char* septet_version(void);
/* "SEPTET_ERR_BAD_HANDLE" etc.; "unknown status" for other values. Returns a value. */
const char* septet_status_name(septet_status status);
/* Text of the last call's failure on this thread ("" after a success). Valid until
 * the next septet call on this thread. Never NULL. Returns a value. */
const char* septet_last_error(void);

/* ---- model ---- */
typedef struct septet_model_options {
  uint32_t struct_size;       /* sizeof(septet_model_options) */
  const char* tokenizer_path; /* NULL: from the model (GGUF) or beside it (tokenizer.bin, tok<N>.bin, tokenizer.json) */
  const char* compute_type;   /* NULL: weights as stored; else "F16", "Q8_0", "Q3P5", ... (quantized at load) */
} septet_model_options;
void septet_model_options_init(septet_model_options* options);

/* path: .gguf, llama2.c .bin, or a Hugging Face directory. options: NULL = defaults. */
septet_status septet_model_load(const char* path, const septet_model_options* options, septet_model** out_model);
/* Releases the caller's reference; contexts made from it keep the model alive until they are freed. */
septet_status septet_model_free(septet_model* model);
septet_status septet_model_vocab_size(const septet_model* model, int32_t* out);
/* -1 when the model has none. */
septet_status septet_model_bos(const septet_model* model, int32_t* out);
septet_status septet_model_eos(const septet_model* model, int32_t* out);

/* text (len bytes, need not be NUL-terminated) -> ids. add_bos != 0 prepends BOS when the
 * model has one. *n_tokens: ids written, or needed when the buffer is too small. */
septet_status septet_tokenize(const septet_model* model, const char* text, size_t len, int add_bos, int32_t* tokens,
                              size_t capacity, size_t* n_tokens);
/* ids -> text (no BOS/EOS text), NUL-terminated. *n_bytes: text bytes (without the NUL);
 * the buffer needs *n_bytes + 1. A token outside [0, vocab) is SEPTET_ERR_INVALID_ARGUMENT. */
septet_status septet_detokenize(const septet_model* model, const int32_t* tokens, size_t n_tokens, char* text,
                                size_t capacity, size_t* n_bytes);

/* ---- context ---- */
typedef struct septet_context_params {
  uint32_t struct_size; /* sizeof(septet_context_params) */
  int32_t n_ctx;        /* KV cache length; 0 = min(the model's context length, 4096) */
  int32_t n_threads;    /* CPU worker threads; 0 = every hardware thread */
  const char* backend;  /* NULL or "cpu"; "cuda" in a CUDA build with a GPU */
} septet_context_params;
void septet_context_params_init(septet_context_params* params);

septet_status septet_context_create(septet_model* model, const septet_context_params* params,
                                    septet_context** out_context);
septet_status septet_context_free(septet_context* context);
septet_status septet_context_n_ctx(const septet_context* context, int64_t* out);
/* Tokens in the KV cache. */
septet_status septet_context_n_past(const septet_context* context, int64_t* out);
/* Forgets positions >= n (0 <= n <= n_past); the logits are forgotten too. */
septet_status septet_context_truncate(septet_context* context, int64_t n);

/* Appends tokens to the sequence (positions n_past ..) and keeps the logits of the
 * last one. n_tokens > 0; n_past + n_tokens > n_ctx is SEPTET_ERR_OUT_OF_RANGE; on
 * any failure the context is unchanged. */
septet_status septet_eval(septet_context* context, const int32_t* tokens, size_t n_tokens);
/* Copies the last septet_eval's logits [vocab] into `logits`; *n_logits = vocab. */
septet_status septet_get_logits(const septet_context* context, float* logits, size_t capacity, size_t* n_logits);

/* ---- sampling ----
 * Chain: repetition penalty, then greedy when temperature <= 0, else top-k, top-p,
 * min-p, temperature, and one draw from a seeded mt19937_64 (same seed, same
 * tokens on every platform). */
typedef struct septet_sampler_params {
  uint32_t struct_size;  /* sizeof(septet_sampler_params) */
  float temperature;     /* <= 0: greedy (argmax, lowest id on ties). Default 0.8 */
  int32_t top_k;         /* <= 0: off. Default 40 */
  float top_p;           /* 1: off. Default 0.95 */
  float min_p;           /* 0: off. Default 0.05 */
  float repeat_penalty;  /* 1: off. Default 1 */
  int32_t repeat_window; /* tokens of history the penalty looks at. Default 64 */
  uint64_t seed;         /* Default 0 */
} septet_sampler_params;
void septet_sampler_params_init(septet_sampler_params* params);

septet_status septet_sampler_create(const septet_sampler_params* params, septet_sampler** out_sampler);
septet_status septet_sampler_free(septet_sampler* sampler);
/* Draws one id from logits[n_logits] (not modified). history (may be NULL when
 * n_history == 0) feeds the repetition penalty. NaN logits are refused. */
septet_status septet_sampler_sample(septet_sampler* sampler, const float* logits, size_t n_logits,
                                    const int32_t* history, size_t n_history, int32_t* out_token);

/* ---- generation ---- */
/* Receives generated text in whole UTF-8 characters (text is not NUL-terminated).
 * Return nonzero to go on, 0 to stop (finish = SEPTET_FINISH_CANCELLED). */
typedef int (*septet_text_callback)(const char* text, size_t len, void* user_data);

typedef struct septet_generate_params {
  uint32_t struct_size;           /* sizeof(septet_generate_params) */
  int32_t max_tokens;             /* new tokens at most (>= 0). Default 128 */
  int32_t stop_at_eos;            /* nonzero: the model's end-of-turn ids end generation. Default 1 */
  const septet_sampler_params* sampler; /* NULL: septet_sampler_params_init's defaults */
} septet_generate_params;
void septet_generate_params_init(septet_generate_params* params);

/* Evaluates `prompt` after what the context holds, then samples up to max_tokens
 * tokens, streaming their text to `callback` (may be NULL). Generated ids (EOS
 * excluded) go to `tokens` when it is not NULL; then capacity must be >= max_tokens
 * (checked before anything runs; else SEPTET_ERR_BUFFER_TOO_SMALL, *n_tokens =
 * max_tokens). n_tokens and finish may be NULL. The context afterwards holds the
 * prompt and every generated token that was evaluated (not the last one sampled).
 * n_prompt may be 0 when the context is not empty. */
septet_status septet_generate(septet_context* context, const int32_t* prompt, size_t n_prompt,
                              const septet_generate_params* params, septet_text_callback callback, void* user_data,
                              int32_t* tokens, size_t capacity, size_t* n_tokens, septet_finish_reason* finish);

/* ---- Q3P5: the 3.5-bit weight format on caller-owned arrays ----
 * A matrix W[rows][cols] is stored row after row, each row
 * septet_q3p5_row_bytes(cols) bytes (docs/formats.md: 56-byte blocks of 128
 * weights, a shorter final block). The int32 accumulators of the kernel span one
 * 32-weight sub-block, |acc| <= 127 * 15 * 32; SEPTET_Q3P5_K_MAX is the longest
 * run of products an int32 can hold at those extremes, floor((2^31 - 1) / (127 * 15)). */
#define SEPTET_Q3P5_K_MAX 1127288
#define SEPTET_Q3P5_BLOCK_SIZE 128
#define SEPTET_Q3P5_BLOCK_BYTES 56

/* cols >= 0. */
septet_status septet_q3p5_row_bytes(int64_t cols, size_t* out_bytes);
/* w: rows * cols floats (finite, |w| <= 65504) -> out: rows * row_bytes(cols) bytes.
 * *n_bytes: bytes written, or needed when out_capacity is too small. */
septet_status septet_q3p5_quantize(const float* w, int64_t rows, int64_t cols, uint8_t* out, size_t out_capacity,
                                   size_t* n_bytes);
/* Packed bytes (exactly rows * row_bytes(cols) of them) -> rows * cols floats (scalar reference). */
septet_status septet_q3p5_dequantize(const uint8_t* packed, size_t packed_bytes, int64_t rows, int64_t cols,
                                     float* out, size_t out_count);
/* y[r] = sum_k W[r][k] * x[k] with the SIMD kernel: x is first quantized to
 * 8-bit activations (32 per scale), as the model's forward pass does.
 * packed_bytes == rows * row_bytes(cols), x_count == cols, y_count == rows; x finite. */
septet_status septet_q3p5_matvec(const uint8_t* packed, size_t packed_bytes, int64_t rows, int64_t cols,
                                 const float* x, size_t x_count, float* y, size_t y_count);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* SEPTET_SEPTET_C_H_ */

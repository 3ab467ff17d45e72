/* The C API from a C11 program (ctest CApi.C11Program; also run under ASan/UBSan
 * by `make test-sanitize`). argv[1]: stories260K.bin. Checks the float64 oracle's
 * greedy ids through eval/logits, the sampler and generate; streaming and
 * cancelling; one model shared by threads; and misuse: NULL and dead handles,
 * double frees, handles of the wrong kind, bad struct sizes, short buffers,
 * wrong Q3P5 sizes. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "septet/septet_c.h"

static int g_failures = 0;

#define EXPECT(cond)                                                                   \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: EXPECT(%s) failed; last error: %s\n", __FILE__, __LINE__, \
              #cond, septet_last_error());                                             \
      ++g_failures;                                                                    \
    }                                                                                  \
  } while (0)
#define EXPECT_STATUS(call, want)                                                              \
  do {                                                                                         \
    septet_status s_ = (call);                                                                 \
    if (s_ != (want)) {                                                                        \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s; last error: %s\n", __FILE__, __LINE__, \
              #call, septet_status_name(s_), septet_status_name(want), septet_last_error());   \
      ++g_failures;                                                                            \
    }                                                                                          \
  } while (0)
#define EXPECT_ERROR_MENTIONS(text) EXPECT(strstr(septet_last_error(), (text)) != NULL)

/* tests/model_oracle_test.cc: BOS "Once upon a time" and the float64 greedy continuation. */
static const int32_t kPrompt[5] = {1, 403, 407, 261, 378};
static const int32_t kGreedy[16] = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337};
enum { kNGreedy = 16, kVocab = 512 };

static int32_t argmax(const float* v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return (int32_t)best;
}

static void test_library(void) {
  EXPECT(septet_abi_version() == SEPTET_C_ABI_VERSION);
  EXPECT(strlen(septet_version()) > 0);
  EXPECT(strcmp(septet_status_name(SEPTET_ERR_BAD_HANDLE), "SEPTET_ERR_BAD_HANDLE") == 0);
  EXPECT(strcmp(septet_status_name((septet_status)999), "unknown status") == 0);
}

static void test_load_errors(void) {
  septet_model* m = NULL;
  EXPECT_STATUS(septet_model_load("/nonexistent/model.bin", NULL, &m), SEPTET_ERR_NOT_FOUND);
  EXPECT_ERROR_MENTIONS("/nonexistent/model.bin");
  EXPECT(m == NULL);
  EXPECT_STATUS(septet_model_load(NULL, NULL, &m), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_ERROR_MENTIONS("path");
  EXPECT_STATUS(septet_model_load("x", NULL, NULL), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_ERROR_MENTIONS("out_model");
  septet_model_options o;
  septet_model_options_init(&o);
  o.struct_size = 4;
  EXPECT_STATUS(septet_model_load("x", &o, &m), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("septet_model_options.struct_size = 4");
  o.struct_size = sizeof(o) + 8;
  EXPECT_STATUS(septet_model_load("x", &o, &m), SEPTET_ERR_UNSUPPORTED);
  EXPECT_ERROR_MENTIONS("struct_size");
}

static void test_null_and_dead_handles(septet_model* live_model) {
  int32_t v = 0;
  int64_t v64 = 0;
  size_t n = 0;
  float f[4];
  EXPECT_STATUS(septet_model_vocab_size(NULL, &v), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_context_n_past(NULL, &v64), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_eval(NULL, kPrompt, 5), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_get_logits(NULL, f, 4, &n), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_sampler_sample(NULL, f, 4, NULL, 0, &v), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_generate(NULL, kPrompt, 5, NULL, NULL, NULL, NULL, 0, NULL, NULL), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_context_create(NULL, NULL, NULL), SEPTET_ERR_NULL_ARGUMENT);
  /* free(NULL) is fine. */
  EXPECT_STATUS(septet_model_free(NULL), SEPTET_OK);
  EXPECT_STATUS(septet_context_free(NULL), SEPTET_OK);
  EXPECT_STATUS(septet_sampler_free(NULL), SEPTET_OK);
  /* Something that never was a handle: refused without being read as one. */
  uint64_t junk[4] = {0, 0, 0, 0};
  EXPECT_STATUS(septet_model_vocab_size((const septet_model*)junk, &v), SEPTET_ERR_BAD_HANDLE);
  EXPECT_ERROR_MENTIONS("not a live septet_model");
  EXPECT_STATUS(septet_context_free((septet_context*)junk), SEPTET_ERR_BAD_HANDLE);
  /* A live handle of the wrong kind. */
  EXPECT_STATUS(septet_context_n_past((const septet_context*)live_model, &v64), SEPTET_ERR_BAD_HANDLE);
  EXPECT_ERROR_MENTIONS("is a septet_model, expected a septet_context");
  EXPECT_STATUS(septet_model_free((septet_model*)&v64), SEPTET_ERR_BAD_HANDLE);
}

static void test_double_free(const char* path) {
  septet_model* m = NULL;
  EXPECT_STATUS(septet_model_load(path, NULL, &m), SEPTET_OK);
  septet_sampler* s = NULL;
  EXPECT_STATUS(septet_sampler_create(NULL, &s), SEPTET_OK);
  EXPECT_STATUS(septet_sampler_free(s), SEPTET_OK);
  EXPECT_STATUS(septet_sampler_free(s), SEPTET_ERR_BAD_HANDLE); /* the guard: never read, never freed twice */
  septet_context* c = NULL;
  septet_context_params cp;
  septet_context_params_init(&cp);
  cp.n_ctx = 32;
  cp.n_threads = 1;
  EXPECT_STATUS(septet_context_create(m, &cp, &c), SEPTET_OK);
  /* The model handle goes first; the context keeps the model alive. */
  EXPECT_STATUS(septet_model_free(m), SEPTET_OK);
  EXPECT_STATUS(septet_model_free(m), SEPTET_ERR_BAD_HANDLE);
  EXPECT_ERROR_MENTIONS("already freed");
  int32_t v = 0;
  EXPECT_STATUS(septet_model_vocab_size(m, &v), SEPTET_ERR_BAD_HANDLE);
  EXPECT_STATUS(septet_eval(c, kPrompt, 5), SEPTET_OK);
  EXPECT_STATUS(septet_context_free(c), SEPTET_OK);
  EXPECT_STATUS(septet_context_free(c), SEPTET_ERR_BAD_HANDLE);
}

static void test_tokenize(septet_model* m) {
  const char* text = "Once upon a time";
  int32_t ids[8];
  size_t n = 0;
  EXPECT_STATUS(septet_tokenize(m, text, strlen(text), 1, ids, 2, &n), SEPTET_ERR_BUFFER_TOO_SMALL);
  EXPECT(n == 5);
  EXPECT_STATUS(septet_tokenize(m, text, strlen(text), 1, NULL, 0, &n), SEPTET_ERR_BUFFER_TOO_SMALL);
  EXPECT(n == 5);
  EXPECT_STATUS(septet_tokenize(m, text, strlen(text), 1, ids, 8, &n), SEPTET_OK);
  EXPECT(n == 5 && memcmp(ids, kPrompt, sizeof(kPrompt)) == 0);
  EXPECT(strcmp(septet_last_error(), "") == 0); /* a success clears the text */
  EXPECT_STATUS(septet_tokenize(m, NULL, 3, 1, ids, 8, &n), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_tokenize(m, text, strlen(text), 1, ids, 8, NULL), SEPTET_ERR_NULL_ARGUMENT);

  char buf[256];
  size_t nb = 0;
  EXPECT_STATUS(septet_detokenize(m, kPrompt, 5, buf, 4, &nb), SEPTET_ERR_BUFFER_TOO_SMALL);
  const size_t need = nb;
  EXPECT(need == strlen(text));
  EXPECT_STATUS(septet_detokenize(m, kPrompt, 5, buf, need, &nb), SEPTET_ERR_BUFFER_TOO_SMALL); /* no room for NUL */
  EXPECT_STATUS(septet_detokenize(m, kPrompt, 5, buf, need + 1, &nb), SEPTET_OK);
  EXPECT(nb == need && strcmp(buf, text) == 0);
  const int32_t bad[2] = {1, kVocab};
  EXPECT_STATUS(septet_detokenize(m, bad, 2, buf, sizeof(buf), &nb), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("tokens[1] = 512");

  int32_t vocab = 0, bos = 0, eos = 0;
  EXPECT_STATUS(septet_model_vocab_size(m, &vocab), SEPTET_OK);
  EXPECT_STATUS(septet_model_bos(m, &bos), SEPTET_OK);
  EXPECT_STATUS(septet_model_eos(m, &eos), SEPTET_OK);
  EXPECT(vocab == kVocab && bos == 1 && eos == 2);
  EXPECT_STATUS(septet_model_bos(m, NULL), SEPTET_ERR_NULL_ARGUMENT);
}

static void test_eval_oracle(septet_model* m) {
  septet_context* c = NULL;
  septet_context_params cp;
  septet_context_params_init(&cp);
  cp.n_ctx = 64;
  cp.n_threads = 2;
  EXPECT_STATUS(septet_context_create(m, &cp, &c), SEPTET_OK);
  if (c == NULL) return;
  float logits[kVocab];
  size_t n = 0;
  EXPECT_STATUS(septet_get_logits(c, logits, kVocab, &n), SEPTET_ERR_NO_LOGITS);
  EXPECT_STATUS(septet_eval(c, kPrompt, 0), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(septet_eval(c, NULL, 3), SEPTET_ERR_NULL_ARGUMENT);
  const int32_t bad = kVocab;
  EXPECT_STATUS(septet_eval(c, &bad, 1), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(septet_eval(c, kPrompt, 5), SEPTET_OK);
  EXPECT_STATUS(septet_get_logits(c, logits, 100, &n), SEPTET_ERR_BUFFER_TOO_SMALL);
  EXPECT(n == kVocab);

  septet_sampler_params sp;
  septet_sampler_params_init(&sp);
  sp.temperature = 0.0f;
  septet_sampler* greedy = NULL;
  EXPECT_STATUS(septet_sampler_create(&sp, &greedy), SEPTET_OK);
  int32_t got[kNGreedy];
  for (int i = 0; i < kNGreedy; ++i) {
    EXPECT_STATUS(septet_get_logits(c, logits, kVocab, &n), SEPTET_OK);
    got[i] = argmax(logits, n);
    int32_t sampled = -1;
    EXPECT_STATUS(septet_sampler_sample(greedy, logits, n, NULL, 0, &sampled), SEPTET_OK);
    EXPECT(sampled == got[i]);
    EXPECT_STATUS(septet_eval(c, &got[i], 1), SEPTET_OK);
  }
  EXPECT(memcmp(got, kGreedy, sizeof(got)) == 0);
  int64_t past = 0;
  EXPECT_STATUS(septet_context_n_past(c, &past), SEPTET_OK);
  EXPECT(past == 5 + kNGreedy);

  /* Truncate back to the prompt and continue: the same first token. */
  EXPECT_STATUS(septet_context_truncate(c, 99), SEPTET_ERR_OUT_OF_RANGE);
  EXPECT_STATUS(septet_context_truncate(c, 4), SEPTET_OK);
  EXPECT_STATUS(septet_get_logits(c, logits, kVocab, &n), SEPTET_ERR_NO_LOGITS);
  EXPECT_STATUS(septet_eval(c, &kPrompt[4], 1), SEPTET_OK);
  EXPECT_STATUS(septet_get_logits(c, logits, kVocab, &n), SEPTET_OK);
  EXPECT(argmax(logits, n) == kGreedy[0]);

  /* NaN logits are refused. */
  logits[7] = NAN;
  int32_t t = 0;
  EXPECT_STATUS(septet_sampler_sample(greedy, logits, n, NULL, 0, &t), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("logits[7]");
  EXPECT_STATUS(septet_sampler_free(greedy), SEPTET_OK);
  EXPECT_STATUS(septet_context_free(c), SEPTET_OK);
}

static void test_context_full(septet_model* m) {
  septet_context* c = NULL;
  septet_context_params cp;
  septet_context_params_init(&cp);
  cp.n_ctx = 8;
  cp.n_threads = 1;
  EXPECT_STATUS(septet_context_create(m, &cp, &c), SEPTET_OK);
  if (c == NULL) return;
  int64_t n_ctx = 0, past = 0;
  EXPECT_STATUS(septet_context_n_ctx(c, &n_ctx), SEPTET_OK);
  EXPECT(n_ctx == 8);
  EXPECT_STATUS(septet_eval(c, kPrompt, 5), SEPTET_OK);
  EXPECT_STATUS(septet_eval(c, kGreedy, 4), SEPTET_ERR_OUT_OF_RANGE);
  EXPECT_ERROR_MENTIONS("n_ctx = 8");
  EXPECT_STATUS(septet_context_n_past(c, &past), SEPTET_OK);
  EXPECT(past == 5); /* unchanged by the failed call */
  EXPECT_STATUS(septet_context_free(c), SEPTET_OK);

  cp.n_ctx = -1;
  EXPECT_STATUS(septet_context_create(m, &cp, &c), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("n_ctx = -1");
  cp.n_ctx = 8;
  cp.backend = "tpu";
  EXPECT_STATUS(septet_context_create(m, &cp, &c), SEPTET_ERR_INVALID_ARGUMENT);
}

struct stream {
  char text[1024];
  size_t len;
  int calls;
  int stop_after; /* 0: never */
};

static int on_text(const char* text, size_t len, void* user) {
  struct stream* s = (struct stream*)user;
  if (s->len + len < sizeof(s->text)) {
    memcpy(s->text + s->len, text, len);
    s->len += len;
    s->text[s->len] = '\0';
  }
  ++s->calls;
  return s->stop_after == 0 || s->calls < s->stop_after;
}

static septet_context* new_context(septet_model* m) {
  septet_context* c = NULL;
  septet_context_params cp;
  septet_context_params_init(&cp);
  cp.n_ctx = 64;
  cp.n_threads = 1;
  EXPECT_STATUS(septet_context_create(m, &cp, &c), SEPTET_OK);
  return c;
}

static void test_generate(septet_model* m) {
  septet_sampler_params sp;
  septet_sampler_params_init(&sp);
  sp.temperature = 0.0f;
  septet_generate_params gp;
  septet_generate_params_init(&gp);
  gp.max_tokens = kNGreedy;
  gp.sampler = &sp;

  septet_context* c = new_context(m);
  if (c == NULL) return;
  int32_t out[kNGreedy];
  size_t n = 0;
  septet_finish_reason finish = SEPTET_FINISH_EOS;
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, NULL, NULL, out, kNGreedy - 1, &n, NULL),
                SEPTET_ERR_BUFFER_TOO_SMALL);
  EXPECT(n == kNGreedy);
  struct stream s = {{0}, 0, 0, 0};
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, on_text, &s, out, kNGreedy, &n, &finish), SEPTET_OK);
  EXPECT(n == kNGreedy && memcmp(out, kGreedy, sizeof(kGreedy)) == 0);
  EXPECT(finish == SEPTET_FINISH_MAX_TOKENS);
  /* The streamed text is the detokenized ids (the first piece keeps its leading space). */
  char want[1024];
  size_t nb = 0;
  EXPECT_STATUS(septet_detokenize(m, kGreedy, kNGreedy, want, sizeof(want), &nb), SEPTET_OK);
  EXPECT(s.len >= nb && strcmp(s.text + (s.len - nb), want) == 0);
  if (s.len < nb || strcmp(s.text + (s.len - nb), want) != 0) {
    fprintf(stderr, "streamed '%s'\ndetokenized '%s'\n", s.text, want);
  }
  EXPECT_STATUS(septet_context_free(c), SEPTET_OK);

  /* The callback stops the run. */
  c = new_context(m);
  struct stream st = {{0}, 0, 0, 3};
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, on_text, &st, out, kNGreedy, &n, &finish), SEPTET_OK);
  EXPECT(finish == SEPTET_FINISH_CANCELLED);
  EXPECT(st.calls == 3 && n <= 4 && memcmp(out, kGreedy, n * sizeof(int32_t)) == 0);
  EXPECT_STATUS(septet_context_free(c), SEPTET_OK);

  /* Seeded sampling reproduces itself. */
  septet_sampler_params hot;
  septet_sampler_params_init(&hot);
  hot.temperature = 1.0f;
  hot.seed = 1234;
  gp.sampler = &hot;
  int32_t a[kNGreedy], b[kNGreedy];
  size_t na = 0, nb2 = 0;
  c = new_context(m);
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, NULL, NULL, a, kNGreedy, &na, NULL), SEPTET_OK);
  EXPECT_STATUS(septet_context_free(c), SEPTET_OK);
  c = new_context(m);
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, NULL, NULL, b, kNGreedy, &nb2, NULL), SEPTET_OK);
  EXPECT(na == nb2 && memcmp(a, b, na * sizeof(int32_t)) == 0);

  /* Bad parameters name their field. */
  hot.top_p = 0.0f;
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, NULL, NULL, NULL, 0, NULL, NULL), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("top_p");
  hot.top_p = 0.9f;
  hot.struct_size = 0;
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, NULL, NULL, NULL, 0, NULL, NULL), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("septet_sampler_params.struct_size = 0");
  gp.max_tokens = -1;
  EXPECT_STATUS(septet_generate(c, kPrompt, 5, &gp, NULL, NULL, NULL, 0, NULL, NULL), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("max_tokens = -1");
  EXPECT_STATUS(septet_context_free(c), SEPTET_OK);
}

/* The last error is per thread. */
static void* other_thread(void* arg) {
  (void)arg;
  return (void*)(strcmp(septet_last_error(), "") == 0 ? "empty" : "leaked");
}

static void test_thread_local_error(void) {
  septet_model* m = NULL;
  EXPECT_STATUS(septet_model_load("/nonexistent/x.gguf", NULL, &m), SEPTET_ERR_NOT_FOUND);
  pthread_t th;
  void* result = NULL;
  EXPECT(pthread_create(&th, NULL, other_thread, NULL) == 0);
  EXPECT(pthread_join(th, &result) == 0);
  EXPECT(result != NULL && strcmp((const char*)result, "empty") == 0);
  EXPECT_ERROR_MENTIONS("/nonexistent/x.gguf"); /* still set here */
}

/* One model shared by contexts on several threads: each reproduces the oracle. */
struct shared_run {
  septet_model* model;
  int32_t out[kNGreedy];
  size_t n;
  septet_status status;
};

static void* generate_on_thread(void* arg) {
  struct shared_run* r = (struct shared_run*)arg;
  septet_context* c = NULL;
  septet_context_params cp;
  septet_context_params_init(&cp);
  cp.n_ctx = 32;
  cp.n_threads = 1;
  r->status = septet_context_create(r->model, &cp, &c);
  if (r->status != SEPTET_OK) return NULL;
  septet_sampler_params sp;
  septet_sampler_params_init(&sp);
  sp.temperature = 0.0f;
  septet_generate_params gp;
  septet_generate_params_init(&gp);
  gp.max_tokens = kNGreedy;
  gp.sampler = &sp;
  r->status = septet_generate(c, kPrompt, 5, &gp, NULL, NULL, r->out, kNGreedy, &r->n, NULL);
  septet_context_free(c);
  return NULL;
}

static void test_shared_model_threads(septet_model* m) {
  enum { kThreads = 3 };
  struct shared_run runs[kThreads];
  pthread_t th[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    memset(&runs[i], 0, sizeof(runs[i]));
    runs[i].model = m;
    EXPECT(pthread_create(&th[i], NULL, generate_on_thread, &runs[i]) == 0);
  }
  for (int i = 0; i < kThreads; ++i) {
    EXPECT(pthread_join(th[i], NULL) == 0);
    EXPECT(runs[i].status == SEPTET_OK);
    EXPECT(runs[i].n == kNGreedy && memcmp(runs[i].out, kGreedy, sizeof(kGreedy)) == 0);
  }
}

/* Q3P5 on caller-owned arrays: the matvec equals dequantize-then-dot within the
 * 8-bit activation error, sum_k |w_k| * amax(block of k) / 254, plus float rounding
 * gamma_{K+5} * sum_k |w_k x_k| (docs/formats.md, error model). */
static void test_q3p5(void) {
  size_t rb = 0;
  EXPECT_STATUS(septet_q3p5_row_bytes(64, &rb), SEPTET_OK);
  EXPECT(rb == 28);
  EXPECT_STATUS(septet_q3p5_row_bytes(172, &rb), SEPTET_OK);
  EXPECT(rb == 84);
  EXPECT_STATUS(septet_q3p5_row_bytes(-1, &rb), SEPTET_ERR_INVALID_ARGUMENT);
  enum { R = 5, K = 300 };
  float* w = malloc(sizeof(float) * R * K);
  float* deq = malloc(sizeof(float) * R * K);
  float x[K], y[R];
  uint64_t state = 88172645463325252ull;
  for (int i = 0; i < R * K; ++i) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    w[i] = (float)((double)(state >> 11) * 0x1p-53 - 0.5);
  }
  for (int k = 0; k < K; ++k) x[k] = (float)sin(0.37 * k) * (k % 7 == 0 ? 3.0f : 1.0f);
  size_t need = 0;
  EXPECT_STATUS(septet_q3p5_quantize(w, R, K, NULL, 0, &need), SEPTET_ERR_BUFFER_TOO_SMALL);
  EXPECT_STATUS(septet_q3p5_row_bytes(K, &rb), SEPTET_OK);
  EXPECT(need == R * rb);
  uint8_t* packed = malloc(need);
  size_t got = 0;
  EXPECT_STATUS(septet_q3p5_quantize(w, R, K, packed, need, &got), SEPTET_OK);
  EXPECT(got == need);
  EXPECT_STATUS(septet_q3p5_dequantize(packed, need, R, K, deq, R * K), SEPTET_OK);
  EXPECT_STATUS(septet_q3p5_dequantize(packed, need - 1, R, K, deq, R * K), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(septet_q3p5_matvec(packed, need, R, K, x, K, y, R), SEPTET_OK);
  for (int r = 0; r < R; ++r) {
    double ref = 0, bound = 0;
    for (int k = 0; k < K; ++k) {
      double amax = 0;
      for (int j = k - k % 32; j < k - k % 32 + 32 && j < K; ++j) amax = fmax(amax, fabs(x[j]));
      ref += (double)deq[r * K + k] * x[k];
      const double gam = (K + 5) * 0x1p-24, wk = fabs(deq[r * K + k]);
      bound += wk * (amax / 254.0) * (1 + gam) + wk * fabs(x[k]) * gam;
    }
    EXPECT(fabs(y[r] - ref) <= bound);
    if (fabs(y[r] - ref) > bound) fprintf(stderr, "row %d: matvec %g, reference %g, bound %g\n", r, y[r], ref, bound);
  }
  /* Wrong sizes and values name what is wrong. */
  EXPECT_STATUS(septet_q3p5_matvec(packed, need, R, K, x, K - 1, y, R), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("x_count = 299");
  EXPECT_STATUS(septet_q3p5_matvec(packed, need, R, K, x, K, y, R + 1), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("y_count");
  EXPECT_STATUS(septet_q3p5_matvec(packed, need + 1, R, K, x, K, y, R), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(septet_q3p5_matvec(NULL, need, R, K, x, K, y, R), SEPTET_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(septet_q3p5_matvec(packed, need, R, INT64_MAX, x, K, y, R), SEPTET_ERR_INVALID_ARGUMENT);
  x[3] = INFINITY;
  EXPECT_STATUS(septet_q3p5_matvec(packed, need, R, K, x, K, y, R), SEPTET_ERR_INVALID_ARGUMENT);
  w[10] = NAN;
  EXPECT_STATUS(septet_q3p5_quantize(w, R, K, packed, need, &got), SEPTET_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR_MENTIONS("row 0");
  free(packed);
  free(deq);
  free(w);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s stories260K.bin\n", argv[0]);
    return 2;
  }
  const char* path = argv[1];
  test_library();
  test_load_errors();
  test_thread_local_error();
  test_q3p5();
  septet_model* m = NULL;
  EXPECT_STATUS(septet_model_load(path, NULL, &m), SEPTET_OK);
  if (m == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", path, septet_last_error());
    return 1;
  }
  test_null_and_dead_handles(m);
  test_double_free(path);
  test_tokenize(m);
  test_eval_oracle(m);
  test_context_full(m);
  test_generate(m);
  test_shared_model_threads(m);
  EXPECT_STATUS(septet_model_free(m), SEPTET_OK);
  if (g_failures > 0) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("septet C API: all checks passed (ABI %u, septet %s)\n", septet_abi_version(), septet_version());
  return 0;
}

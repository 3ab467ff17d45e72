/* A consumer of the installed septet (tests/capi: CApi.InstallAndConsume): built
 * against the installed header and library only, via pkg-config or find_package.
 * Checks the ABI version, then loads the model given as argv[1] and greedily
 * generates 4 tokens after "Once upon a time". Prints the ids. */
#include <septet/septet_c.h>
#include <stdio.h>
#include <string.h>

static int fail(const char* what) {
  fprintf(stderr, "consumer: %s: %s\n", what, septet_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: consumer MODEL\n");
    return 2;
  }
  if (septet_abi_version() != SEPTET_C_ABI_VERSION) {
    fprintf(stderr, "consumer: library ABI %u, header ABI %d\n", septet_abi_version(), SEPTET_C_ABI_VERSION);
    return 1;
  }
  septet_model* m = NULL;
  septet_context* c = NULL;
  if (septet_model_load(argv[1], NULL, &m) != SEPTET_OK) return fail("septet_model_load");
  septet_context_params cp;
  septet_context_params_init(&cp);
  cp.n_ctx = 64;
  cp.n_threads = 1;
  if (septet_context_create(m, &cp, &c) != SEPTET_OK) return fail("septet_context_create");
  const char* text = "Once upon a time";
  int32_t prompt[16];
  size_t n_prompt = 0;
  if (septet_tokenize(m, text, strlen(text), 1, prompt, 16, &n_prompt) != SEPTET_OK) return fail("septet_tokenize");
  septet_sampler_params sp;
  septet_sampler_params_init(&sp);
  sp.temperature = 0.0f;
  septet_generate_params gp;
  septet_generate_params_init(&gp);
  gp.max_tokens = 4;
  gp.sampler = &sp;
  int32_t out[4];
  size_t n_out = 0;
  if (septet_generate(c, prompt, n_prompt, &gp, NULL, NULL, out, 4, &n_out, NULL) != SEPTET_OK) {
    return fail("septet_generate");
  }
  printf("septet %s ids:", septet_version());
  for (size_t i = 0; i < n_out; ++i) printf(" %d", out[i]);
  printf("\n");
  septet_context_free(c);
  septet_model_free(m);
  return 0;
}

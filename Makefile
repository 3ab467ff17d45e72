# Thin wrapper around CMake with the seed's commands.
#   make run         build, then generate text with the default model from ../shared
#   make test        build, then run the whole test suite (ctest)
#   make all         build library, CLI, tests, benchmarks
#   make test-model  model-level checks only (oracle ids, quantized divergence)
#   make test-sanitize  ASan+UBSan build and test run
#   make proofs      check the Coq proofs in proofs/ (Debian's coq; docs/proofs.md)
#   make clean
# SEPTET_SHARED=/path overrides where ../shared is; JOBS=N sets build parallelism.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
BUILD_ASAN ?= build-asan
CMAKE_FLAGS ?=
SHARED ?= $(or $(SEPTET_SHARED),$(CURDIR)/../shared)
MODEL ?= $(SHARED)/models/stories260K/stories260K.bin
PROMPT ?= Once upon a time
SEPTET := $(BUILD)/septet

.PHONY: all build deps configure test test-model test-sanitize run clean

# ---- synthetic models and benchmarks (never part of `make test`) ----
#   make gen-weights      random-weight tinyllama-1.1b GGUFs (Q3P5, Q4_G, Q8_0, F16) in $(MODELS_DIR);
#                         for speed measurement only, they produce gibberish; existing files are kept
#   make benchmark        septet bench over those models (pp + tg, memory bandwidth, -t $(BENCH_THREADS))
#   make benchmark-simd   kernel micro-benchmarks (bench/simd_kernels_bench.cc), JSON in $(BUILD)/bench-results
#   make benchmark-blas   BLAS prefill GEMM micro-benchmark (bench/blas_gemm_bench.cc)
#   make benchmark-gpu    septet bench --backend cuda: pp, batch-1 decode and the batched-decode curve
#                         (-b) on $(GPU_SHAPES), vs the GPU's copy bandwidth (fails with a message when
#                         there is no CUDA/GPU); e.g. GPU_SHAPES=llama2-70b:Q3P5 for the 70B shape
#   make benchmark-peer   septet vs llama.cpp (built by ../shared/tools/peer-llamacpp.sh into $(PEER_DIR)) on the
#                         same F16/F32 bases: a $(PEER_SHAPE) gen-weights model and SmolLM2-135M, llama.cpp's
#                         Q4_0/Q3_K_S/Q3_K_M/IQ3_S/Q8_0 vs septet's Q3P5/Q4_G/Q8_0, alternating runs, median table
#                         with ratios in $(PEER_OUT)/peer.md (scripts/benchmark-peer.sh; quick: PEER_PP=64 PEER_TG=16 PEER_REPS=1)
MODELS_DIR ?= $(BUILD)/models
GEN_SHAPE ?= tinyllama-1.1b
GEN_TYPES ?= Q3P5 Q4_G Q8_0 F16
BENCH_THREADS ?= $(shell nproc 2>/dev/null || echo 1)
BENCH_FLAGS ?= -p 512 -n 128 -r 5
BENCH_OUT ?= $(BUILD)/bench-results
GPU_SHAPES ?= llama3-8b:Q3P5 llama3-8b:Q4_G llama3-8b:Q8_0
GPU_BENCH_FLAGS ?= -p 512 -n 128 -b 1,8,16,32,64,128,256 -r 5
PEER_DIR ?= /tmp/peer-llamacpp
PEER_SHAPE ?= tinyllama-1.1b
PEER_THREADS ?= $(shell nproc 2>/dev/null || echo 1)
PEER_PP ?= 512
PEER_TG ?= 128
PEER_REPS ?= 3
PEER_OUT ?= $(BENCH_OUT)/peer
#   make benchmark-ppl    septet perplexity vs llama-perplexity on the SmolLM2 files of benchmark-peer (F32, Q8_0 and
#                         Q3P5 beside Q4_0), same text and threads, alternating, median wall time (scripts/benchmark-ppl.sh)
#   make benchmark-70b    the llama2-70b shape at Q3P5 (gen-weights, ~28 GiB in $(MODELS_DIR)), then per budget in
#                         $(BENCH70_BUDGETS): `septet plan` (disk bandwidth measured on the file, predicted tok/s) and
#                         `septet bench --mem-budget` (layers streamed): tok/s, TTFT = prompt / pp t/s, peak RSS and the bytes
#                         read from disk ("File system inputs" x 512, /usr/bin/time); docs/memory.md has the results
BENCH70_FILE ?= $(MODELS_DIR)/llama2-70b-q3p5.gguf
BENCH70_BUDGETS ?= 20G 8G
BENCH70_PROMPT ?= 16
BENCH70_GEN ?= 4
BENCH70_FLAGS ?= -p $(BENCH70_PROMPT) -n $(BENCH70_GEN) -r 1
lc = $(shell echo '$(1)' | tr A-Z a-z)
GEN_MODELS = $(foreach t,$(GEN_TYPES),$(MODELS_DIR)/$(GEN_SHAPE)-$(call lc,$(t)).gguf)

.PHONY: gen-weights benchmark benchmark-simd benchmark-blas benchmark-gpu benchmark-peer benchmark-ppl benchmark-serve benchmark-70b

#   make benchmark-serve  septet serve under $(SERVE_CLIENTS) clients for $(SERVE_SECONDS) s on each of $(SERVE_MODELS)
#                         (stories260K and SmolLM2-135M): streamed and whole requests checked against their answers
#                         alone, $(SERVE_BAD) of them malformed / oversized / unauthorized / hanging up; req/s, tok/s,
#                         p50/p99 TTFT and inter-token latency, errors by kind, prefix-cache hit rate, RSS before/after
#                         (scripts/benchmark-serve.py; fails on any error, a hang or RSS growth); JSON in $(BENCH_OUT)
SERVE_MODELS ?= $(SHARED)/models/stories260K/stories260K.bin \
  $(SHARED)/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
SERVE_CLIENTS ?= 64
SERVE_PARALLEL ?= 8
SERVE_THREADS ?= 2
SERVE_SECONDS ?= 60
SERVE_BAD ?= 0.10
benchmark-serve: build
	@mkdir -p $(BENCH_OUT)
	@set -e; for m in $(SERVE_MODELS); do \
	  python3 scripts/benchmark-serve.py --septet $(SEPTET) --model $$m --clients $(SERVE_CLIENTS) \
	    --parallel $(SERVE_PARALLEL) --threads $(SERVE_THREADS) --seconds $(SERVE_SECONDS) --bad-fraction $(SERVE_BAD) \
	    --out $(BENCH_OUT)/serve-$$(basename $$m).json; \
	done

benchmark-70b: build
	@mkdir -p $(MODELS_DIR) $(BENCH_OUT)
	@[ -e "$(BENCH70_FILE)" ] || $(SEPTET) gen-weights --shape llama2-70b --type Q3P5 -o "$(BENCH70_FILE)" || exit 1
	@for b in $(BENCH70_BUDGETS); do \
	  $(SEPTET) plan -m "$(BENCH70_FILE)" --mem $$b --ctx $$(( $(BENCH70_PROMPT) > $(BENCH70_GEN) ? $(BENCH70_PROMPT) + 1 : $(BENCH70_GEN) + 1 )) -t $(BENCH_THREADS) | tee $(BENCH_OUT)/70b-plan-$$b.txt || exit 1; \
	  /usr/bin/time -v $(SEPTET) bench -m "$(BENCH70_FILE)" $(BENCH70_FLAGS) -t $(BENCH_THREADS) --mem-budget $$b \
	    >$(BENCH_OUT)/70b-bench-$$b.md 2>$(BENCH_OUT)/70b-bench-$$b.err; rc=$$?; \
	  cat $(BENCH_OUT)/70b-bench-$$b.md; grep -E "mem-budget|Maximum resident|Elapsed|File system inputs|User time" $(BENCH_OUT)/70b-bench-$$b.err; \
	  [ $$rc -eq 0 ] || exit $$rc; \
	done

gen-weights: build
	@mkdir -p $(MODELS_DIR)
	@for t in $(GEN_TYPES); do \
	  f="$(MODELS_DIR)/$(GEN_SHAPE)-$$(echo $$t | tr A-Z a-z).gguf"; \
	  if [ -e "$$f" ]; then echo "gen-weights: $$f exists, kept"; \
	  else $(SEPTET) gen-weights --shape $(GEN_SHAPE) --type $$t -o "$$f" || exit 1; fi; \
	done

benchmark: gen-weights
	@mkdir -p $(BENCH_OUT)
	$(SEPTET) bench $(foreach m,$(GEN_MODELS),-m $(m)) $(BENCH_FLAGS) -t $(BENCH_THREADS) >$(BENCH_OUT)/septet_bench.md; \
	  rc=$$?; cat $(BENCH_OUT)/septet_bench.md; exit $$rc

benchmark-simd: build
	@test -x $(BUILD)/simd_kernels_bench || { echo "benchmark-simd: $(BUILD)/simd_kernels_bench was not built (needs bench/simd_kernels_bench.cc and Google Benchmark)"; exit 1; }
	@mkdir -p $(BENCH_OUT)
	$(BUILD)/simd_kernels_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
	  --benchmark_out_format=json --benchmark_out=$(BENCH_OUT)/simd_kernels_bench.json

benchmark-blas: build
	@test -x $(BUILD)/blas_gemm_bench || { echo "benchmark-blas: $(BUILD)/blas_gemm_bench was not built (needs bench/blas_gemm_bench.cc and Google Benchmark)"; exit 1; }
	@mkdir -p $(BENCH_OUT)
	$(BUILD)/blas_gemm_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
	  --benchmark_out_format=json --benchmark_out=$(BENCH_OUT)/blas_gemm_bench.json

benchmark-gpu: build
	@command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 || { echo "benchmark-gpu: no NVIDIA GPU found (nvidia-smi -L failed); nothing to measure"; exit 1; }
	@mkdir -p $(MODELS_DIR) $(BENCH_OUT)
	@models=""; for st in $(GPU_SHAPES); do \
	  shape=$${st%%:*}; t=$${st##*:}; f="$(MODELS_DIR)/$$shape-$$(echo $$t | tr A-Z a-z).gguf"; \
	  [ -e "$$f" ] || $(SEPTET) gen-weights --shape $$shape --type $$t -o "$$f" || exit 1; \
	  models="$$models -m $$f"; \
	done; \
	$(SEPTET) bench $$models --backend cuda $(GPU_BENCH_FLAGS) >$(BENCH_OUT)/septet_bench_gpu.md; \
	  rc=$$?; cat $(BENCH_OUT)/septet_bench_gpu.md; exit $$rc

benchmark-peer: build
	PEER_DIR="$(PEER_DIR)" PEER_SHAPE="$(PEER_SHAPE)" PEER_THREADS="$(PEER_THREADS)" PEER_PP="$(PEER_PP)" \
	  PEER_TG="$(PEER_TG)" PEER_REPS="$(PEER_REPS)" PEER_OUT="$(PEER_OUT)" MODELS_DIR="$(MODELS_DIR)" \
	  SEPTET="$(SEPTET)" SEPTET_SHARED="$(SHARED)" scripts/benchmark-peer.sh

PPL_CHUNKS ?= 8
benchmark-ppl: build
	PEER_DIR="$(PEER_DIR)" PPL_THREADS="$(PEER_THREADS)" PPL_CHUNKS="$(PPL_CHUNKS)" PPL_REPS="$(PEER_REPS)" \
	  PPL_OUT="$(BENCH_OUT)/ppl" MODELS_DIR="$(MODELS_DIR)" SEPTET="$(SEPTET)" SEPTET_SHARED="$(SHARED)" \
	  scripts/benchmark-ppl.sh

all: build

deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEPTET_WERROR=ON $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-model: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -R 'Model|LlamaContext|HParams|Weights|CliTest'

$(BUILD_ASAN)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSEPTET_WERROR=ON \
	  -DSEPTET_SANITIZE=ON -DSEPTET_BUILD_BENCH=OFF $(CMAKE_FLAGS)

test-sanitize: deps $(BUILD_ASAN)/CMakeCache.txt
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

run: build
	$(SEPTET) generate -m "$(MODEL)" -p "$(PROMPT)" -n 128

.PHONY: proofs
proofs: deps
	$(MAKE) -C proofs

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

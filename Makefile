# Thin wrapper around CMake with the seed's commands.
#   make run         build, then generate text with the default model from ../shared
#   make test        build, then run the whole test suite (ctest)
#   make all         build library, CLI, tests, benchmarks
#   make test-model  model-level checks only (oracle ids, quantized divergence)
#   make test-sanitize  ASan+UBSan build and test run
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

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

# Thin wrapper around CMake so the quickstart is `make run` / `make test`.
BUILD   ?= build
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60
FUZZ_VOCAB_SECONDS ?= 30

.PHONY: all run test deps asan fuzz clean bench gpu-check

all: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

# Install what a fresh Debian/Ubuntu machine lacks (needs root or sudo).
deps:
	@sh scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

run: all
	@./$(BUILD)/ingot run -p "Once upon a time"

test: all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The test suite built with AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan \
	  CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DINGOT_SANITIZE=ON -DINGOT_CUDA=OFF -DCMAKE_C_FLAGS=-O1"

# libFuzzer on the GGUF parser (seeded with small valid files), then on
# vocabularies built from hostile metadata (seeded with two small vocabs
# and model-newline.gguf, an input that once gave a two-line error).
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DINGOT_SANITIZE=ON -DINGOT_FUZZ=ON -DINGOT_CUDA=OFF -DCMAKE_C_FLAGS=-O1 >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_gguf fuzz_vocab
	@rm -rf fuzz/corpus-run fuzz/corpus-vocab && mkdir -p fuzz/corpus-run fuzz/corpus-vocab
	@./build-fuzz/fuzz_gguf -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	  -print_final_stats=1 fuzz/corpus-run fuzz/seeds
	@./build-fuzz/fuzz_vocab -max_total_time=$(FUZZ_VOCAB_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	  -print_final_stats=1 fuzz/corpus-vocab fuzz/seeds-vocab

gpu-check:
	@bash scripts/gpu-check.sh

clean:
	rm -rf build build-asan build-fuzz fuzz/corpus-run fuzz/corpus-vocab

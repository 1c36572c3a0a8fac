# A thin driver over CMake.  The two commands a user needs:
#   make run    install missing packages, build Release, start medmarketd
#   make test   install missing packages, build with sanitizers, run all tests
# Also: make bench, make fuzz (FUZZ_SECONDS in all, or FUZZ_EACH per
# target), make lint, make format, make clean.

BUILD     ?= build
DATA      ?= var
LISTEN    ?= 127.0.0.1:8080
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
FUZZ_EACH ?=

RELEASE := $(BUILD)/release
DEBUG   := $(BUILD)/debug
FUZZDIR := $(BUILD)/fuzz

.PHONY: all deps release debug run test bench fuzz lint format clean

all: release

deps:
	@scripts/install-deps

release: deps
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DMM_TESTS=OFF >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS)

debug: deps
	@cmake -S . -B $(DEBUG) -DCMAKE_BUILD_TYPE=Debug -DMM_SANITIZE=ON >/dev/null
	@cmake --build $(DEBUG) -j $(JOBS)

run: release
	@scripts/run $(RELEASE) $(DATA) $(LISTEN)

test: debug
	@cd $(DEBUG) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: release
	@scripts/install-deps --bench
	@scripts/bench $(RELEASE)

fuzz:
	@scripts/install-deps --fuzz
	@cmake -S . -B $(FUZZDIR) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DMM_FUZZ=ON >/dev/null
	@cmake --build $(FUZZDIR) -j $(JOBS)
	@scripts/fuzz $(FUZZDIR) $(if $(FUZZ_EACH),$(FUZZ_EACH) --each,$(FUZZ_SECONDS))

lint:
	@scripts/install-deps --lint
	@scripts/lint

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)

# Thin wrapper around meson/ninja. See README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
DATA_DIR   ?= ./data
CONFIG     ?=

.PHONY: all deps build run test test-unit test-asan test-slow bench bench-meta clean format

all: build

deps:
	@./deploy/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Start a single node in the foreground on 127.0.0.1:9092 (embedded default
# config unless CONFIG=path), data in ./data. Ctrl-C stops it.
run: build
	./$(BUILD)/supervisor/chronik-server start --data-dir $(DATA_DIR) $(if $(CONFIG),--config $(CONFIG))

# Every test suite, plus the unit suite again under ASan+UBSan; ends with one
# line "N passed, M failed".
test: build
	./tests/run-tests.sh $(BUILD) $(ASAN_BUILD)

test-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

test-slow: build
	./tests/run-tests.sh --slow $(BUILD)

bench: build
	./bench/run.sh $(BUILD)

# Only the metadata (Raft) benchmark: 3-node cluster vs a 3-member etcd.
bench-meta: build
	./bench/meta.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

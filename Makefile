# The two commands of the README:
#   make run   install what is missing, build, run edged with deploy/edged.yaml in the foreground
#   make test  install what is missing, build, run every test through CTest
BUILD ?= build
CONFIG ?= deploy/edged.yaml
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
# The tests that exercise threads: the lifecycle, the worker pool, jobs, shutdown and reload.
TSAN_TESTS ?= ^lifecycle|^server/jobs|shutdown|reload|drain
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 60
FUZZ_TARGETS ?= request config template accept_encoding upstream_response

.PHONY: run test build deps container-smoke bench clean test-asan test-tsan fuzz

run: build
	./$(BUILD)/edged --config $(CONFIG)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh deploy/install-deps.sh

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included);
# any report fails it (tests/sanitized.sh). Part of CI.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Sanitize -DEDGED_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	JOBS=$(JOBS) sh tests/sanitized.sh $(ASAN_BUILD)

# The concurrency tests under ThreadSanitizer.
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Sanitize -DEDGED_SANITIZE=thread
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	JOBS=$(JOBS) sh tests/sanitized.sh $(TSAN_BUILD) -R "$(TSAN_TESTS)"

# Each libFuzzer target for FUZZ_TIME seconds (clang-15, ASan + UBSan); see tests/fuzz/run.sh.
fuzz:
	@sh deploy/install-deps.sh fuzz
	CC=clang-15 CXX=clang++-15 cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Sanitize -DEDGED_FUZZ=ON -DEDGED_BUILD_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_TARGETS)

container-smoke:
	sh tests/container/smoke.sh

bench: build
	sh bench/static_vs_nginx.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)

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
FUZZ_TARGETS ?= request request_reader config template accept_encoding upstream_response
# make test-stress: each test up to STRESS_REPEAT times (the ASan build's STRESS_ASAN_REPEAT), at
# -j STRESS_JOBS, beside a CPU hog pinned to each core (tests/under_load.sh).
STRESS_REPEAT ?= 10
STRESS_ASAN_REPEAT ?= 3
STRESS_JOBS ?= 3

.PHONY: run test build deps container-smoke bench clean test-asan test-tsan fuzz test-stress \
	build-asan

run: build
	./$(BUILD)/edged --config $(CONFIG)

# Each run also leaves BUILD/ctest-junit.xml, from which CI prints what failed (tests/failure_report.py).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --output-junit $(abspath $(BUILD))/ctest-junit.xml

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh deploy/install-deps.sh

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included);
# any report fails it (tests/sanitized.sh). Part of CI.
test-asan: build-asan
	JOBS=$(JOBS) sh tests/sanitized.sh $(ASAN_BUILD) --output-junit $(abspath $(ASAN_BUILD))/ctest-junit.xml

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Sanitize -DEDGED_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The suite on a busy machine: what passes only when the machine is quiet is found here. Each
# test runs until it fails, at most STRESS_REPEAT times, beside CPU hogs; then the ASan build the
# same way. Not part of CI (about five minutes on 2 cores once both builds exist); run it before
# landing a test.
test-stress: build build-asan
	sh tests/under_load.sh sh -c 'cd $(BUILD) && ctest --output-on-failure -j $(STRESS_JOBS) --repeat until-fail:$(STRESS_REPEAT) --output-junit $(abspath $(BUILD))/ctest-junit.xml'
	JOBS=$(STRESS_JOBS) sh tests/under_load.sh sh tests/sanitized.sh $(ASAN_BUILD) --repeat until-fail:$(STRESS_ASAN_REPEAT) --output-junit $(abspath $(ASAN_BUILD))/ctest-junit.xml

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

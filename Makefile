# The two commands of the README:
#   make run   install what is missing, build, run edged with deploy/edged.yaml in the foreground
#   make test  install what is missing, build, run every test through CTest
BUILD ?= build
CONFIG ?= deploy/edged.yaml
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test build deps container-smoke bench clean

run: build
	./$(BUILD)/edged --config $(CONFIG)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh deploy/install-deps.sh

container-smoke:
	sh tests/container/smoke.sh

bench: build
	sh bench/static_vs_nginx.sh

clean:
	rm -rf $(BUILD)

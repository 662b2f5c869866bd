# edged container image: Debian bookworm-slim, non-root, only the runtime shared libraries.
#
#   docker build -t edged:latest .
#   ../shared/tools/oci-image build . edged:latest      (hosts with buildah/podman but no Docker)
#   docker run --rm -p 8080:8080 -p 9901:9901 edged:latest
#
# The image ships deploy/edged.container.yaml as /etc/edged/edged.yaml: the default config with
# the admin listener on 0.0.0.0, so kubelet probes can reach /healthz and /readyz.
# No heredoc RUN: buildah 1.28 (Debian bookworm) does not support it.

FROM debian:bookworm-slim AS build
WORKDIR /src
# The dependency script alone first: this layer stays cached until the script changes, so a source
# edit does not reinstall the toolchain.
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN sh deploy/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
# Only the daemon: tests are built and run by `make test` outside the image. -j2 because one
# Beast/Asio translation unit takes ~0.9 GB and these machines have 2 cores.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DEDGED_BUILD_TESTS=OFF \
 && cmake --build /build --target edged -j2 \
 && strip /build/edged \
 && /build/edged --version

FROM debian:bookworm-slim
# Same script, runtime mode: the shared libraries edged links against and nothing else (no
# compiler, no -dev headers). User and group are numeric and fixed so that Kubernetes
# runAsNonRoot can verify them and files on mounted volumes keep stable owners.
COPY deploy/install-deps.sh /tmp/install-deps.sh
RUN sh /tmp/install-deps.sh runtime \
 && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
 && groupadd --system --gid 10001 edged \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin edged
COPY --from=build /build/edged /usr/local/bin/edged
# Root-owned and read-only to the daemon.
COPY deploy/edged.container.yaml /etc/edged/edged.yaml
# Fail the image build rather than the rollout: every shared library resolves (catches a library
# missing from install-deps.sh's runtime list) and the shipped config validates.
RUN if ldd /usr/local/bin/edged | grep 'not found'; then \
      echo "edged: shared libraries missing from 'install-deps.sh runtime'" >&2; exit 1; \
    fi \
 && /usr/local/bin/edged --check-config /etc/edged/edged.yaml >/dev/null
# Numeric, not "edged": runAsNonRoot cannot check a user name.
USER 10001:10001
EXPOSE 8080 9901
# edged drains on SIGTERM (readiness 503, drain_delay, grace) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/edged"]
CMD ["--config", "/etc/edged/edged.yaml"]

#!/bin/sh
# Installs what edged needs to build and test, from Debian bookworm's archive.
# Used by the Makefile (make run / make test) and by the Dockerfile's build stage.
#   deploy/install-deps.sh          build + test dependencies
#   deploy/install-deps.sh runtime  only the shared libraries the binary links against
#   deploy/install-deps.sh fuzz     build dependencies plus clang and libFuzzer (make fuzz)
set -eu

build_pkgs="g++ make cmake pkg-config curl libboost1.81-dev libboost-url1.81-dev zlib1g-dev libbrotli-dev libhiredis-dev redis-server libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev catch2 prometheus-cpp-dev python3-prometheus-client python3-jsonschema python3-yaml"
runtime_pkgs="libboost-url1.81.0 zlib1g libbrotli1 libhiredis0.14 libspdlog1.10 libfmt9 libyaml-cpp0.7 libprometheus-cpp-core1.0 ca-certificates"

case "${1:-build}" in
  build) pkgs=$build_pkgs ;;
  runtime) pkgs=$runtime_pkgs ;;
  fuzz) pkgs="$build_pkgs clang-15 libfuzzer-15-dev" ;;
  *) echo "usage: $0 [build|runtime|fuzz]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "edged: missing packages:$missing" >&2
  echo "edged: this script installs them on Debian bookworm with apt-get; install the equivalents by hand here." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "edged: missing packages:$missing" >&2
  echo "edged: run as root (or: sudo apt-get install$missing)" >&2
  exit 1
fi
if ! grep -q bookworm /etc/os-release 2>/dev/null; then
  echo "edged: warning: not Debian bookworm; trying apt-get anyway (libboost1.81-dev is bookworm's name)" >&2
fi
echo "edged: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null

#!/usr/bin/env bash
# Installs the Debian packages zen-lead builds and tests with, idempotently:
# only what is missing, with one `apt-get update` first when anything is.
# Go (>= 1.24, for the test control plane) comes with the base image.
#
#   tools/deps.sh          # install what is missing
#   tools/deps.sh --list   # print the package list (docs/build.md)
set -euo pipefail

packages=(
  bazel-bootstrap bazel-platforms bazel-rules-java
  g++ make pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libre2-dev nlohmann-json3-dev libcurl4-openssl-dev
  libyaml-cpp-dev libssl-dev openssl libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy
  clang-14 libclang-rt-14-dev   # webhook/fuzz.sh (libFuzzer, sanitizers)
  curl procps
  gnuplot-nox
  nghttp2-client   # h2load: e2e/bench/webhook.sh's cross-check
)

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${#missing[@]} Debian package(s): ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: installed"
fi

if ! command -v go >/dev/null 2>&1; then
  for g in /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -x $g ]] && { echo "deps: go found at $g but not on PATH; add $(dirname "$g") to PATH" >&2; exit 1; }
  done
  echo "deps: Go >= 1.24 is needed to build the test control plane and is not installed" >&2
  exit 1
fi
goversion=$(go env GOVERSION)
minor=${goversion#go1.}; minor=${minor%%.*}
if ((minor < 24)); then
  echo "deps: $goversion is too old: the test control plane (Kubernetes 1.34) needs Go >= 1.24" >&2
  exit 1
fi

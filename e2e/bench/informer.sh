#!/usr/bin/env bash
# `make bench-informer`: the informer benchmark (//e2e/bench:informer_bench)
# on a local control plane of its own, always torn down afterwards.
#
#   e2e/bench/informer.sh                 # 10,000 pods
#   e2e/bench/informer.sh --pods=2000     # flags go to informer_bench
#
# With KUBECONFIG set and ZEN_LEAD_BENCH_CLUSTER=existing, runs against that
# cluster instead (it must have kwok nodes kwok-node-0..2).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

bazel build -c opt //e2e/bench:informer_bench
bin=$(bazel info -c opt bazel-bin)/e2e/bench/informer_bench

if [[ "${ZEN_LEAD_BENCH_CLUSTER:-}" != existing ]]; then
  dir=$(mktemp -d /tmp/zen-lead-bench-informer.XXXXXX)
  trap 'e2e/cluster/down "$dir"' EXIT
  e2e/cluster/up "$dir"
  # shellcheck disable=SC1091
  source "$dir/env"
fi
"$bin" "$@"

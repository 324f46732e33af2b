#!/usr/bin/env bash
# Failover benchmark: brings up a local control plane, installs the CRD and
# runs //e2e/bench:failover_bench (optimised build) with 1 pool, and with
# 1,000 pools of 3 pods under churn (default Lease timings, then 60 s / 30 s
# Leases), printing p50/p90/p99/max against a plain Service over the same
# pods, start-to-reconciled time, operator RSS and pool Lease upkeep.
# Every run also writes its raw latencies (per failover, and the operator's
# zen_lead_failover_latency_seconds buckets) to OUT/failover-NAMESPACE.dat
# and draws their distribution to OUT/failover-NAMESPACE.png
# (e2e/bench/plot_failover.sh, gnuplot); the paths are printed.
#
#   e2e/bench/failover.sh                  # both sizes (make bench-failover)
#   POOLS=1 e2e/bench/failover.sh          # one size
#   POOLS=1 FAILOVERS=20 e2e/bench/failover.sh   # a short check
#   BENCH_OUT=docs/img e2e/bench/failover.sh     # pictures for the docs
#   OPERATOR_CPU=1 POOLS=1 e2e/bench/failover.sh # operator on a core of its own
#
# Environment: POOLS (1 or 1000; both when unset), FAILOVERS (per run, 200),
# OPERATOR_CPU (a CPU number: the operator runs on that CPU alone, the
# control plane and the benchmark on the others, as on a cluster where the
# operator's node is not the control plane's; unset: all share every CPU),
# BENCH_OUT (data and pictures; default $ZEN_LEAD_BENCH_DIR-out, kept after
# the cluster is torn down), ZEN_LEAD_BENCH_DIR (the cluster,
# /tmp/zen-lead-bench-cluster), BAZEL.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
dir=${ZEN_LEAD_BENCH_DIR:-/tmp/zen-lead-bench-cluster}
bazel=${BAZEL:-bazel}
failovers=${FAILOVERS:-200}
[[ $failovers =~ ^[1-9][0-9]*$ ]] || { echo "failover.sh: FAILOVERS must be a positive number, not '$failovers'" >&2; exit 2; }
# Checked before the build and the runs, not after them.
command -v gnuplot >/dev/null || {
  echo "failover.sh: gnuplot is not installed; it draws the latency pictures (make deps, or apt-get install gnuplot-nox)" >&2
  exit 1
}
out=${BENCH_OUT:-$dir-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "failover.sh: data and pictures go to $out"
pngs=()

"$repo/e2e/cluster/down" "$dir"
trap '"$repo/e2e/cluster/down" "$dir"' EXIT
# Optimised binaries, as a cluster would run them.
$bazel build -c opt //operator:zen-lead-operator //e2e/bench:failover_bench
bin=$($bazel info -c opt bazel-bin 2>/dev/null)
"$repo/e2e/cluster/up" "$dir"
# shellcheck disable=SC1091
source "$dir/env"
operator_bin="$bin/operator/zen-lead-operator"
pin=()
if [[ -n ${OPERATOR_CPU:-} ]]; then
  cpus=$(nproc --all) # the machine's, not this shell's affinity
  [[ $OPERATOR_CPU =~ ^[0-9]+$ ]] && ((OPERATOR_CPU < cpus && cpus > 1)) || {
    echo "failover.sh: OPERATOR_CPU must be one of 0..$((cpus - 1)) on a machine with 2 or more CPUs" >&2
    exit 2
  }
  others=$(seq 0 $((cpus - 1)) | grep -vx "$OPERATOR_CPU" | paste -sd, -)
  while read -r pid _; do taskset -a -p -c "$others" "$pid" >/dev/null; done <"$dir/pids"
  # The benchmark forks the operator and execs this; the PID stays the
  # operator's (its RSS is read from /proc/PID).
  operator_bin="$dir/zen-lead-operator-pinned"
  printf '#!/bin/sh\nexec taskset -c %s %q "$@"\n' "$OPERATOR_CPU" "$bin/operator/zen-lead-operator" >"$operator_bin"
  chmod +x "$operator_bin"
  pin=(taskset -c "$others")
  echo "failover.sh: the operator runs on CPU $OPERATOR_CPU alone; the control plane and the benchmark on CPU $others"
fi
kubectl apply -f config/crd/bases/ >/dev/null
kubectl wait --for=condition=Established crd/leaderpolicies.coordination.kube-zen.io --timeout=30s >/dev/null

run() {  # POOLS FAILOVERS CHURN_QPS NAMESPACE [extra flags]
  echo
  echo "=== $1 pool(s) x 3 pods, $2 failovers, churn $3 patches/s ${*:5} ($(date -u +%FT%TZ))"
  local data="$out/failover-$4.dat"
  "${pin[@]}" "$bin/e2e/bench/failover_bench" --operator_bin="$operator_bin" \
    --pools="$1" --failovers="$2" --churn_qps="$3" --ns="$4" "${@:5}" \
    --samples_out="$data" \
    --metrics_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  # The next run starts on a quiet control plane.
  kubectl delete namespace "$4" --ignore-not-found --wait=true --timeout=600s >/dev/null
  echo "data: $data"
  local png
  png=$("$repo/e2e/bench/plot_failover.sh" "$data" "$out/failover-$4.png")
  echo "picture: $png"
  pngs+=("$png")
}
if [[ -z ${POOLS:-} || ${POOLS} == 1 ]]; then run 1 "$failovers" 0 bench-1; fi
if [[ -z ${POOLS:-} || ${POOLS} == 1000 ]]; then
  run 1000 "$failovers" 20 bench-1000              # the default Lease timings
  run 1000 "$failovers" 20 bench-1000-long --lease_duration_seconds=60 \
    --renew_deadline_seconds=30                    # renewals every 30 s
fi
echo
echo "pictures (${#pngs[@]}):"
((${#pngs[@]} == 0)) || printf '  %s\n' "${pngs[@]}"

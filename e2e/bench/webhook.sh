#!/usr/bin/env bash
# Admission webhook benchmark (issue 12): brings up a local control plane,
# fills a namespace with pools (200 x 5 pods) and a Deployment of no pool,
# starts the zen-lead process (optimised build) serving its webhook in URL
# mode on 127.0.0.1, as `make run` does, with its configuration limited to
# the bench namespace, and runs //e2e/bench:webhook_bench, which prints
#   - direct: Pod reviews of an out-of-pool pod at 1,000 and 5,000/s and
#     LeaderPolicy reviews at 200/s, open loop over kept-alive TLS:
#     p50/p90/p99/p99.9/max, errors, achieved rate, the process's CPU;
#   - through the API server: pod-create latency with and without the
#     webhook registered, alternating in the same run, and the difference.
# Then, as a cross-check of the load generator, h2load (Debian's
# nghttp2-client) sends the same Pod review at the same rates. Its --rps
# times each request from its actual send, so when the server falls behind
# it reports the time of one request, not the wait of those queued behind
# it, and it sends one request on every connection at the same moment
# (bursts, not an even rate); the bench's own generator does neither
# (e2e/bench/webhook_load.h, docs/webhook.md). Data, the review sent, the
# process's log and the pictures (e2e/bench/plot_webhook.sh) go to
# BENCH_OUT; their paths are printed.
#
#   e2e/bench/webhook.sh                       # make bench-webhook
#   DURATION=3s CREATES=50 e2e/bench/webhook.sh    # a short check
#   BENCH_OUT=docs/img e2e/bench/webhook.sh    # pictures for the docs
#
# Environment: RATES (Pod review rates, "1000,5000"), POLICY_RATE (200),
# DURATION (of each direct run, 10s), CONNECTIONS (16), CREATES (pod creates
# per namespace through the API server, 1000), CREATE_RATE (creates per
# second, both namespaces together, 50; 0: back to back), POOLS (200), PODS_PER_POOL (5),
# BENCH_OUT (default $ZEN_LEAD_BENCH_DIR-out, kept after the cluster is torn
# down), ZEN_LEAD_BENCH_DIR (the cluster, /tmp/zen-lead-webhook-bench-cluster),
# ISOLATED (1: the direct runs again at the first rate with the zen-lead
# process and the generator on a CPU of their own; 0: not), BAZEL.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
dir=${ZEN_LEAD_BENCH_DIR:-/tmp/zen-lead-webhook-bench-cluster}
bazel=${BAZEL:-bazel}
rates=${RATES:-1000,5000}
policy_rate=${POLICY_RATE:-200}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
creates=${CREATES:-1000}
create_rate=${CREATE_RATE:-50}
[[ $rates =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "webhook.sh: RATES must be numbers separated by commas, not '$rates'" >&2; exit 2; }
[[ $duration =~ ^[0-9]+s$ ]] || { echo "webhook.sh: DURATION must be whole seconds like 10s, not '$duration'" >&2; exit 2; }
# Checked before the build and the runs, not after them.
for tool in gnuplot h2load curl; do
  command -v $tool >/dev/null || {
    echo "webhook.sh: $tool is not installed (make deps installs gnuplot-nox, nghttp2-client and curl)" >&2
    exit 1
  }
done
out=${BENCH_OUT:-$dir-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "webhook.sh: data and pictures go to $out"
rm -f "$out"/webhook-*.dat "$out"/webhook-h2load-*.log

operator_pid=""
saved=""
# Puts back the CPUs of the processes the isolated runs moved.
restore_cpus() {
  [[ -n $saved && -f $saved ]] || return 0
  while read -r pid list; do taskset -a -p -c "$list" "$pid" >/dev/null 2>&1 || true; done <"$saved"
  rm -f "$saved"
  saved=""
}
stop() {
  restore_cpus
  if [[ -n $operator_pid ]]; then
    kill "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
    operator_pid=""
  fi
  "$repo/e2e/cluster/down" "$dir"
}
"$repo/e2e/cluster/down" "$dir"
trap stop EXIT
# Optimised binaries, as a cluster would run them.
$bazel build -c opt //operator:zen-lead-operator //e2e/bench:webhook_bench
bin=$($bazel info -c opt bazel-bin 2>/dev/null)
"$repo/e2e/cluster/up" "$dir"
# shellcheck disable=SC1091
source "$dir/env"
echo "webhook.sh: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ns=bench
plain=bench-plain
system=zen-lead-system
label=zen-lead-bench/webhook=on
kubectl apply -f config/crd/bases/ >/dev/null
kubectl wait --for=condition=Established crd/leaderpolicies.coordination.kube-zen.io --timeout=30s >/dev/null
kubectl create namespace "$system" >/dev/null
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" "$label" >/dev/null
kubectl create namespace "$plain" >/dev/null
for n in "$ns" "$plain"; do
  until kubectl -n "$n" get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done
done

bench=("$bin/e2e/bench/webhook_bench" --ns="$ns" --plain_ns="$plain")
"${bench[@]}" --mode=setup --pools="${POOLS:-200}" --pods_per_pool="${PODS_PER_POOL:-5}"

port=$(free_port)
metrics=$(free_port)
"$bin/operator/zen-lead-operator" --leader-elect=false --leader-election-namespace="$system" \
  --metrics-bind-address="127.0.0.1:$metrics" --health-probe-bind-address=127.0.0.1:0 --grpc-bind-address=0 \
  --webhook-bind-address="127.0.0.1:$port" --webhook-url="https://127.0.0.1:$port" \
  --webhook-owner=customresourcedefinition/leaderpolicies.coordination.kube-zen.io \
  --webhook-namespace-labels="$label" >"$out/webhook-operator.log" 2>&1 &
operator_pid=$!
echo "webhook.sh: zen-lead process $operator_pid serving the webhook on 127.0.0.1:$port (log: $out/webhook-operator.log)"
for _ in $(seq 1 300); do
  kubectl get validatingwebhookconfiguration zen-lead-webhook >/dev/null 2>&1 &&
    kubectl -n "$system" get secret zen-lead-webhook-tls >/dev/null 2>&1 && break
  kill -0 "$operator_pid" 2>/dev/null || { tail -n 20 "$out/webhook-operator.log" >&2; exit 1; }
  sleep 0.2
done
kubectl -n "$system" get secret zen-lead-webhook-tls -o jsonpath='{.data.ca\.crt}' | base64 -d >"$out/webhook-ca.crt"
# Serving (after the caches synced) with the certificate the CA issued.
for _ in $(seq 1 300); do
  curl -s -o /dev/null --cacert "$out/webhook-ca.crt" "https://127.0.0.1:$port/" && break
  sleep 0.2
done

"${bench[@]}" --mode=measure --webhook_port="$port" --ca_file="$out/webhook-ca.crt" \
  --server_pid="$operator_pid" --metrics_port="$metrics" --rates="$rates" \
  --policy_rate="$policy_rate" --duration="$duration" --connections="$connections" \
  --creates="$creates" --create_rate="$create_rate" --out_dir="$out" | tee "$out/webhook-bench.txt"

# The same review through h2load, one thread, 100 requests/s on each
# connection: the server closes a connection after 1,000 requests
# (max_requests_per_connection) and h2load counts what it still had to send
# on it as errors instead of reconnecting, so each connection stays under
# that. Its per-request log gives the percentiles.
seconds=${duration%s}
echo
for rate in ${rates//,/ }; do
  conns=$(((rate + 99) / 100))
  echo "=== h2load cross-check: the Pod review at $rate/s for ${seconds}s, $conns connections x 100/s, h2load --rps (times from its actual send) ($(date -u +%FT%TZ))"
  log="$out/webhook-h2load-$rate.log"
  rm -f "$log"
  h2load --h1 -c "$conns" -t 1 --rps 100 -n $((conns * 100 * seconds)) \
    -d "$out/webhook-review-pods.json" -H 'content-type: application/json' \
    --log-file="$log" "https://127.0.0.1:$port/validate/pods" | grep -E '^(finished|requests|status codes|time for request)' || true
  # columns: start (us since epoch), HTTP status (-1: failed), latency (us)
  errors=$(awk '$2 != 200' "$log" | wc -l)
  awk '$2 == 200 { print $3 / 1000 }' "$log" | sort -g | awk -v errors="$errors" '{ v[NR] = $1 } END {
      if (NR == 0) { printf "h2load: no answered requests, %d errors\n", errors; exit }
      printf "h2load latency: n=%d p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms, errors %d\n", NR,
        v[int(0.5 * (NR - 1) + 0.5) + 1], v[int(0.9 * (NR - 1) + 0.5) + 1], v[int(0.99 * (NR - 1) + 0.5) + 1], v[NR], errors }' |
    tee -a "$out/webhook-bench.txt"
done

# The same direct runs with the CPUs split: on a 2-CPU machine the control
# plane shares the webhook's CPUs, and its work (the API server and etcd
# taking the process's 40 Lease renewals a second for the 200 pools) comes
# in bursts that the webhook's tail follows. Here every other process runs
# on the other CPUs and the zen-lead process and the load generator on the
# last one, as a webhook pod runs apart from the control plane in a real
# cluster. One CPU cannot take 5,000/s and the generator, so only the first
# rate runs. Each process's CPUs are put back afterwards.
cpus=$(nproc --all)
if ((cpus >= 2)) && [[ ${ISOLATED:-1} == 1 ]]; then
  last=$((cpus - 1))
  others=0-$((last - 1))
  saved="$out/webhook-affinity.txt"
  : >"$saved"
  for pid in $(ps -e -o pid=); do
    [[ $pid == "$operator_pid" || $pid == $$ ]] && continue
    list=$(taskset -p -c "$pid" 2>/dev/null | sed -n 's/.*: //p') || continue
    [[ -n $list ]] && taskset -a -p -c "$others" "$pid" >/dev/null 2>&1 && echo "$pid $list" >>"$saved"
  done
  taskset -a -p -c "$last" "$operator_pid" >/dev/null
  taskset -p -c "$last" $$ >/dev/null
  mkdir -p "$out/isolated"
  rm -f "$out"/isolated/webhook-*.dat
  echo
  echo "webhook.sh: CPUs isolated: the zen-lead process and the load generator on CPU $last, everything else on CPUs $others"
  taskset -c "$last" "${bench[@]}" --mode=measure --webhook_port="$port" --ca_file="$out/webhook-ca.crt" \
    --server_pid="$operator_pid" --metrics_port="$metrics" --rates="${rates%%,*}" \
    --policy_rate="$policy_rate" --duration="$duration" --connections="$connections" \
    --creates=0 --layout=isolated --out_dir="$out/isolated" | tee -a "$out/webhook-bench.txt"
  restore_cpus
  taskset -p -c "0-$last" $$ >/dev/null
  taskset -a -p -c "0-$last" "$operator_pid" >/dev/null
fi

pngs=()
direct=()
for rate in ${rates//,/ }; do direct+=("$out/webhook-pods-$rate.dat"); done
direct+=("$out/webhook-leaderpolicies-$policy_rate.dat")
pngs+=("$("$repo/e2e/bench/plot_webhook.sh" direct "$out/webhook-direct.png" "${direct[@]}")")
if [[ -d $out/isolated ]] && ls "$out"/isolated/webhook-*.dat >/dev/null 2>&1; then
  pngs+=("$("$repo/e2e/bench/plot_webhook.sh" direct "$out/webhook-direct-isolated.png" \
    "$out/isolated/webhook-pods-${rates%%,*}.dat" "$out/isolated/webhook-leaderpolicies-$policy_rate.dat")")
fi
pngs+=("$("$repo/e2e/bench/plot_webhook.sh" apiserver "$out/webhook-apiserver.png" "$out/webhook-apiserver.dat")")
echo
echo "webhook.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
echo "printed figures: $out/webhook-bench.txt"
echo "pictures (${#pngs[@]}):"
printf '  %s\n' "${pngs[@]}"

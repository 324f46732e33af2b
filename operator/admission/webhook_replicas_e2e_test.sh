#!/usr/bin/env bash
# Two zen-lead replicas (leader election on) started at the same moment
# against an empty namespace: they make one CA and one serving certificate
# between them (the Secret's create picks one writer, the other takes what
# it wrote), and both serve that certificate, the standby too. The elected
# one writes the webhook configuration, whose caBundle is that CA. Repeated
# a few times, since a race shows only when both start together.
#
# Needs KUBECONFIG (an admin of a local control plane, e2e/cluster/up) and
# ZEN_LEAD_CLUSTER_BIN (tools/test.sh passes both).
set -uo pipefail

: "${KUBECONFIG:?KUBECONFIG must point at a local control plane (e2e/cluster/up)}"
: "${ZEN_LEAD_CLUSTER_BIN:?ZEN_LEAD_CLUSTER_BIN must name the cluster binaries}"
export KUBECONFIG
k() { "$ZEN_LEAD_CLUSTER_BIN/kubectl" "$@"; }
operator_bin=$PWD/operator/zen-lead-operator
tmp=${TEST_TMPDIR:-$(mktemp -d)}
rounds=${REPLICA_ROUNDS:-3}
pids=()
cleanup_round() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  pids=()
  [[ -n ${config:-} ]] && k delete validatingwebhookconfiguration "$config" --ignore-not-found >/dev/null 2>&1
  [[ -n ${owner:-} ]] && k delete clusterrole "$owner" --ignore-not-found >/dev/null 2>&1
  [[ -n ${ns:-} ]] && k delete namespace "$ns" "$ns-app" --wait=false --ignore-not-found >/dev/null 2>&1
}
trap cleanup_round EXIT
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/replica-*.log; do
    [[ -f $f ]] && { echo "---- $f (last lines) ----"; grep -v '"level":"debug"' "$f" | tail -n 8; }
  done
  exit 1
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The SHA-256 of the certificate a server on 127.0.0.1:$1 presents.
served() {
  openssl s_client -connect "127.0.0.1:$1" -servername 127.0.0.1 </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
# Each certificate of the Secret's key $1, one fingerprint per line.
stored() {
  k -n "$ns" get secret zen-lead-webhook-tls -o "jsonpath={.data.$1}" | base64 -d >"$tmp/pem"
  awk -v dir="$tmp" '/BEGIN/{n++} {print > (dir "/cert" n)}' "$tmp/pem"
  for f in "$tmp"/cert[0-9]*; do openssl x509 -noout -fingerprint -sha256 -in "$f"; rm -f "$f"; done
}

for round in $(seq 1 "$rounds"); do
  id=$$-$RANDOM
  ns=zl-replicas-$id
  owner=zen-lead-webhook-owner-$id
  config=zen-lead-webhook-$id
  k create namespace "$ns" >/dev/null || fail "cannot create $ns"
  k create namespace "$ns-app" >/dev/null || fail "cannot create $ns-app"
  k create clusterrole "$owner" --verb=get --resource=configmaps >/dev/null || fail "cannot create the owner"
  ports=("$(free_port)" "$(free_port)")
  for r in 0 1; do
    "$operator_bin" --leader-elect --leader-election-namespace="$ns" --namespace="$ns-app" \
      --identity="replica-$r" --leader-election-lease-duration=4s --renew-deadline=3s --retry-period=1s \
      --metrics-bind-address=0 --health-probe-bind-address=0 --grpc-bind-address=0 \
      --webhook-bind-address="127.0.0.1:${ports[$r]}" --webhook-url="https://127.0.0.1:${ports[$r]}" \
      --webhook-owner="clusterrole/$owner" --webhook-configuration-name="$config" \
      --webhook-namespace-labels="kubernetes.io/metadata.name=$ns-app" \
      >"$tmp/replica-$r.log" 2>&1 &
    pids+=($!)
  done
  # Both serve (the standby too).
  for r in 0 1; do
    for _ in $(seq 1 150); do [[ -n $(served "${ports[$r]}") ]] && break; sleep 0.2; done
    [[ -n $(served "${ports[$r]}") ]] || fail "round $round: replica $r does not serve within 30 s"
  done
  cas=$(stored 'ca\.crt' | wc -l)
  ((cas == 1)) || fail "round $round: the Secret holds $cas CAs"
  leaf=$(stored 'tls\.crt')
  for r in 0 1; do
    [[ $(served "${ports[$r]}") == "$leaf" ]] || fail "round $round: replica $r serves another certificate than the Secret's"
  done
  creates=$(cat "$tmp"/replica-*.log | grep -c '"step":"create"')
  ((creates == 1)) || fail "round $round: $creates replicas wrote a create"
  for _ in $(seq 1 100); do k get validatingwebhookconfiguration "$config" >/dev/null 2>&1 && break; sleep 0.2; done
  bundle=$(k get validatingwebhookconfiguration "$config" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
  [[ -n $bundle && $bundle == "$(k -n "$ns" get secret zen-lead-webhook-tls -o 'jsonpath={.data.ca\.crt}')" ]] ||
    fail "round $round: the configuration's caBundle is not the Secret's CA"
  echo "round $round: one CA, one serving certificate served by both replicas, one create written"
  cleanup_round
done
echo "PASS"

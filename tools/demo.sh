#!/usr/bin/env bash
# `make demo`: zen-lead's main job on a local default.
#
# Brings up the local control plane (e2e/cluster/up), builds and starts the
# operator with its admission webhook (URL mode on 127.0.0.1), shows the
# webhook refusing a LeaderPolicy whose name a foreign Lease holds, applies
# config/samples/ (LeaderPolicy "web" and a 3-replica
# Deployment labelled zen-lead/pool=web), shows the pool and its leader,
# deletes the leader pod and prints the failover with its measured latency,
# then makes the next leader NotReady (as a kubelet would) and does it again.
# Everything is cleaned up at the end, also on failure or Ctrl-C.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
dir=${ZEN_LEAD_DEMO_DIR:-$repo/.cluster-demo}
bazel=${BAZEL:-bazel}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
operator_pid=""
cleanup() {
  [[ -n $operator_pid ]] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null
  "$repo/e2e/cluster/down" "$dir"
}
"$repo/e2e/cluster/down" "$dir"
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building zen-lead"
$bazel build //operator:zen-lead-operator //e2e/demo:failover_watch 2>&1 | tail -n 1
bin=$($bazel info bazel-bin 2>/dev/null)

say "starting a local Kubernetes control plane"
"$repo/e2e/cluster/up" "$dir"
# shellcheck disable=SC1091
source "$dir/env"

say "installing the LeaderPolicy CRD and starting the operator"
kubectl apply -f config/crd/bases/ >/dev/null
kubectl wait --for=condition=Established crd/leaderpolicies.coordination.kube-zen.io --timeout=30s >/dev/null
kubectl create namespace zen-lead-system >/dev/null
webhook_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/operator/zen-lead-operator" --leader-elect=false \
  --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
  --grpc-bind-address=0 \
  --webhook-bind-address="127.0.0.1:$webhook_port" --webhook-url="https://127.0.0.1:$webhook_port" \
  --webhook-owner=customresourcedefinition/leaderpolicies.coordination.kube-zen.io \
  >"$dir/logs/zen-lead-operator.log" 2>&1 &
operator_pid=$!
echo "operator pid $operator_pid, logs in $dir/logs/zen-lead-operator.log"

say "the admission webhook refuses a LeaderPolicy whose pool name a foreign Lease holds"
kubectl create -f - >/dev/null <<'EOF'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: db}
spec: {holderIdentity: another-tool}
EOF
denied=""
for _ in $(seq 1 100); do
  if out=$(printf 'apiVersion: coordination.kube-zen.io/v1alpha1\nkind: LeaderPolicy\nmetadata: {name: db}\nspec: {}\n' | kubectl apply -f - 2>&1); then
    echo "unexpected: LeaderPolicy db was admitted"
    exit 1
  fi
  [[ $out == *"denied the request"* ]] && { denied=$out; break; }
  sleep 0.2 # not registered or not serving yet
done
[[ -n $denied ]] || { echo "the webhook did not answer: $out"; exit 1; }
echo "$denied"

say "applying config/samples: LeaderPolicy web, then Deployment web (3 replicas, label zen-lead/pool: web)"
kubectl apply -f config/samples/leaderpolicy.yaml
kubectl apply -f config/samples/deployment.yaml
kubectl rollout status deployment/web --timeout=60s

leader() {
  kubectl get endpointslice web-leader -o jsonpath='{.endpoints[0].targetRef.name}' 2>/dev/null
}
for _ in $(seq 1 150); do [[ -n $(leader) ]] && break; sleep 0.2; done
[[ -n $(leader) ]] || { echo "no leader after 30 s; operator log:"; tail -20 "$dir/logs/zen-lead-operator.log"; exit 1; }

say "the pool: kubectl get leaderpolicies"
# Stable, and the candidate count settled (a change of the count alone is
# written after a 2 s debounce).
for _ in $(seq 1 50); do
  [[ $(kubectl get lp web -o jsonpath='{.status.phase}/{.status.candidates}') == Stable/3 ]] && break
  sleep 0.2
done
kubectl get leaderpolicies
say "the candidates"
kubectl get pods -l app=web -o wide
say "the leader Service routes to one pod only"
kubectl get service web-leader
kubectl get endpointslice web-leader \
  -o custom-columns='SLICE:.metadata.name,LEADER:.endpoints[0].targetRef.name,IP:.endpoints[*].addresses[0],READY:.endpoints[0].conditions.ready'

say "failover 1: the leader pod is deleted"
"$bin/e2e/demo/failover_watch" --namespace=default --service=web --action=delete

say "failover 2: the new leader stops being Ready"
"$bin/e2e/demo/failover_watch" --namespace=default --service=web --action=notready

say "after the failovers"
sleep 0.5
kubectl get leaderpolicies
kubectl get lease web -o custom-columns='LEASE:.metadata.name,HOLDER:.spec.holderIdentity,FENCING-TOKEN(leaseTransitions):.spec.leaseTransitions'
echo
echo "Events zen-lead recorded:"
kubectl get events.events.k8s.io --sort-by=.metadata.creationTimestamp \
  -o custom-columns='TYPE:.type,REASON:.reason,OBJECT:.regarding.name,NOTE:.note' |
  awk 'NR==1 || $2 ~ /^(LeaderElected|LeaderChanged|NoReadyCandidates|PolicyNotFound|PortResolutionFailed)$/' 
say "done: cleaning up"

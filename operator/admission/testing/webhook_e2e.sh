# Shared by the webhook's e2e tests (sourced): a zen-lead process serving its
# webhook in URL mode on 127.0.0.1 against the local control plane, in
# namespaces and with an owner of the test's own, so that its cluster-wide
# ValidatingWebhookConfiguration only sees the test's namespace.
#
#   source "$PWD/operator/admission/testing/webhook_e2e.sh"
#   webhook_setup                        # ns, app, owner, config; created
#   start_zen_lead "$(free_port)" "$tmp/operator.log" --leader-elect=false
#   policy web | k apply -f -            # a LeaderPolicy in $app
#   stop_zen_lead                        # the webhook is down
#   webhook_cleanup                      # also on exit
#
# Needs KUBECONFIG (an admin of a local control plane, e2e/cluster/up) and
# ZEN_LEAD_CLUSTER_BIN (tools/test.sh passes both).

: "${KUBECONFIG:?KUBECONFIG must point at a local control plane (e2e/cluster/up)}"
: "${ZEN_LEAD_CLUSTER_BIN:?ZEN_LEAD_CLUSTER_BIN must name the cluster binaries}"
export KUBECONFIG
k() { "$ZEN_LEAD_CLUSTER_BIN/kubectl" "$@"; }
operator_bin=$PWD/operator/zen-lead-operator
crd=$PWD/config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml
tmp=${TEST_TMPDIR:-$(mktemp -d)}
pids=()

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Prints the end of every zen-lead log of the test, then fails it.
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.log; do
    [[ -f $f ]] && { echo "---- $f (last lines) ----"; grep -v '"level":"debug"' "$f" | tail -n 15; }
  done
  exit 1
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local seconds=$1
  shift
  for _ in $(seq 1 $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

# Names of this round, made unique, and created: $ns (zen-lead's own: the
# Secret), $app (the one namespace the webhooks see), the owner ClusterRole
# $owner and the configuration's name $config.
webhook_setup() {
  local id=$$-$RANDOM
  ns=zl-webhook-$id
  app=$ns-app
  owner=zen-lead-webhook-owner-$id
  config=zen-lead-webhook-$id
  k create namespace "$ns" >/dev/null || fail "cannot create $ns"
  k create namespace "$app" >/dev/null || fail "cannot create $app"
  k create clusterrole "$owner" --verb=get --resource=configmaps >/dev/null || fail "cannot create the owner"
}

# Starts zen-lead serving its webhook on 127.0.0.1:$1, logging to $2, with
# the flags after them added; its PID joins $pids.
start_zen_lead() {
  local port=$1 log=$2
  shift 2
  "$operator_bin" --leader-election-namespace="$ns" --namespace="$app" \
    --metrics-bind-address=0 --health-probe-bind-address=0 --grpc-bind-address=0 \
    --webhook-bind-address="127.0.0.1:$port" --webhook-url="https://127.0.0.1:$port" \
    --webhook-owner="clusterrole/$owner" --webhook-configuration-name="$config" \
    --webhook-namespace-labels="kubernetes.io/metadata.name=$app" "$@" >>"$log" 2>&1 &
  pids+=($!)
}

# Stops every zen-lead started (SIGTERM, then waits for each).
stop_zen_lead() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  pids=()
}

# Stops zen-lead, then deletes what webhook_setup made.
webhook_cleanup() {
  stop_zen_lead
  [[ -n ${config:-} ]] && k delete validatingwebhookconfiguration "$config" --ignore-not-found >/dev/null 2>&1
  [[ -n ${owner:-} ]] && k delete clusterrole "$owner" --ignore-not-found >/dev/null 2>&1
  [[ -n ${ns:-} ]] && k delete namespace "$ns" "$app" --wait=false --ignore-not-found >/dev/null 2>&1
}
trap webhook_cleanup EXIT

# A LeaderPolicy named $1 in $app; $2 its spec (default {}).
policy() {
  printf 'apiVersion: coordination.kube-zen.io/v1alpha1\nkind: LeaderPolicy\nmetadata: {name: %s, namespace: %s}\nspec: %s\n' "$1" "$app" "${2:-{\}}"
}

#!/usr/bin/env bash
# Runs the operator with a token of its own ServiceAccount, bound to the
# roles in config/rbac (renamed into a namespace of this test), and drives a
# pool through what the operator does: elect its replica (operator Lease),
# create the leader Service, EndpointSlice and pool Lease, write status and
# Events, fail over, clean up an opted-out Service, release the Lease on
# SIGTERM. Fails if the API server refused any of its calls (a 403 in the
# operator's request metrics or "forbidden" in its log), so a call added to
# the code without its grant in config/rbac is caught here. Prints the calls
# the operator made, per verb and resource, next to what the role grants.
# Then webhook/certs/rbac_probe makes every call of the webhook's
# certificates under the same token: the Role for Secrets must grant
# exactly the verbs it calls. webhook/configuration/rbac_probe does the same
# for the ValidatingWebhookConfiguration and its owner, this ClusterRole.
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
ns=rbac-$$-$RANDOM   # the operator's namespace: ServiceAccount, Role, Lease
app=$ns-app          # the pool's namespace
role=zen-lead-manager-$ns
webhook_config=zen-lead-webhook-$ns
operator_pid=""

fail() {
  echo "FAIL: $*"
  if [[ -f $tmp/operator.log ]]; then
    echo "---- refused calls in the operator log (first 5) ----"
    grep -i -m5 forbidden "$tmp/operator.log"
    echo "---- last lines of the operator log ----"
    tail -n 10 "$tmp/operator.log"
  fi
  exit 1
}

# wait_until SECONDS WHAT CMD...: poll CMD every 200 ms until it succeeds.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "no $what after ${limit}s"
    sleep 0.2
  done
}

cleanup() {
  [[ -n $operator_pid ]] && kill -9 "$operator_pid" 2>/dev/null
  k delete namespace "$ns" "$app" --wait=false >/dev/null 2>&1
  k delete validatingwebhookconfiguration "$webhook_config" --ignore-not-found >/dev/null 2>&1
  k delete clusterrolebinding "$role" --ignore-not-found >/dev/null 2>&1
  k delete clusterrole "$role" --ignore-not-found >/dev/null 2>&1
}
trap cleanup EXIT

k create namespace "$ns" >/dev/null || fail "cannot create namespace $ns"
k create namespace "$app" >/dev/null || fail "cannot create namespace $app"
# config/rbac as shipped, with its namespace and cluster-wide names made this
# test's own.
# (Copied out of the runfiles: kustomize does not read a symlinked
# kustomization.)
cp -rL config/rbac "$tmp/rbac-src" || fail "cannot copy config/rbac"
k kustomize "$tmp/rbac-src" >"$tmp/rbac.yaml" || fail "kubectl kustomize config/rbac"
# (The configuration's name only where it is a whole list item: the
# resourceNames line, not zen-lead-webhook-tls.)
sed -e "s/\bzen-lead-system\b/$ns/g" -e "s/\bzen-lead-manager\b/$role/g" \
  -e "s/^\( *- \)zen-lead-webhook$/\1$webhook_config/" \
  "$tmp/rbac.yaml" | k apply -f - >/dev/null || fail "cannot apply config/rbac"
k apply -f config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml >/dev/null ||
  fail "cannot apply the CRD"
k wait --for=condition=Established crd/leaderpolicies.coordination.kube-zen.io \
  --timeout=30s >/dev/null || fail "the CRD is not established"
wait_until 30 "default ServiceAccount in $app" k get serviceaccount default -n "$app"

# A kubeconfig with nothing but the ServiceAccount's token.
token=$(k create token zen-lead -n "$ns" --duration=1h) || fail "no token for zen-lead"
server=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
ca_data=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [[ -z $ca_data ]]; then
  ca_data=$(base64 -w0 <"$ca") || fail "cannot read the cluster CA $ca"
fi
cat >"$tmp/sa.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "$server", certificate-authority-data: "$ca_data"}
users:
- name: zen-lead
  user: {token: "$token"}
contexts:
- name: c
  context: {cluster: c, user: zen-lead}
current-context: c
KUBECONFIG
whoami=$(k --kubeconfig="$tmp/sa.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}')
[[ $whoami == "system:serviceaccount:$ns:zen-lead" ]] ||
  fail "the token authenticates as \"$whoami\", not the operator's ServiceAccount"

# --namespace: pools of other tests (or of namespaces being deleted, where
# the API server refuses writes with a 403 too) are not this test's.
KUBECONFIG=$tmp/sa.kubeconfig "$operator_bin" --leader-elect --namespace="$app" \
  --leader-election-namespace="$ns" --identity=rbac-e2e \
  --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
  --grpc-bind-address=0 >"$tmp/operator.log" 2>&1 &
operator_pid=$!
metrics_port() {
  python3 - "$tmp/operator.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("msg") == "serving" and entry.get("server") == "metrics":
        print(entry["port"])
        sys.exit(0)
sys.exit(1)
PY
}
wait_until 60 "metrics server" metrics_port
port=$(metrics_port)
elected() { curl -sf "http://127.0.0.1:$port/metrics" | grep -q '^zen_lead_operator_is_leader 1'; }
wait_until 60 "elected operator (the operator Lease)" elected

k apply -n "$app" -f - >/dev/null <<'YAML' || fail "cannot create the pool"
apiVersion: coordination.kube-zen.io/v1alpha1
kind: LeaderPolicy
metadata: {name: web}
spec: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, zen-lead/pool: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: api
  annotations: {zen-lead.io/enabled: "true"}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
YAML

leader() {
  k get endpointslice "$1" -n "$app" -o jsonpath='{.endpoints[0].targetRef.name}' 2>/dev/null
}
has_leader() { [[ -n $(leader "$1") ]]; }
wait_until 60 "leader in EndpointSlice web-leader" has_leader web-leader
wait_until 30 "leader in EndpointSlice api-leader" has_leader api-leader
wait_until 30 "leader Service web-leader" k get service web-leader -n "$app"
wait_until 30 "pool Lease web" k get lease web -n "$app"
phase() { [[ -n $(k get leaderpolicy web -n "$app" -o jsonpath='{.status.phase}') ]]; }
wait_until 30 "LeaderPolicy status" phase
event() {
  k get events.events.k8s.io -n "$app" -o jsonpath='{.items[*].reason}' | grep -q LeaderElected
}
wait_until 30 "LeaderElected Event" event

# Failover: the leader pod goes away.
old=$(leader web-leader)
k delete pod "$old" -n "$app" --wait=false >/dev/null || fail "cannot delete $old"
moved() { local now; now=$(leader web-leader); [[ -n $now && $now != "$old" ]]; }
wait_until 60 "failover away from $old" moved

# Opt-out: the Service's leader Service and slice are deleted.
k annotate service api -n "$app" zen-lead.io/enabled- >/dev/null || fail "cannot opt out"
gone() { ! k get service api-leader -n "$app" >/dev/null 2>&1; }
wait_until 30 "deletion of Service api-leader" gone

curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt" || fail "cannot read /metrics"
kill -TERM "$operator_pid"
wait "$operator_pid"
rc=$?
operator_pid=""

echo "calls the operator made (zen_lead_api_requests_total, verb/resource/code):"
grep '^zen_lead_api_requests_total{' "$tmp/metrics.txt" | sed 's/^zen_lead_api_requests_total//' | sort
echo "what config/rbac grants (ClusterRole, then the Role in the operator's namespace):"
rules='{{range .rules}}  {{.resources}} {{.verbs}}{{"\n"}}{{end}}'
k get clusterrole "$role" -o go-template="$rules"
k get role zen-lead-leader-election -n "$ns" -o go-template="$rules"

# And the other way round: every resource the ClusterRole names is one the
# operator called (a grant for a resource no code touches is removed, as
# jobs and cronjobs were). Verbs granted but not called in this run are
# listed; some paths are rare (get after a name collision).
k get clusterrole "$role" -o json >"$tmp/clusterrole.json" || fail "cannot read $role"
python3 - "$tmp/clusterrole.json" "$tmp/metrics.txt" <<'PY' || fail "the role grants resources the operator never calls"
import json, re, sys
rules = json.load(open(sys.argv[1]))["rules"]
# Checked below with webhook/configuration/rbac_probe, which makes those
# calls (the operator run here does not write the webhook configuration).
probed = {"validatingwebhookconfigurations.admissionregistration.k8s.io",
          "clusterroles.rbac.authorization.k8s.io"}
called = {}  # "resource.group" -> verbs
for line in open(sys.argv[2]):
    m = re.match(r'zen_lead_api_requests_total\{verb="(\w+)",resource="([^"]+)"', line)
    if m:
        verb = {"apply": "patch"}.get(m.group(1), m.group(1))
        called.setdefault(m.group(2), set()).add(verb)
unused = []
for rule in rules:
    for group in rule.get("apiGroups", []):
        for resource in rule.get("resources", []):
            label = resource.split("/")[0] + ("." + group if group else "")
            if label in probed:
                continue
            if label not in called:
                unused.append(f"{resource} ({group or 'core'})")
                continue
            idle = set(rule["verbs"]) - called[label] - {"watch"}
            if idle:
                print(f"granted, not called in this run: {resource} {sorted(idle)}")
if unused:
    print("granted but never called: " + ", ".join(unused))
    sys.exit(1)
PY

# The webhook's certificates (webhook/certs) under the Role
# zen-lead-webhook-certs: create the Secret, rotate it, watch and reload it.
# Every verb the Role grants on secrets is one the code called, and every
# call was allowed.
KUBECONFIG=$tmp/sa.kubeconfig webhook/certs/rbac_probe "$ns" >"$tmp/certs.txt" 2>"$tmp/certs.log" ||
  fail "webhook/certs under config/rbac: $(tail -n 3 "$tmp/certs.log")"
echo "calls webhook/certs made (verb/resource/code):"
grep '^zen_lead_api_requests_total{' "$tmp/certs.txt" | sed 's/^zen_lead_api_requests_total//' | sort
k get role zen-lead-webhook-certs -n "$ns" -o json >"$tmp/certs-role.json" ||
  fail "cannot read the Role zen-lead-webhook-certs"
python3 - "$tmp/certs-role.json" "$tmp/certs.txt" <<'PY' || fail "the Role zen-lead-webhook-certs grants other than webhook/certs calls"
import json, re, sys
granted = set()
for rule in json.load(open(sys.argv[1]))["rules"]:
    if rule.get("resources") != ["secrets"] or rule.get("apiGroups") != [""]:
        print(f"a rule on more than secrets: {rule}")
        sys.exit(1)
    granted |= set(rule["verbs"])
called, refused = set(), []
for line in open(sys.argv[2]):
    m = re.match(r'zen_lead_api_requests_total\{verb="(\w+)",resource="([^"]+)",code="(\w+)"', line)
    if not m:
        continue
    if m.group(2) != "secrets":
        print(f"a call outside secrets: {line.strip()}")
        sys.exit(1)
    called.add(m.group(1))
    if m.group(3) == "403":
        refused.append(line.strip())
print(f"secrets: granted {sorted(granted)}, called {sorted(called)}")
if refused or called != granted:
    print("refused: " + ", ".join(refused) if refused else "the grants differ from the calls")
    sys.exit(1)
PY

# The webhook's configuration (webhook/configuration) under the ClusterRole:
# create it (owner read, an apply that creates), write a new caBundle (an
# apply that patches), list and watch it by name. The rules on
# validatingwebhookconfigurations and clusterroles grant exactly the verbs
# it called, and every call was allowed.
KUBECONFIG=$tmp/sa.kubeconfig webhook/configuration/rbac_probe "$role" "$webhook_config" "$ns" \
  >"$tmp/configuration.txt" 2>"$tmp/configuration.log" ||
  fail "webhook/configuration under config/rbac: $(tail -n 3 "$tmp/configuration.log")"
echo "calls webhook/configuration made (verb/resource/code):"
grep '^zen_lead_api_requests_total{' "$tmp/configuration.txt" | sed 's/^zen_lead_api_requests_total//' | sort
python3 - "$tmp/clusterrole.json" "$tmp/configuration.txt" <<'PY' || fail "the ClusterRole's webhook configuration rules differ from webhook/configuration's calls"
import json, re, sys
probed = {"validatingwebhookconfigurations.admissionregistration.k8s.io",
          "clusterroles.rbac.authorization.k8s.io"}
granted = {}
for rule in json.load(open(sys.argv[1]))["rules"]:
    for group in rule.get("apiGroups", []):
        for resource in rule.get("resources", []):
            label = resource + ("." + group if group else "")
            if label in probed:
                granted.setdefault(label, set()).update(rule["verbs"])
called, refused = {}, []
for line in open(sys.argv[2]):
    m = re.match(r'zen_lead_api_requests_total\{verb="(\w+)",resource="([^"]+)",code="(\w+)"', line)
    if not m:
        continue
    verb, label, code = m.groups()
    if label not in probed:
        print(f"a call outside the probed resources: {line.strip()}")
        sys.exit(1)
    verbs = {verb}
    if verb == "apply":
        # Server-side apply is a patch; the one that creates (201) needs
        # create too.
        verbs = {"patch", "create"} if code == "201" else {"patch"}
    called.setdefault(label, set()).update(verbs)
    if code == "403":
        refused.append(line.strip())
for label in sorted(probed):
    print(f"{label}: granted {sorted(granted.get(label, []))}, called {sorted(called.get(label, []))}")
if refused or called != granted:
    print("refused: " + ", ".join(refused) if refused else "the grants differ from the calls")
    sys.exit(1)
PY

if grep -q 'code="403"' "$tmp/metrics.txt"; then
  fail "the API server refused calls: $(grep 'code="403"' "$tmp/metrics.txt" | paste -sd' ')"
fi
if grep -qi 'forbidden' "$tmp/operator.log"; then
  fail "forbidden in the operator log: $(grep -i -m3 forbidden "$tmp/operator.log")"
fi
[[ $rc -eq 0 ]] || fail "the operator exited $rc after SIGTERM (Lease release refused?)"
echo "PASS: the operator ran a pool under config/rbac without a refused call"

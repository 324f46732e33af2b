#!/usr/bin/env bash
# Smoke suite for the local control plane (e2e/cluster/up): shows that the
# Kubernetes semantics zen-lead relies on really work here. Each case is
# reported in the JUnit XML Bazel reads ($XML_OUTPUT_FILE), one testcase each.
#
# Needs KUBECONFIG and ZEN_LEAD_CLUSTER_BIN (tools/test.sh passes both).
set -uo pipefail

: "${KUBECONFIG:?KUBECONFIG must point at a local control plane (e2e/cluster/up)}"
: "${ZEN_LEAD_CLUSTER_BIN:?ZEN_LEAD_CLUSTER_BIN must name the cluster binaries}"
export KUBECONFIG
k() { "$ZEN_LEAD_CLUSTER_BIN/kubectl" "$@"; }
tmp=${TEST_TMPDIR:-$(mktemp -d)}
ns=smoke-$$-$RANDOM
passed=0
failed=0
cases_xml=""

# wait_until SECONDS CMD...: poll CMD every 200 ms until it succeeds.
wait_until() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# check NAME FUNCTION: runs FUNCTION, records pass/fail with its output.
check() {
  local name=$1 fn=$2 out t0=$SECONDS
  if out=$("$fn" 2>&1); then
    passed=$((passed + 1))
    printf 'PASS %s (%ds)\n' "$name" "$((SECONDS - t0))"
    cases_xml+="<testcase classname=\"ClusterSmoke\" name=\"$name\" time=\"$((SECONDS - t0))\"/>"
  else
    failed=$((failed + 1))
    printf 'FAIL %s (%ds)\n%s\n' "$name" "$((SECONDS - t0))" "$out"
    local esc=${out//&/&amp;}
    esc=${esc//</&lt;}
    esc=${esc//>/&gt;}
    cases_xml+="<testcase classname=\"ClusterSmoke\" name=\"$name\" time=\"$((SECONDS - t0))\"><failure message=\"failed\">$esc</failure></testcase>"
  fi
}

cleanup() {
  [[ -n ${webhook_pid:-} ]] && kill "$webhook_pid" 2>/dev/null
  k delete validatingwebhookconfiguration "smoke-$ns" --ignore-not-found >/dev/null 2>&1
  k delete namespace "$ns" --wait=false >/dev/null 2>&1
}
trap cleanup EXIT

k create namespace "$ns" >/dev/null || exit 1
k label namespace "$ns" smoke="$ns" >/dev/null || exit 1
# The ServiceAccount admission plugin needs the namespace's default account.
wait_until 30 k get serviceaccount default -n "$ns" || { echo "no default ServiceAccount in $ns"; exit 1; }

# Started first: a CronJob fires at the next minute boundary.
k apply -n "$ns" -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
EOF

server_version() {
  local v
  v=$(k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') || return 1
  echo "server version $v"
  python3 -c 'import sys; v=sys.argv[1].lstrip("v").split("."); sys.exit(0 if (int(v[0]), int(v[1])) >= (1, 34) else 1)' "$v"
}

ready_pod_ips() {  # LABEL -> "name ip" lines of Running+Ready pods
  k get pods -n "$ns" -l "$1" -o json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    st = p.get("status", {})
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
    if st.get("phase") == "Running" and ready and st.get("podIP") and "deletionTimestamp" not in p["metadata"]:
        print(p["metadata"]["name"], st["podIP"])'
}

three_distinct_ready() {
  local lines
  lines=$(ready_pod_ips app=web)
  [[ $(wc -l <<<"$lines") -eq 3 && -n $lines ]] || return 1
  [[ $(awk '{print $2}' <<<"$lines" | sort -u | wc -l) -eq 3 ]]
}

deployment_pods_ready() {
  k apply -n "$ns" -f - <<'EOF' || return 1
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{name: http, containerPort: 8080}]
EOF
  wait_until 30 three_distinct_ready || { k get pods -n "$ns" -o wide; return 1; }
  ready_pod_ips app=web
}

pod_gone_and_replaced() {
  local victim
  victim=$(ready_pod_ips app=web | awk 'NR==1' | awk '{print $1}')
  [[ -n $victim ]] || return 1
  k delete pod -n "$ns" "$victim" --wait=false || return 1
  replaced() { three_distinct_ready && ! ready_pod_ips app=web | grep -q "^$victim "; }
  wait_until 30 replaced || { k get pods -n "$ns" -o wide; return 1; }
  echo "replaced $victim"
}

job_completes() {
  k apply -n "$ns" -f - <<'EOF' || return 1
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
EOF
  k wait -n "$ns" --for=condition=Complete job/once --timeout=60s
}

slice_endpoints() {  # -> sorted "ip ready" of the web Service's EndpointSlices
  k get endpointslices -n "$ns" -l kubernetes.io/service-name=web -o json | python3 -c '
import json, sys
for s in json.load(sys.stdin)["items"]:
    for e in s.get("endpoints") or []:
        for a in e["addresses"]:
            print(a, str(e.get("conditions", {}).get("ready")))' | sort
}

# The Ready endpoints of the slice are exactly the Ready pods (a NotReady pod
# stays listed with ready=False, as EndpointSlices do).
slice_matches_ready_pods() {
  local want
  want=$(ready_pod_ips app=web | awk '{print $2, "True"}' | sort)
  [[ -n $want && "$(slice_endpoints | grep ' True$')" == "$want" ]]
}

endpointslice_tracks_readiness() {
  k apply -n "$ns" -f - <<'EOF' || return 1
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
EOF
  wait_until 30 slice_matches_ready_pods || { slice_endpoints; return 1; }
  local victim ip
  read -r victim ip < <(ready_pod_ips app=web | awk 'NR==1')
  # What a kubelet does when a readiness probe fails.
  k patch pod -n "$ns" "$victim" --subresource=status --type=strategic \
    -p '{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"ContainersReady","status":"False"}]}}' || return 1
  not_ready_left() { slice_endpoints | grep -q "^$ip False$" && slice_matches_ready_pods; }
  wait_until 30 not_ready_left || { slice_endpoints; return 1; }
  echo "$victim ($ip) left the ready endpoints"
}

lease_optimistic_concurrency() {
  k apply -n "$ns" -f - <<'EOF' || return 1
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: smoke}
spec: {holderIdentity: a, leaseDurationSeconds: 15, leaseTransitions: 0}
EOF
  local stale
  stale=$(k get lease -n "$ns" smoke -o json) || return 1
  k patch lease -n "$ns" smoke --type=merge -p '{"spec":{"holderIdentity":"b","leaseTransitions":1}}' || return 1
  [[ $(k get lease -n "$ns" smoke -o jsonpath='{.spec.holderIdentity}') == b ]] || return 1
  local out
  if out=$(sed 's/"holderIdentity": "a"/"holderIdentity": "c"/' <<<"$stale" | k replace -f - 2>&1); then
    echo "a stale update was accepted: $out"
    return 1
  fi
  echo "$out"
  # kubectl prints the 409 as "Error from server (Conflict): ... the object
  # has been modified".
  [[ $out == *"(Conflict)"* && $out == *"the object has been modified"* ]]
}

webhook_denies() {
  local pki=$tmp/webhook
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=smoke-webhook \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$pki/tls.key" -out "$pki/tls.crt" 2>/dev/null || return 1
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 - "$port" "$pki" >"$tmp/webhook.log" 2>&1 <<'EOF' &
import http.server, json, ssl, sys
port, pki = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        req = review["request"]
        name = req["object"]["metadata"]["name"]
        allowed = not name.startswith("deny-")
        print("reviewed", req["operation"], req["kind"]["kind"], name, allowed, flush=True)
        resp = {"uid": req["uid"], "allowed": allowed}
        if not allowed:
            resp["status"] = {"code": 403, "message": f"smoke webhook denies {name}"}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(f"{pki}/tls.crt", f"{pki}/tls.key")
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
  webhook_pid=$!
  k apply -f - <<EOF || return 1
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: smoke-$ns}
webhooks:
- name: smoke.zen-lead.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 3
  namespaceSelector: {matchLabels: {smoke: "$ns"}}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  clientConfig:
    url: https://127.0.0.1:$port/validate
    caBundle: $(base64 -w0 <"$pki/tls.crt")
EOF
  # The apiserver picks the configuration up asynchronously: wait until a
  # denied create proves the webhook is in the path.
  denied() { ! k create configmap -n "$ns" "deny-$RANDOM" 2>"$tmp/denied.err" && grep -q "smoke webhook denies" "$tmp/denied.err"; }
  wait_until 30 denied || { cat "$tmp/webhook.log"; return 1; }
  cat "$tmp/denied.err"
  k create configmap -n "$ns" allow-me || return 1
  grep -q "reviewed CREATE ConfigMap allow-me True" "$tmp/webhook.log"
}

cronjob_creates_jobs() {
  created() { [[ -n $(k get jobs -n "$ns" -o jsonpath='{.items[?(@.metadata.ownerReferences[0].name=="tick")].metadata.name}') ]]; }
  wait_until 90 created || { k get cronjob,jobs -n "$ns"; return 1; }
  k get jobs -n "$ns"
}

check ServerVersionAtLeast134 server_version
check DeploymentGetsThreeReadyPodsWithDistinctIPs deployment_pods_ready
check DeletedPodIsReplaced pod_gone_and_replaced
check JobRunsToCompletion job_completes
check EndpointSliceListsExactlyReadyPods endpointslice_tracks_readiness
check LeaseUpdateWithStaleResourceVersionConflicts lease_optimistic_concurrency
check WebhookOnLoopbackCanDenyCreate webhook_denies
check CronJobCreatesJobs cronjob_creates_jobs

if [[ -n ${XML_OUTPUT_FILE:-} ]]; then
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="ClusterSmoke" tests="%d" failures="%d">%s</testsuite></testsuites>\n' \
    "$((passed + failed))" "$failed" "$cases_xml" >"$XML_OUTPUT_FILE"
fi
echo "cluster smoke: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

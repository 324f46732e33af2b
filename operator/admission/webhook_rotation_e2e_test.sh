#!/usr/bin/env bash
# A forced certificate rotation through the API server: the zen-lead
# process (URL mode on 127.0.0.1, self-managed certificates with lifetimes
# of seconds: CA 90 s, serving certificate 45 s, overlap 5 s) serves its
# webhook while a client asks the API server to create LeaderPolicies in a
# loop (server-side dry runs, so each one is reviewed by the LeaderPolicy
# webhook, whose failurePolicy is Fail: a request the API server could not
# make, or whose certificate it did not trust, fails the create). Over
# 100 s the serving certificate is renewed and the CA rotated (new CA into
# caBundle, serving certificate switched, old CA dropped); every create must
# succeed. The Secret's CA and serving certificate are sampled throughout to
# show the rotation happened.
#
# Needs what testing/webhook_e2e.sh needs.
set -uo pipefail
source "$PWD/operator/admission/testing/webhook_e2e.sh"
run_seconds=${ROTATION_RUN_SECONDS:-100}

k apply -f "$crd" >/dev/null || fail "cannot apply the CRD"
webhook_setup
start_zen_lead "$(free_port)" "$tmp/operator.log" --leader-elect=false \
  --webhook-ca-duration=90s --webhook-cert-duration=45s --webhook-rotation-overlap=5s

# The webhook answers once this is denied by it (a foreign Lease holds the
# name), not by the API server's failure policy.
k -n "$app" create -f - >/dev/null <<EOF || fail "cannot create the foreign Lease"
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: taken}
spec: {holderIdentity: someone-else}
EOF
ready=""
for _ in $(seq 1 150); do
  out=$(policy taken | k create --dry-run=server -f - 2>&1)
  [[ $out == *"denied the request"* ]] && { ready=1; break; }
  sleep 0.2
done
[[ -n $ready ]] || fail "the webhook did not answer within 30 s: $out"

fingerprint() { # the Secret's key $1, as one short hash per certificate
  k -n "$ns" get secret zen-lead-webhook-tls -o "jsonpath={.data.$1}" | base64 -d |
    awk '/BEGIN/{c=""} {c=c $0} /END/{print c}' | sha256sum | cut -c1-12
}
samples=$tmp/samples
: >"$samples"
ok=0
failed=0
i=0
end=$((SECONDS + run_seconds))
next_sample=0
while ((SECONDS < end)); do
  i=$((i + 1))
  if out=$(policy "p$i" | k create --dry-run=server -f - 2>&1); then
    ok=$((ok + 1))
  else
    failed=$((failed + 1))
    echo "create $i failed at ${SECONDS}s: $out"
  fi
  if ((SECONDS >= next_sample)); then
    echo "$(fingerprint 'ca\.crt') $(fingerprint 'tls\.crt')" >>"$samples"
    next_sample=$((SECONDS + 2))
  fi
done
bundles=$(cut -d' ' -f1 "$samples" | uniq | wc -l)
leaves=$(cut -d' ' -f2 "$samples" | sort -u | wc -l)
rotated=$(grep -c '"step":"start_ca_rotation"\|"step":"switch_leaf"\|"step":"drop_old_ca"' "$tmp/operator.log")
echo "creates through the webhook: $ok succeeded, $failed failed, in ${run_seconds}s"
echo "distinct caBundles seen: $bundles, distinct serving certificates: $leaves, CA rotation steps written: $rotated"
grep -o '"step":"[a-z_]*"' "$tmp/operator.log" | uniq -c
((ok > 0)) || fail "no create succeeded"
((failed == 0)) || fail "$failed of $((ok + failed)) creates failed during the rotation"
((leaves >= 3)) || fail "the serving certificate did not change at least twice (saw $leaves)"
((rotated >= 3)) || fail "the CA rotation did not go through its three steps (saw $rotated)"
echo "PASS"

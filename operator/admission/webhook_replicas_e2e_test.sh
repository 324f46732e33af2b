#!/usr/bin/env bash
# Two zen-lead replicas (leader election on) started at the same moment
# against an empty namespace: they make one CA and one serving certificate
# between them (the Secret's create picks one writer, the other takes what
# it wrote), and both serve that certificate, the standby too. The elected
# one writes the webhook configuration, whose caBundle is that CA. Repeated
# a few times, since a race shows only when both start together.
#
# Needs what testing/webhook_e2e.sh needs.
set -uo pipefail
source "$PWD/operator/admission/testing/webhook_e2e.sh"
rounds=${REPLICA_ROUNDS:-3}

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
  webhook_setup
  ports=("$(free_port)" "$(free_port)")
  for r in 0 1; do
    : >"$tmp/replica-$r.log"
    start_zen_lead "${ports[$r]}" "$tmp/replica-$r.log" --leader-elect --identity="replica-$r" \
      --leader-election-lease-duration=4s --renew-deadline=3s --retry-period=1s
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
  webhook_cleanup
done
echo "PASS"

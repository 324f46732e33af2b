#!/usr/bin/env bash
# config/certmanager renders with kubectl kustomize and says what zen-lead
# needs: the serving Certificate names the webhook Service and issues into
# the Secret that --webhook-cert-secret names and the Role lets zen-lead
# read; the Deployment runs --webhook-cert-mode=cert-manager; its Issuer is
# the CA the self-signed Issuer makes. config/default stays self-managed
# (no Certificate, no mode flag).
#
# Kustomize follows ../default, ../rbac, ... which are not Bazel packages of
# their own, so the overlay is rendered from the source tree the runfiles
# point at (an external, uncached test).
#
# Needs ZEN_LEAD_CLUSTER_BIN (kubectl; tools/test.sh passes it).
set -uo pipefail

: "${ZEN_LEAD_CLUSTER_BIN:?ZEN_LEAD_CLUSTER_BIN must name the cluster binaries (kubectl)}"
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() {
  echo "FAIL: $*"
  exit 1
}

src=$(dirname "$(dirname "$(readlink -f config/certmanager/kustomization.yaml)")")
[[ -f $src/default/kustomization.yaml ]] || fail "no config/default beside $src/certmanager"
cp -r "$src" "$tmp/config" || fail "cannot copy $src"
"$ZEN_LEAD_CLUSTER_BIN/kubectl" kustomize "$tmp/config/certmanager" >"$tmp/certmanager.yaml" ||
  fail "kubectl kustomize config/certmanager"
"$ZEN_LEAD_CLUSTER_BIN/kubectl" kustomize "$tmp/config/default" >"$tmp/default.yaml" ||
  fail "kubectl kustomize config/default"

python3 - "$tmp/certmanager.yaml" "$tmp/default.yaml" <<'PY' || fail "config/certmanager does not say what zen-lead needs"
import re, sys

def docs(path):
    return [d for d in open(path).read().split("\n---\n") if d.strip()]

def find(all_docs, kind, name):
    for d in all_docs:
        if re.search(rf"^kind: {kind}$", d, re.M) and re.search(rf"^  name: {name}$", d, re.M):
            return d
    print(f"no {kind} {name}")
    sys.exit(1)

def value(doc, key):
    m = re.search(rf"^\s*{key}: (\S+)$", doc, re.M)
    return m.group(1) if m else None

overlay, default = docs(sys.argv[1]), docs(sys.argv[2])
leaf = find(overlay, "Certificate", "zen-lead-webhook")
secret = value(leaf, "secretName")
names = re.findall(r"^  - (zen-lead-webhook\S*)$", leaf, re.M)
want = ["zen-lead-webhook", "zen-lead-webhook.zen-lead-system",
        "zen-lead-webhook.zen-lead-system.svc",
        "zen-lead-webhook.zen-lead-system.svc.cluster.local"]
errors = []
if names != want:
    errors.append(f"dnsNames {names}, want {want}")
issuer = re.search(r"issuerRef:\n(?:    .*\n?)+", leaf).group(0)
if value(issuer, "name") != "zen-lead-webhook-ca" or value(issuer, "kind") != "Issuer":
    errors.append(f"the serving Certificate's issuer: {issuer}")
ca = find(overlay, "Certificate", "zen-lead-webhook-ca")
if value(ca, "isCA") != "true":
    errors.append("the CA Certificate is not isCA")
ca_issuer = find(overlay, "Issuer", "zen-lead-webhook-ca")
if value(ca_issuer, "secretName") != value(ca, "secretName"):
    errors.append("the CA Issuer does not use the CA Certificate's Secret")
find(overlay, "Issuer", "zen-lead-selfsigned")
deployment = find(overlay, "Deployment", "zen-lead-operator")
args = re.findall(r"^\s*- (--webhook-cert-[a-z]+=\S+)$", deployment, re.M)
if args != ["--webhook-cert-mode=cert-manager", f"--webhook-cert-secret={secret}"]:
    errors.append(f"Deployment args {args}")
role = find(overlay, "Role", "zen-lead-webhook-certs")
if f"resourceNames:\n  - {secret}\n" not in role:
    errors.append(f"the Role zen-lead-webhook-certs does not name {secret}")
plain = "\n---\n".join(default)
if "kind: Certificate" in plain or "--webhook-cert-" in plain:
    errors.append("config/default is not self-managed")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
echo "PASS: config/certmanager issues zen-lead-webhook-tls for the webhook Service and runs zen-lead in cert-manager mode"

// The webhook's certificate authority, in memory: P-256 keys, a self-signed
// CA, serving certificates it signs for the webhook Service's DNS names,
// and the reads the rotation planner needs (validity window, issuer, names,
// does a key belong to a certificate). OpenSSL 3 underneath; every OpenSSL
// object is owned by a Certificate or PrivateKey, and every failure is an
// absl::Status that says what was wrong.
//
//   CertificateSpec ca_spec;
//   ca_spec.common_name = CaCommonName(now);
//   ca_spec.is_ca = true;
//   ca_spec.not_before = now - absl::Hours(1);
//   ca_spec.not_after = now + absl::Hours(24 * 365);
//   absl::StatusOr<KeyPair> ca = Issue(ca_spec, /*signer=*/nullptr);
//   if (!ca.ok()) return ca.status();
//
//   CertificateSpec leaf_spec;
//   leaf_spec.common_name = "zen-lead-webhook.zen-lead-system.svc";
//   leaf_spec.dns_names = ServiceDnsNames("zen-lead-webhook",
//                                         "zen-lead-system");
//   leaf_spec.ip_addresses = {"127.0.0.1"};  // URL mode on a local cluster
//   leaf_spec.not_before = ca_spec.not_before;
//   leaf_spec.not_after = now + absl::Hours(24 * 90);
//   absl::StatusOr<KeyPair> leaf = Issue(leaf_spec, &*ca);
//   std::string cert_pem = leaf->certificate.Pem();  // Secret's tls.crt
//   std::string key_pem = leaf->key.Pem();           // Secret's tls.key
//   absl::Status chained = VerifyIssuedBy(leaf->certificate, ca->certificate);
//
//   absl::StatusOr<std::vector<Certificate>> bundle = ParseCertificates(pem);
//   absl::Time expires = (*bundle)[0].not_after();
//
// Compiled in authority_test.cc.
//
// Why P-256: the API server (Go) and OpenSSL both verify it fast, keys are
// small, and it is what cert-manager's ECDSA keys default to. Lifetimes and
// renewal are the planner's (rotation.h).
#ifndef ZEN_LEAD_WEBHOOK_CERTS_AUTHORITY_H_
#define ZEN_LEAD_WEBHOOK_CERTS_AUTHORITY_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace zenlead::webhook::certs {

// One parsed X.509 certificate. Copies share the same immutable OpenSSL
// object (reference counted).
class Certificate {
 public:
  // The first certificate of `pem`; text before it is skipped, as OpenSSL
  // does. InvalidArgument when there is none or it does not parse.
  static absl::StatusOr<Certificate> FromPem(absl::string_view pem);

  absl::Time not_before() const;
  absl::Time not_after() const;
  // The subject's common name ("" when it has none).
  std::string common_name() const;
  // basicConstraints CA:TRUE.
  bool is_ca() const;
  // The dNSName entries of subjectAltName, in order.
  std::vector<std::string> dns_names() const;
  // The iPAddress entries of subjectAltName as text ("127.0.0.1", "::1").
  std::vector<std::string> ip_addresses() const;
  // Whether `at` lies within [not_before, not_after].
  bool ValidAt(absl::Time at) const;
  // PEM ("-----BEGIN CERTIFICATE-----").
  std::string Pem() const;
  // The same certificate (DER bytes equal).
  bool operator==(const Certificate& other) const;
  bool operator!=(const Certificate& other) const { return !(*this == other); }

  // Takes a certificate this object then owns (non-null).
  explicit Certificate(std::shared_ptr<X509> cert) : cert_(std::move(cert)) {}
  X509* get() const { return cert_.get(); }

 private:
  std::shared_ptr<X509> cert_;
};

// Every certificate of a PEM bundle (ca.crt: one or more CAs), in order.
// InvalidArgument when there is none, or when one fails to parse (the
// message gives its position).
absl::StatusOr<std::vector<Certificate>> ParseCertificates(
    absl::string_view pem);
// The certificates' PEM, concatenated in order.
std::string BundlePem(const std::vector<Certificate>& certificates);

// A private key. Copies share the same OpenSSL object.
class PrivateKey {
 public:
  // A fresh ECDSA P-256 key.
  static absl::StatusOr<PrivateKey> GenerateP256();
  // An unencrypted PEM key (PKCS#8 "PRIVATE KEY", or "EC PRIVATE KEY").
  // An encrypted key fails instead of prompting for a password.
  static absl::StatusOr<PrivateKey> FromPem(absl::string_view pem);

  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), unencrypted.
  std::string Pem() const;
  // Whether this is the key of `certificate` (their public keys are equal).
  bool Matches(const Certificate& certificate) const;

  // Takes a key this object then owns (non-null).
  explicit PrivateKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  EVP_PKEY* get() const { return key_.get(); }

 private:
  std::shared_ptr<EVP_PKEY> key_;
};

// A certificate and its private key.
struct KeyPair {
  Certificate certificate;
  PrivateKey key;
};

// What to issue.
struct CertificateSpec {
  std::string common_name;
  // subjectAltName: DNS names (lower-case letters, digits, '-' and '.'),
  // then IP addresses (IPv4 or IPv6 text). A serving certificate needs at
  // least one: the API server ignores the common name.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  // A CA (basicConstraints CA:TRUE, pathlen 0, keyCertSign) or a serving
  // leaf (CA:FALSE, digitalSignature, extendedKeyUsage serverAuth).
  bool is_ca = false;
  absl::Time not_before;
  absl::Time not_after;
};

// Issues a certificate for a new P-256 key: signed by `signer` (a CA), or
// self-signed when `signer` is null (a root CA, or a test certificate).
// The serial number is 127 random bits. InvalidArgument for a bad spec
// (empty window, a name that is not a DNS name, an address that is not an
// IP, a signer that is not a CA or whose key is not its certificate's).
absl::StatusOr<KeyPair> Issue(const CertificateSpec& spec,
                              const KeyPair* signer);

// OK when `issuer`'s subject is `certificate`'s issuer and its key signed
// `certificate`; InvalidArgument saying which check failed. Validity times
// are not looked at (the planner reads them itself).
absl::Status VerifyIssuedBy(const Certificate& certificate,
                            const Certificate& issuer);

// The names a client may use for a Service in the cluster, most specific
// last: svc, svc.ns, svc.ns.svc, svc.ns.svc.cluster.local.
std::vector<std::string> ServiceDnsNames(absl::string_view service,
                                         absl::string_view ns);

// "zen-lead-webhook-ca@<unix seconds>": distinct for each CA issued at a
// different second, so the two CAs of a rotation never share a subject name
// (verifiers look issuers up by name), and `openssl x509 -subject` tells when
// it was made.
std::string CaCommonName(absl::Time now);

}  // namespace zenlead::webhook::certs

#endif  // ZEN_LEAD_WEBHOOK_CERTS_AUTHORITY_H_

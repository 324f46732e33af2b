#include "webhook/certs/authority.h"

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::webhook::certs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A fixed instant with no sub-second part (X.509 times are in seconds).
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

CertificateSpec CaSpec(absl::Time now) {
  CertificateSpec spec;
  spec.common_name = CaCommonName(now);
  spec.is_ca = true;
  spec.not_before = now - absl::Hours(1);
  spec.not_after = now + absl::Hours(24 * 365);
  return spec;
}

CertificateSpec LeafSpec(absl::Time now) {
  CertificateSpec spec;
  spec.common_name = "zen-lead-webhook.zen-lead-system.svc";
  spec.dns_names = ServiceDnsNames("zen-lead-webhook", "zen-lead-system");
  spec.ip_addresses = {"127.0.0.1"};
  spec.not_before = now - absl::Hours(1);
  spec.not_after = now + absl::Hours(24 * 90);
  return spec;
}

// The header's example, as written there.
absl::Status HeaderExample(absl::Time now, const std::string& pem) {
  CertificateSpec ca_spec;
  ca_spec.common_name = CaCommonName(now);
  ca_spec.is_ca = true;
  ca_spec.not_before = now - absl::Hours(1);
  ca_spec.not_after = now + absl::Hours(24 * 365);
  absl::StatusOr<KeyPair> ca = Issue(ca_spec, /*signer=*/nullptr);
  if (!ca.ok()) return ca.status();

  CertificateSpec leaf_spec;
  leaf_spec.common_name = "zen-lead-webhook.zen-lead-system.svc";
  leaf_spec.dns_names = ServiceDnsNames("zen-lead-webhook", "zen-lead-system");
  leaf_spec.ip_addresses = {"127.0.0.1"};  // URL mode on a local cluster
  leaf_spec.not_before = ca_spec.not_before;
  leaf_spec.not_after = now + absl::Hours(24 * 90);
  absl::StatusOr<KeyPair> leaf = Issue(leaf_spec, &*ca);
  std::string cert_pem = leaf->certificate.Pem();  // Secret's tls.crt
  std::string key_pem = leaf->key.Pem();           // Secret's tls.key
  absl::Status chained = VerifyIssuedBy(leaf->certificate, ca->certificate);

  absl::StatusOr<std::vector<Certificate>> bundle = ParseCertificates(pem);
  absl::Time expires = (*bundle)[0].not_after();
  if (cert_pem.empty() || key_pem.empty() || expires <= now) {
    return absl::InternalError("example");
  }
  return chained;
}

TEST(AuthorityTest, HeaderExampleCompilesAndRuns) {
  absl::StatusOr<KeyPair> ca = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_TRUE(HeaderExample(kNow, ca->certificate.Pem()).ok());
}

TEST(AuthorityTest, CaIsSelfSignedWithItsWindowAndName) {
  absl::StatusOr<KeyPair> ca = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_TRUE(ca->certificate.is_ca());
  EXPECT_EQ(ca->certificate.common_name(), "zen-lead-webhook-ca@1800000000");
  EXPECT_EQ(ca->certificate.not_before(), kNow - absl::Hours(1));
  EXPECT_EQ(ca->certificate.not_after(), kNow + absl::Hours(24 * 365));
  EXPECT_TRUE(ca->key.Matches(ca->certificate));
  EXPECT_TRUE(VerifyIssuedBy(ca->certificate, ca->certificate).ok());
}

TEST(AuthorityTest, LeafIsSignedByTheCaForTheServiceNames) {
  absl::StatusOr<KeyPair> ca = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<KeyPair> leaf = Issue(LeafSpec(kNow), &*ca);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_FALSE(leaf->certificate.is_ca());
  EXPECT_THAT(
      leaf->certificate.dns_names(),
      ElementsAre("zen-lead-webhook", "zen-lead-webhook.zen-lead-system",
                  "zen-lead-webhook.zen-lead-system.svc",
                  "zen-lead-webhook.zen-lead-system.svc.cluster.local"));
  EXPECT_THAT(leaf->certificate.ip_addresses(), ElementsAre("127.0.0.1"));
  EXPECT_TRUE(VerifyIssuedBy(leaf->certificate, ca->certificate).ok());
  EXPECT_TRUE(leaf->key.Matches(leaf->certificate));
  EXPECT_FALSE(leaf->key.Matches(ca->certificate));
  EXPECT_TRUE(leaf->certificate.ValidAt(kNow));
  EXPECT_FALSE(leaf->certificate.ValidAt(kNow + absl::Hours(24 * 91)));
  EXPECT_FALSE(leaf->certificate.ValidAt(kNow - absl::Hours(2)));
}

TEST(AuthorityTest, LeafOfAnotherCaDoesNotVerify) {
  absl::StatusOr<KeyPair> ca = Issue(CaSpec(kNow), nullptr);
  absl::StatusOr<KeyPair> other =
      Issue(CaSpec(kNow + absl::Seconds(1)), nullptr);
  ASSERT_TRUE(ca.ok() && other.ok());
  absl::StatusOr<KeyPair> leaf = Issue(LeafSpec(kNow), &*ca);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::Status s = VerifyIssuedBy(leaf->certificate, other->certificate);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("is not issued by"));
}

TEST(AuthorityTest, SameNameOtherKeyIsCaughtBySignature) {
  // A CA with the same subject but another key: the name matches, the
  // signature does not.
  absl::StatusOr<KeyPair> ca = Issue(CaSpec(kNow), nullptr);
  absl::StatusOr<KeyPair> twin = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(ca.ok() && twin.ok());
  CertificateSpec spec = LeafSpec(kNow);
  absl::StatusOr<KeyPair> leaf = Issue(spec, &*ca);
  ASSERT_TRUE(leaf.ok());
  absl::Status s = VerifyIssuedBy(leaf->certificate, twin->certificate);
  EXPECT_FALSE(s.ok());
}

TEST(AuthorityTest, PemRoundTrips) {
  absl::StatusOr<KeyPair> ca = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(ca.ok());
  absl::StatusOr<Certificate> cert =
      Certificate::FromPem(ca->certificate.Pem());
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(*cert, ca->certificate);
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(ca->key.Pem());
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(key->Matches(ca->certificate));
  EXPECT_THAT(ca->key.Pem(), HasSubstr("-----BEGIN PRIVATE KEY-----"));
}

TEST(AuthorityTest, BundleParsesInOrder) {
  absl::StatusOr<KeyPair> a = Issue(CaSpec(kNow), nullptr);
  absl::StatusOr<KeyPair> b = Issue(CaSpec(kNow + absl::Seconds(5)), nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string pem = BundlePem({a->certificate, b->certificate});
  absl::StatusOr<std::vector<Certificate>> bundle = ParseCertificates(pem);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_EQ(bundle->size(), 2u);
  EXPECT_EQ((*bundle)[0], a->certificate);
  EXPECT_EQ((*bundle)[1], b->certificate);
  EXPECT_NE((*bundle)[0], (*bundle)[1]);
}

TEST(AuthorityTest, GarbageIsRefusedWithAMessage) {
  absl::StatusOr<std::vector<Certificate>> none = ParseCertificates("hello");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(none.status().message()),
              HasSubstr("no PEM certificate could be read"));

  absl::StatusOr<KeyPair> a = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(a.ok());
  const std::string broken = a->certificate.Pem() +
                             "-----BEGIN CERTIFICATE-----\nAAAA\n"
                             "-----END CERTIFICATE-----\n";
  absl::StatusOr<std::vector<Certificate>> second = ParseCertificates(broken);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("certificate 2 does not parse"));

  EXPECT_FALSE(Certificate::FromPem("").ok());
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem("not a key");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("private key"));
}

TEST(AuthorityTest, BadSpecsAreRefused) {
  absl::StatusOr<KeyPair> ca = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(ca.ok());
  CertificateSpec empty_window = LeafSpec(kNow);
  empty_window.not_after = empty_window.not_before;
  EXPECT_THAT(std::string(Issue(empty_window, &*ca).status().message()),
              HasSubstr("must be after not_before"));
  CertificateSpec bad_name = LeafSpec(kNow);
  bad_name.dns_names = {"a,IP:10.0.0.1"};
  EXPECT_THAT(std::string(Issue(bad_name, &*ca).status().message()),
              HasSubstr("is not a DNS name"));
  CertificateSpec bad_ip = LeafSpec(kNow);
  bad_ip.ip_addresses = {"localhost"};
  EXPECT_THAT(std::string(Issue(bad_ip, &*ca).status().message()),
              HasSubstr("is not an IPv4 or IPv6 address"));

  absl::StatusOr<KeyPair> leaf = Issue(LeafSpec(kNow), &*ca);
  ASSERT_TRUE(leaf.ok());
  EXPECT_THAT(std::string(Issue(LeafSpec(kNow), &*leaf).status().message()),
              HasSubstr("is not a CA"));
  KeyPair wrong_key{ca->certificate, leaf->key};
  EXPECT_THAT(std::string(Issue(LeafSpec(kNow), &wrong_key).status().message()),
              HasSubstr("the key is not the certificate's"));
}

TEST(AuthorityTest, SerialsDiffer) {
  absl::StatusOr<KeyPair> a = Issue(CaSpec(kNow), nullptr);
  absl::StatusOr<KeyPair> b = Issue(CaSpec(kNow), nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->certificate.get()),
                             X509_get0_serialNumber(b->certificate.get())),
            0);
}

}  // namespace
}  // namespace zenlead::webhook::certs

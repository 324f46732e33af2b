#include "webhook/testing/test_certs.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace zenlead::webhook::testing {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "MakeTestCertificate: %s failed\n", what);
  std::abort();
}

std::string Drain(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

TestCertificate MakeTestCertificate(const std::string& common_name,
                                    absl::Duration not_before,
                                    absl::Duration not_after) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  std::unique_ptr<X509, X509Free> cert(X509_new());
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  // Distinct serials, so a client never confuses two test certificates.
  static int serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                  absl::ToInt64Seconds(not_before));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  absl::ToInt64Seconds(not_after));
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  Check(san != nullptr, "subjectAltName");
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  Check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  TestCertificate out;
  out.common_name = common_name;
  std::unique_ptr<BIO, BioFree> cert_bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1, "PEM cert");
  out.cert_pem = Drain(cert_bio.get());
  std::unique_ptr<BIO, BioFree> key_bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0,
                                 nullptr, nullptr) == 1,
        "PEM key");
  out.key_pem = Drain(key_bio.get());
  return out;
}

}  // namespace zenlead::webhook::testing

// Proves //third_party:httplib is wired for HTTPS (the webhook's transport):
// the CPPHTTPLIB_* macros match Debian's libcpp-httplib.so, so an SSLServer
// with an in-memory self-signed certificate answers an SSLClient that
// verifies it against that certificate.
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "httplib.h"

namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertDeleter {
  void operator()(X509* c) const { X509_free(c); }
};

// A self-signed certificate for 127.0.0.1 (CN and IP SAN).
std::unique_ptr<X509, CertDeleter> SelfSigned(EVP_PKEY* key) {
  std::unique_ptr<X509, CertDeleter> cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert.get(), key, EVP_sha256());
  return cert;
}

TEST(HttplibSslTest, ServesHttpsVerifiedAgainstItsCertificate) {
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  std::unique_ptr<X509, CertDeleter> cert = SelfSigned(key.get());

  httplib::SSLServer server(cert.get(), key.get());
  ASSERT_TRUE(server.is_valid());
  server.Get("/ping", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("pong", "text/plain");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { server.listen_after_bind(); });

  httplib::SSLClient client("127.0.0.1", port);
  X509_STORE* trust = X509_STORE_new();
  X509_STORE_add_cert(trust, cert.get());
  client.set_ca_cert_store(trust);  // the client owns it now
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(10);
  httplib::Result res = client.Get("/ping");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "pong");

  // A client that trusts nothing rejects the certificate.
  httplib::SSLClient strict("127.0.0.1", port);
  strict.set_ca_cert_store(X509_STORE_new());
  strict.enable_server_certificate_verification(true);
  EXPECT_FALSE(strict.Get("/ping"));

  server.stop();
  serving.join();
}

}  // namespace

// Self-signed serving certificates made at test time (no private key is
// ever committed): a fresh P-256 key and a certificate for 127.0.0.1 whose
// common name tells tests which certificate a connection was served.
// Issued by webhook/certs/authority.h, as the webhook's real ones are.
//
//   TestCertificate cert = MakeTestCertificate("first");
//   ServerOptions options;
//   options.cert_pem = cert.cert_pem;
//   options.key_pem = cert.key_pem;
//   TestCertificate old = MakeTestCertificate("old", absl::Hours(-2),
//                                             absl::Hours(-1));  // expired
//
// Compiled in server_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_TESTING_TEST_CERTS_H_
#define ZEN_LEAD_WEBHOOK_TESTING_TEST_CERTS_H_

#include <string>

#include "absl/time/time.h"

namespace zenlead::webhook::testing {

struct TestCertificate {
  std::string common_name;
  std::string cert_pem;
  std::string key_pem;
};

// Valid from now + not_before to now + not_after (offsets may be
// negative). Crashes on an OpenSSL failure: a broken test setup.
TestCertificate MakeTestCertificate(
    const std::string& common_name,
    absl::Duration not_before = absl::Minutes(-1),
    absl::Duration not_after = absl::Hours(1));

}  // namespace zenlead::webhook::testing

#endif  // ZEN_LEAD_WEBHOOK_TESTING_TEST_CERTS_H_

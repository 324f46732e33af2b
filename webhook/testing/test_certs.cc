#include "webhook/testing/test_certs.h"

#include <cstdio>
#include <cstdlib>

#include "absl/time/clock.h"
#include "webhook/certs/authority.h"

namespace zenlead::webhook::testing {

TestCertificate MakeTestCertificate(const std::string& common_name,
                                    absl::Duration not_before,
                                    absl::Duration not_after) {
  const absl::Time now = absl::Now();
  certs::CertificateSpec spec;
  spec.common_name = common_name;
  spec.ip_addresses = {"127.0.0.1"};
  spec.not_before = now + not_before;
  spec.not_after = now + not_after;
  absl::StatusOr<certs::KeyPair> issued = certs::Issue(spec, nullptr);
  if (!issued.ok()) {
    std::fprintf(stderr, "MakeTestCertificate: %s\n",
                 issued.status().ToString().c_str());
    std::abort();
  }
  return {common_name, issued->certificate.Pem(), issued->key.Pem()};
}

}  // namespace zenlead::webhook::testing

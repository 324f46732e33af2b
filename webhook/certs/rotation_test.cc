#include "webhook/certs/rotation.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "webhook/certs/authority.h"

namespace zenlead::webhook::certs {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A fixed start with no sub-second part (X.509 times are in seconds).
const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
constexpr absl::Duration kDay = absl::Hours(24);

RotationOptions Options() {
  RotationOptions options;
  options.service = "zen-lead-webhook";
  options.ns = "zen-lead-system";
  return options;
}

// The header's example.
absl::Status HeaderExample(absl::Time now) {
  RotationOptions options;
  options.service = "zen-lead-webhook";
  options.ns = "zen-lead-system";
  absl::StatusOr<Plan> plan =
      PlanRotation(/*current=*/std::nullopt, now, options);
  if (!plan.ok()) return plan.status();  // bad options, OpenSSL failure
  if (plan->decision.step != Step::kNone) {
    // write plan->data to the Secret, conditioned on its resourceVersion
  }
  absl::Time look_again = plan->decision.next_check;
  return look_again > now ? absl::OkStatus() : absl::InternalError("example");
}

TEST(RotationTest, HeaderExampleCompilesAndRuns) {
  EXPECT_TRUE(HeaderExample(kStart).ok());
}

// Plans at `now` and returns the plan (test failure on error).
Plan PlanAt(const std::optional<SecretData>& current, absl::Time now,
            const RotationOptions& options = Options()) {
  absl::StatusOr<Plan> plan = PlanRotation(current, now, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : Plan{};
}

std::vector<Certificate> Bundle(const SecretData& data) {
  absl::StatusOr<std::vector<Certificate>> b = ParseCertificates(data.ca_crt);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : std::vector<Certificate>{};
}

Certificate Leaf(const SecretData& data) {
  absl::StatusOr<Certificate> c = Certificate::FromPem(data.tls_crt);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// Whether the leaf of `serving` is issued by a CA of `trusting`'s bundle.
bool Trusted(const SecretData& serving, const SecretData& trusting) {
  const Certificate leaf = Leaf(serving);
  for (const Certificate& ca : Bundle(trusting)) {
    if (VerifyIssuedBy(leaf, ca).ok()) return true;
  }
  return false;
}

TEST(RotationTest, MissingSecretIsCreated) {
  const Plan plan = PlanAt(std::nullopt, kStart);
  EXPECT_EQ(plan.decision.step, Step::kCreate);
  EXPECT_FALSE(plan.decision.repair);
  const Inspection in = Inspect(plan.data, kStart, Options());
  ASSERT_TRUE(in.leaf.has_value()) << in.leaf_problem;
  ASSERT_TRUE(in.signer.has_value()) << in.signer_problem;
  ASSERT_EQ(in.bundle.size(), 1u);
  EXPECT_EQ(in.leaf_issuer, 0);
  EXPECT_EQ(in.signer->certificate, in.bundle[0]);
  const Certificate& leaf = in.leaf->certificate;
  EXPECT_EQ(leaf.not_before(), kStart - absl::Hours(1));
  EXPECT_EQ(leaf.not_after(), kStart + 90 * kDay);
  EXPECT_EQ(in.bundle[0].not_after(), kStart + 365 * kDay);
  EXPECT_EQ(leaf.common_name(), "zen-lead-webhook.zen-lead-system.svc");
}

TEST(RotationTest, FreshSecretNeedsNothingUntilTheLeafIsDue) {
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  const Plan plan = PlanAt(data, kStart + kDay);
  EXPECT_EQ(plan.decision.step, Step::kNone);
  EXPECT_EQ(plan.data, data);
  // 2/3 of the leaf's life from its issue (the hour of backdating is not
  // part of it).
  const absl::Time due = kStart + (90 * kDay) * (2.0 / 3.0);
  EXPECT_EQ(plan.decision.next_check, due);
  EXPECT_EQ(PlanAt(data, due - absl::Seconds(1)).decision.step, Step::kNone);
}

// Lifetimes of seconds (the rotation e2e test's): the hour of backdating
// does not make a fresh certificate due.
TEST(RotationTest, ShortLifetimesAreRenewedAtTwoThirdsOfThemselves) {
  RotationOptions options = Options();
  options.ca_lifetime = absl::Seconds(90);
  options.leaf_lifetime = absl::Seconds(45);
  options.overlap = absl::Seconds(5);
  const SecretData data = PlanAt(std::nullopt, kStart, options).data;
  EXPECT_EQ(PlanAt(data, kStart + absl::Seconds(29), options).decision.step,
            Step::kNone);
  EXPECT_EQ(PlanAt(data, kStart, options).decision.next_check,
            kStart + absl::Seconds(30));
  const Plan leaf = PlanAt(data, kStart + absl::Seconds(30), options);
  EXPECT_EQ(leaf.decision.step, Step::kRenewLeaf);
  EXPECT_EQ(
      PlanAt(leaf.data, kStart + absl::Seconds(59), options).decision.step,
      Step::kNone);
  EXPECT_EQ(
      PlanAt(leaf.data, kStart + absl::Seconds(60), options).decision.step,
      Step::kStartCaRotation);
}

TEST(RotationTest, LeafIsRenewedByTheSameCaAtTwoThirds) {
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  const absl::Time due = PlanAt(data, kStart).decision.next_check;
  const Plan plan = PlanAt(data, due);
  EXPECT_EQ(plan.decision.step, Step::kRenewLeaf);
  EXPECT_FALSE(plan.decision.repair);
  EXPECT_THAT(plan.decision.reason, HasSubstr("by the same CA"));
  EXPECT_EQ(plan.data.ca_crt, data.ca_crt);
  EXPECT_EQ(plan.data.ca_key, data.ca_key);
  EXPECT_NE(plan.data.tls_crt, data.tls_crt);
  EXPECT_NE(plan.data.tls_key, data.tls_key);
  EXPECT_TRUE(Trusted(plan.data, data));
  EXPECT_EQ(PlanAt(plan.data, due).decision.step, Step::kNone);
}

TEST(RotationTest, LeafNeverOutlivesItsCa) {
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  const Certificate ca = Bundle(data)[0];
  // Near the end of the CA's life, but before its renewal: lifetimes that
  // put the CA's renewal late.
  RotationOptions options = Options();
  options.renew_fraction = 0.9;
  const absl::Time late = ca.not_after() - 20 * kDay;
  const Plan plan = PlanAt(data, late, options);
  ASSERT_EQ(plan.decision.step, Step::kRenewLeaf);
  EXPECT_EQ(Leaf(plan.data).not_after(), ca.not_after());
}

// The plan at `at`, after checking that a second earlier nothing was due
// and `at` was named as the time to look again.
Plan NothingUntil(const SecretData& data, absl::Time at) {
  const Plan before = PlanAt(data, at - absl::Seconds(1));
  EXPECT_EQ(before.decision.step, Step::kNone);
  EXPECT_EQ(before.decision.next_check, at);
  return PlanAt(data, at);
}

TEST(RotationTest, CaRotationOverlapsTheOldAndNewCa) {
  const RotationOptions options = Options();
  // Created, then renewed leaves until the CA is due.
  std::vector<SecretData> steps = {PlanAt(std::nullopt, kStart).data};
  absl::Time now = kStart;
  Plan plan;
  for (;;) {
    plan = PlanAt(steps.back(), now);
    if (plan.decision.step == Step::kNone) {
      now = plan.decision.next_check;
      continue;
    }
    if (plan.decision.step != Step::kRenewLeaf) break;
    steps.push_back(plan.data);
  }
  // The CA is due at 2/3 of its life; the leaf is renewed four times before
  // (every 60 days).
  const Certificate old_ca = Bundle(steps.front())[0];
  EXPECT_EQ(steps.size(), 5u);
  ASSERT_EQ(plan.decision.step, Step::kStartCaRotation);
  // (From its issue: notBefore is backdated by an hour.)
  const absl::Time issued = old_ca.not_before() + absl::Hours(1);
  EXPECT_EQ(now, issued + (old_ca.not_after() - issued) * (2.0 / 3.0));
  EXPECT_FALSE(plan.decision.repair);

  // 1. The new CA joins; the leaf and its key stay; ca.key is the new CA's.
  const SecretData started = plan.data;
  EXPECT_EQ(started.tls_crt, steps.back().tls_crt);
  EXPECT_EQ(started.tls_key, steps.back().tls_key);
  std::vector<Certificate> bundle = Bundle(started);
  ASSERT_EQ(bundle.size(), 2u);
  EXPECT_EQ(bundle[0], old_ca);
  const Certificate new_ca = bundle[1];
  EXPECT_NE(new_ca.common_name(), old_ca.common_name());
  absl::StatusOr<PrivateKey> new_key = PrivateKey::FromPem(started.ca_key);
  ASSERT_TRUE(new_key.ok());
  EXPECT_TRUE(new_key->Matches(new_ca));
  steps.push_back(started);

  // 2. Nothing until one overlap has passed, then the leaf switches.
  plan = NothingUntil(started, now + options.overlap);
  ASSERT_EQ(plan.decision.step, Step::kSwitchLeaf);
  const SecretData switched = plan.data;
  EXPECT_EQ(switched.ca_crt, started.ca_crt);
  EXPECT_EQ(switched.ca_key, started.ca_key);
  EXPECT_TRUE(VerifyIssuedBy(Leaf(switched), new_ca).ok());
  steps.push_back(switched);
  now += options.overlap;

  // 3. One more overlap, then the old CA leaves the bundle.
  plan = NothingUntil(switched, now + options.overlap);
  ASSERT_EQ(plan.decision.step, Step::kDropOldCa);
  const SecretData dropped = plan.data;
  EXPECT_EQ(dropped.tls_crt, switched.tls_crt);
  bundle = Bundle(dropped);
  ASSERT_EQ(bundle.size(), 1u);
  EXPECT_EQ(bundle[0], new_ca);
  steps.push_back(dropped);
  now += options.overlap;

  // Done: the next step is the new leaf's renewal.
  plan = PlanAt(dropped, now);
  EXPECT_EQ(plan.decision.step, Step::kNone);
  EXPECT_GT(plan.decision.next_check, now + 50 * kDay);

  // Whoever is one step behind (a replica serving the previous pair, an
  // API server trusting the previous bundle) still succeeds.
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_TRUE(Trusted(steps[i], steps[i - 1])) << "step " << i;
    EXPECT_TRUE(Trusted(steps[i - 1], steps[i])) << "step " << i;
    EXPECT_TRUE(Trusted(steps[i], steps[i])) << "step " << i;
  }
}

TEST(RotationTest, GarbageEverywhereIsRecreatedWithAWarning) {
  const SecretData garbage{"junk", "junk", "junk", "junk"};
  const Plan plan = PlanAt(garbage, kStart);
  EXPECT_EQ(plan.decision.step, Step::kRecreate);
  EXPECT_TRUE(plan.decision.repair);
  EXPECT_THAT(plan.decision.reason, HasSubstr("tls.crt: no PEM certificate"));
  EXPECT_THAT(plan.decision.reason, HasSubstr("ca.key: no unencrypted PEM"));
  const Inspection in = Inspect(plan.data, kStart, Options());
  EXPECT_TRUE(in.leaf.has_value()) << in.leaf_problem;
  EXPECT_TRUE(in.signer.has_value()) << in.signer_problem;
  // An empty Secret (or one of another type) too.
  EXPECT_EQ(PlanAt(SecretData{}, kStart).decision.step, Step::kRecreate);
}

TEST(RotationTest, BrokenLeafIsReissuedByTheSameCa) {
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  SecretData broken = data;
  broken.tls_crt =
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  Plan plan = PlanAt(broken, kStart);
  EXPECT_EQ(plan.decision.step, Step::kRenewLeaf);
  EXPECT_TRUE(plan.decision.repair);
  EXPECT_THAT(plan.decision.reason, HasSubstr("tls.crt:"));
  EXPECT_EQ(plan.data.ca_crt, data.ca_crt);
  EXPECT_TRUE(Trusted(plan.data, data));

  // A key that is not the certificate's.
  SecretData swapped = data;
  swapped.tls_key = data.ca_key;
  plan = PlanAt(swapped, kStart);
  EXPECT_EQ(plan.decision.step, Step::kRenewLeaf);
  EXPECT_THAT(plan.decision.reason, HasSubstr("tls.key: it is not the key"));
}

TEST(RotationTest, BrokenCaKeyStartsARotationKeepingTheLeaf) {
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  SecretData no_key = data;
  no_key.ca_key = "";  // a Secret cert-manager issued, now self-managed
  const Plan plan = PlanAt(no_key, kStart + kDay);
  EXPECT_EQ(plan.decision.step, Step::kStartCaRotation);
  EXPECT_TRUE(plan.decision.repair);
  EXPECT_THAT(plan.decision.reason, HasSubstr("ca.key: missing"));
  EXPECT_EQ(plan.data.tls_crt, data.tls_crt);
  EXPECT_EQ(Bundle(plan.data).size(), 2u);
  EXPECT_TRUE(Trusted(data, plan.data));
}

TEST(RotationTest, ExpiredLeafIsReissuedAndExpiredCaRecreated) {
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  // Nobody ran for 100 days: the leaf expired, the CA did not.
  Plan plan = PlanAt(data, kStart + 100 * kDay);
  EXPECT_EQ(plan.decision.step, Step::kRenewLeaf);
  EXPECT_THAT(plan.decision.reason, HasSubstr("tls.crt: expired at"));
  // Two years: both expired.
  plan = PlanAt(data, kStart + 730 * kDay);
  EXPECT_EQ(plan.decision.step, Step::kRecreate);
  EXPECT_THAT(plan.decision.reason, HasSubstr("expired at"));
}

// A Secret written by a replica whose clock is `ahead` of ours and that
// does not backdate.
SecretData FromAClockAhead(absl::Duration ahead) {
  RotationOptions options = Options();
  options.backdate = absl::ZeroDuration();
  return PlanAt(std::nullopt, kStart + ahead, options).data;
}

TEST(RotationTest, ClockSkewWithinTheMarginIsAccepted) {
  const Plan plan = PlanAt(FromAClockAhead(absl::Minutes(3)), kStart);
  EXPECT_EQ(plan.decision.step, Step::kNone);
}

TEST(RotationTest, ClockSkewBeyondTheMarginIsReplaced) {
  const Plan plan = PlanAt(FromAClockAhead(absl::Hours(2)), kStart);
  // The CA is not valid yet either: nothing can be used.
  EXPECT_EQ(plan.decision.step, Step::kRecreate);
  EXPECT_THAT(plan.decision.reason, HasSubstr("not valid before"));
  EXPECT_THAT(plan.decision.reason, HasSubstr("ahead of this replica's clock"));
  const Inspection in = Inspect(plan.data, kStart, Options());
  EXPECT_TRUE(in.leaf.has_value()) << in.leaf_problem;
}

TEST(RotationTest, RenamedServiceGetsANewLeaf) {
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  RotationOptions renamed = Options();
  renamed.service = "webhook";
  Plan plan = PlanAt(data, kStart, renamed);
  EXPECT_EQ(plan.decision.step, Step::kRenewLeaf);
  EXPECT_THAT(plan.decision.reason, HasSubstr("does not name webhook"));
  RotationOptions with_ip = Options();
  with_ip.ip_addresses = {"127.0.0.1"};
  plan = PlanAt(data, kStart, with_ip);
  EXPECT_EQ(plan.decision.step, Step::kRenewLeaf);
  EXPECT_THAT(plan.decision.reason, HasSubstr("does not name IP 127.0.0.1"));
  EXPECT_EQ(PlanAt(plan.data, kStart, with_ip).decision.step, Step::kNone);
}

TEST(RotationTest, InspectWithoutServiceChecksNoNames) {
  // cert-manager mode reads a Secret it did not write.
  const SecretData data = PlanAt(std::nullopt, kStart).data;
  RotationOptions any;
  const Inspection in = Inspect(data, kStart, any);
  EXPECT_TRUE(in.leaf.has_value()) << in.leaf_problem;
  EXPECT_THAT(in.bundle_problem, IsEmpty());
}

TEST(RotationTest, OptionsAreChecked) {
  RotationOptions o = Options();
  EXPECT_TRUE(ValidateRotationOptions(o).ok());
  o.leaf_lifetime = 400 * kDay;
  EXPECT_THAT(std::string(ValidateRotationOptions(o).message()),
              HasSubstr("must not exceed ca_lifetime"));
  o = Options();
  o.renew_fraction = 1;
  EXPECT_THAT(std::string(ValidateRotationOptions(o).message()),
              HasSubstr("renew_fraction"));
  o = Options();
  o.overlap = 80 * kDay;
  EXPECT_THAT(std::string(ValidateRotationOptions(o).message()),
              HasSubstr("the old CA would expire during its rotation"));
  o = Options();
  o.overlap = 40 * kDay;
  EXPECT_THAT(std::string(ValidateRotationOptions(o).message()),
              HasSubstr("before the switch"));
  EXPECT_FALSE(PlanRotation(std::nullopt, kStart, o).ok());
}

}  // namespace
}  // namespace zenlead::webhook::certs

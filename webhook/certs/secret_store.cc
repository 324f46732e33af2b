#include "webhook/certs/secret_store.h"

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"

namespace zenlead::webhook::certs {
namespace {

// Rounds of read-plan-write before Converge gives up: a create and a step
// need two, each write lost to another replica one more.
constexpr int kMaxRounds = 6;

std::map<std::string, std::string> EncodeData(const SecretData& data) {
  return {{kTlsCertKey, absl::Base64Escape(data.tls_crt)},
          {kTlsKeyKey, absl::Base64Escape(data.tls_key)},
          {kCaCertKey, absl::Base64Escape(data.ca_crt)},
          {kCaKeyKey, absl::Base64Escape(data.ca_key)}};
}

}  // namespace

absl::StatusOr<SecretData> DecodeSecret(const k8s::Secret& secret) {
  SecretData out;
  if (!secret.data.has_value()) return out;
  for (auto [key, field] :
       {std::pair<const char*, std::string*>{kTlsCertKey, &out.tls_crt},
        {kTlsKeyKey, &out.tls_key},
        {kCaCertKey, &out.ca_crt},
        {kCaKeyKey, &out.ca_key}}) {
    auto it = secret.data->find(key);
    if (it == secret.data->end()) continue;
    if (!absl::Base64Unescape(it->second, field)) {
      return absl::InvalidArgumentError(
          absl::StrCat("data[", key, "]: not base64"));
    }
  }
  return out;
}

SecretStore::SecretStore(client::Client* client, std::string ns,
                         std::string name)
    : client_(client), ns_(std::move(ns)), name_(std::move(name)) {}

absl::StatusOr<std::optional<k8s::Secret>> SecretStore::Read() const {
  absl::StatusOr<k8s::Secret> secret =
      k8s::SecretClient(*client_).Get(ns_, name_);
  if (client::IsNotFound(secret.status())) return std::nullopt;
  if (!secret.ok()) return secret.status();
  return std::optional<k8s::Secret>(*std::move(secret));
}

absl::StatusOr<k8s::Secret> SecretStore::Create(const SecretData& data) const {
  k8s::Secret secret;
  k8s::ObjectMeta meta;
  meta.name = name_;
  meta.namespace_field = ns_;
  meta.labels = std::map<std::string, std::string>{
      {"app.kubernetes.io/name", "zen-lead"},
      {"app.kubernetes.io/component", "webhook"},
      {"app.kubernetes.io/managed-by", "zen-lead"}};
  secret.metadata = std::move(meta);
  secret.type = kTlsSecretType;
  secret.data = EncodeData(data);
  return k8s::SecretClient(*client_).Create(ns_, secret);
}

absl::StatusOr<k8s::Secret> SecretStore::Update(const k8s::Secret& current,
                                                const SecretData& data) const {
  k8s::Secret next = current;
  // Keys zen-lead does not know stay; its own four are replaced.
  std::map<std::string, std::string> merged =
      current.data.value_or(std::map<std::string, std::string>{});
  for (auto& [key, value] : EncodeData(data)) merged[key] = std::move(value);
  next.data = std::move(merged);
  return k8s::SecretClient(*client_).Update(ns_, next);
}

absl::StatusOr<Converged> Converge(const SecretStore& store, absl::Time now,
                                   const RotationOptions& options) {
  Converged out;
  // What the last write returned: the next round plans from it without
  // reading again.
  // (A flag beside a plain optional: GCC's -O2 maybe-uninitialized
  // warning misfires on an optional of an optional here.)
  std::optional<k8s::Secret> known;
  bool plan_from_known = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    std::optional<k8s::Secret> current;
    if (plan_from_known) {
      current.swap(known);  // known is empty after
      plan_from_known = false;
    } else {
      absl::StatusOr<std::optional<k8s::Secret>> read = store.Read();
      if (!read.ok()) {
        return client::WithContext(
            read.status(),
            absl::StrCat("reading Secret ", store.ns(), "/", store.name()));
      }
      current = *std::move(read);
    }
    std::optional<SecretData> data;
    if (current.has_value()) {
      // Data that is not even base64 is planned as an empty Secret: the
      // planner recreates what it cannot use.
      data = DecodeSecret(*current).value_or(SecretData{});
    }
    absl::StatusOr<Plan> plan = PlanRotation(data, now, options);
    if (!plan.ok()) return plan.status();
    if (plan->decision.step == Step::kNone) {
      out.secret = current.value_or(k8s::Secret{});
      out.data = data.value_or(SecretData{});
      out.next_check = plan->decision.next_check;
      return out;
    }
    absl::StatusOr<k8s::Secret> written =
        current.has_value() ? store.Update(*current, plan->data)
                            : store.Create(plan->data);
    if (client::IsAlreadyExists(written.status()) ||
        client::IsConflict(written.status())) {
      ++out.conflicts;  // another replica wrote first: plan from its write
      continue;
    }
    if (!written.ok()) {
      return client::WithContext(
          written.status(),
          absl::StrCat("writing Secret ", store.ns(), "/", store.name(), " (",
                       StepName(plan->decision.step), ")"));
    }
    out.written.push_back(plan->decision);
    known = *std::move(written);
    plan_from_known = true;
  }
  return absl::AbortedError(absl::StrCat(
      "Secret ", store.ns(), "/", store.name(), " changed under ", kMaxRounds,
      " rounds of planning in a row: is another writer fighting over it?"));
}

}  // namespace zenlead::webhook::certs

#include "webhook/certs/rotation.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zenlead::webhook::certs {
namespace {

// RFC 3339 in UTC, as kubectl and openssl show times.
std::string When(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

// Empty when `cert` may be used at `now`, else why not.
std::string WindowProblem(const Certificate& cert, absl::Time now,
                          const RotationOptions& options) {
  if (now > cert.not_after()) {
    return absl::StrCat("expired at ", When(cert.not_after()));
  }
  if (cert.not_before() - options.max_clock_skew > now) {
    return absl::StrCat("not valid before ", When(cert.not_before()),
                        ", more than ",
                        absl::FormatDuration(options.max_clock_skew),
                        " ahead of this replica's clock (", When(now), ")");
  }
  return "";
}

// When a step happened: its certificate was issued backdated.
absl::Time IssuedAt(const Certificate& cert, const RotationOptions& options) {
  return cert.not_before() + options.backdate;
}

// At renew_fraction of the life from issue to expiry. From the issue time,
// not notBefore: the backdating is not life the certificate was meant to
// have, and with lifetimes of minutes it would make every certificate due
// at once.
absl::Time RenewAt(const Certificate& cert, const RotationOptions& options) {
  const absl::Time issued = std::min(IssuedAt(cert, options), cert.not_after());
  return issued + (cert.not_after() - issued) * options.renew_fraction;
}

void InspectBundle(const SecretData& data, Inspection& out) {
  if (data.ca_crt.empty()) {
    out.bundle_problem = "ca.crt: missing";
    return;
  }
  absl::StatusOr<std::vector<Certificate>> bundle =
      ParseCertificates(data.ca_crt);
  if (!bundle.ok()) {
    out.bundle_problem = absl::StrCat("ca.crt: ", bundle.status().message());
    return;
  }
  out.bundle = *std::move(bundle);
}

std::string InspectSigner(const SecretData& data, absl::Time now,
                          const RotationOptions& options, Inspection& out) {
  if (data.ca_key.empty()) return "ca.key: missing";
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(data.ca_key);
  if (!key.ok()) return absl::StrCat("ca.key: ", key.status().message());
  if (out.bundle.empty()) return absl::StrCat("ca.key: ", out.bundle_problem);
  for (const Certificate& cert : out.bundle) {
    if (!key->Matches(cert)) continue;
    if (!cert.is_ca()) {
      return absl::StrCat("ca.key: its certificate \"", cert.common_name(),
                          "\" is not a CA");
    }
    if (std::string p = WindowProblem(cert, now, options); !p.empty()) {
      return absl::StrCat("ca.crt: the CA \"", cert.common_name(), "\" ", p);
    }
    out.signer = KeyPair{cert, *key};
    return "";
  }
  return "ca.key: it is the key of no certificate in ca.crt";
}

std::string InspectLeaf(const SecretData& data, absl::Time now,
                        const RotationOptions& options, Inspection& out) {
  if (data.tls_crt.empty()) return "tls.crt: missing";
  absl::StatusOr<Certificate> cert = Certificate::FromPem(data.tls_crt);
  if (!cert.ok()) return absl::StrCat("tls.crt: ", cert.status().message());
  if (data.tls_key.empty()) return "tls.key: missing";
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(data.tls_key);
  if (!key.ok()) return absl::StrCat("tls.key: ", key.status().message());
  if (!key->Matches(*cert)) {
    return "tls.key: it is not the key of tls.crt";
  }
  if (std::string p = WindowProblem(*cert, now, options); !p.empty()) {
    return absl::StrCat("tls.crt: ", p);
  }
  if (!options.service.empty()) {
    const std::vector<std::string> names = cert->dns_names();
    for (const std::string& want :
         ServiceDnsNames(options.service, options.ns)) {
      if (std::find(names.begin(), names.end(), want) == names.end()) {
        return absl::StrCat("tls.crt: it does not name ", want);
      }
    }
    const std::vector<std::string> ips = cert->ip_addresses();
    for (const std::string& want : options.ip_addresses) {
      if (std::find(ips.begin(), ips.end(), want) == ips.end()) {
        return absl::StrCat("tls.crt: it does not name IP ", want);
      }
    }
  }
  if (out.bundle.empty()) return absl::StrCat("tls.crt: ", out.bundle_problem);
  for (size_t i = 0; i < out.bundle.size(); ++i) {
    const Certificate& ca = out.bundle[i];
    if (!VerifyIssuedBy(*cert, ca).ok()) continue;
    if (!WindowProblem(ca, now, options).empty()) continue;
    out.leaf = KeyPair{*cert, *key};
    out.leaf_issuer = static_cast<int>(i);
    return "";
  }
  return "tls.crt: it is issued by no usable CA of ca.crt";
}

Decision Wait(absl::Time until) {
  Decision d;
  d.next_check = until;
  return d;
}

Decision Do(Step step, std::string reason, bool repair = false) {
  Decision d;
  d.step = step;
  d.reason = std::move(reason);
  d.repair = repair;
  return d;
}

std::string Problems(const Inspection& in) {
  std::vector<std::string> all;
  for (const std::string* p :
       {&in.leaf_problem, &in.signer_problem, &in.bundle_problem}) {
    if (!p->empty() && std::find(all.begin(), all.end(), *p) == all.end()) {
      all.push_back(*p);
    }
  }
  return absl::StrJoin(all, "; ");
}

CertificateSpec CaSpec(absl::Time now, const RotationOptions& options,
                       const Inspection* inspection) {
  CertificateSpec spec;
  spec.common_name = CaCommonName(now);
  // Two CAs of one bundle never share a name (verifiers find issuers by
  // name), also when a repair follows the creation within a second.
  for (int bump = 1; inspection != nullptr; ++bump) {
    const bool taken =
        std::any_of(inspection->bundle.begin(), inspection->bundle.end(),
                    [&](const Certificate& c) {
                      return c.common_name() == spec.common_name;
                    });
    if (!taken) break;
    spec.common_name = CaCommonName(now + absl::Seconds(bump));
  }
  spec.is_ca = true;
  spec.not_before = now - options.backdate;
  spec.not_after = now + options.ca_lifetime;
  return spec;
}

absl::StatusOr<KeyPair> IssueLeaf(const KeyPair& ca, absl::Time now,
                                  const RotationOptions& options) {
  CertificateSpec spec;
  spec.common_name =
      options.service.empty()
          ? std::string("zen-lead-webhook")
          : absl::StrCat(options.service, ".", options.ns, ".svc");
  if (!options.service.empty()) {
    spec.dns_names = ServiceDnsNames(options.service, options.ns);
  }
  spec.ip_addresses = options.ip_addresses;
  spec.not_before = now - options.backdate;
  // A leaf never outlives its CA.
  spec.not_after =
      std::min(now + options.leaf_lifetime, ca.certificate.not_after());
  return Issue(spec, &ca);
}

}  // namespace

absl::Status ValidateRotationOptions(const RotationOptions& o) {
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("rotation options: ", what));
  };
  if (o.ca_lifetime <= absl::ZeroDuration() ||
      o.leaf_lifetime <= absl::ZeroDuration()) {
    return bad("ca_lifetime and leaf_lifetime must be positive");
  }
  if (o.leaf_lifetime > o.ca_lifetime) {
    return bad(absl::StrCat("leaf_lifetime (",
                            absl::FormatDuration(o.leaf_lifetime),
                            ") must not exceed ca_lifetime (",
                            absl::FormatDuration(o.ca_lifetime), ")"));
  }
  if (!(o.renew_fraction > 0 && o.renew_fraction < 1)) {
    return bad(absl::StrCat("renew_fraction must be in (0, 1), got ",
                            o.renew_fraction));
  }
  if (o.overlap <= absl::ZeroDuration() || o.backdate < absl::ZeroDuration() ||
      o.max_clock_skew < absl::ZeroDuration()) {
    return bad(
        "overlap must be positive, backdate and max_clock_skew not "
        "negative");
  }
  const double left = 1 - o.renew_fraction;
  if (o.overlap * 2 >= o.ca_lifetime * left) {
    return bad(
        absl::StrCat("two overlaps (", absl::FormatDuration(o.overlap * 2),
                     ") must be shorter than the CA's life left at renewal (",
                     absl::FormatDuration(o.ca_lifetime * left),
                     "): the old CA would expire during its rotation"));
  }
  if (o.overlap >= o.leaf_lifetime * left) {
    return bad(absl::StrCat(
        "overlap (", absl::FormatDuration(o.overlap),
        ") must be shorter than the leaf's life left at renewal (",
        absl::FormatDuration(o.leaf_lifetime * left),
        "): the leaf of the old CA would expire before the switch"));
  }
  return absl::OkStatus();
}

Inspection Inspect(const SecretData& data, absl::Time now,
                   const RotationOptions& options) {
  Inspection out;
  InspectBundle(data, out);
  out.signer_problem = InspectSigner(data, now, options, out);
  out.leaf_problem = InspectLeaf(data, now, options, out);
  return out;
}

absl::string_view StepName(Step step) {
  switch (step) {
    case Step::kNone:
      return "none";
    case Step::kCreate:
      return "create";
    case Step::kRecreate:
      return "recreate";
    case Step::kRenewLeaf:
      return "renew_leaf";
    case Step::kStartCaRotation:
      return "start_ca_rotation";
    case Step::kSwitchLeaf:
      return "switch_leaf";
    case Step::kDropOldCa:
      return "drop_old_ca";
  }
  return "none";
}

Decision Decide(const Inspection* in, absl::Time now,
                const RotationOptions& options) {
  if (in == nullptr) return Do(Step::kCreate, "the Secret does not exist");
  if (!in->leaf.has_value() && !in->signer.has_value()) {
    return Do(Step::kRecreate,
              absl::StrCat("nothing in the Secret can be used (", Problems(*in),
                           "): a new CA and serving certificate replace it"),
              /*repair=*/true);
  }
  if (!in->leaf.has_value()) {
    return Do(Step::kRenewLeaf,
              absl::StrCat(in->leaf_problem,
                           ": a new serving certificate is issued by the CA"),
              /*repair=*/true);
  }
  if (!in->signer.has_value()) {
    return Do(Step::kStartCaRotation,
              absl::StrCat(in->signer_problem,
                           ": a new CA joins ca.crt; the serving certificate "
                           "stays until the overlap has passed"),
              /*repair=*/true);
  }
  const Certificate& signer = in->signer->certificate;
  const Certificate& issuer = in->bundle[static_cast<size_t>(in->leaf_issuer)];
  const Certificate& leaf = in->leaf->certificate;
  if (issuer != signer) {
    // Mid-rotation: the new CA joined the bundle when it was issued.
    const absl::Time switch_at = IssuedAt(signer, options) + options.overlap;
    if (now < switch_at) return Wait(switch_at);
    return Do(Step::kSwitchLeaf,
              absl::StrCat("the new CA \"", signer.common_name(),
                           "\" has been in ca.crt since ",
                           When(IssuedAt(signer, options)),
                           ": the serving certificate is now signed by it"));
  }
  if (in->bundle.size() > 1) {
    // The leaf switched to the newest CA when it was issued.
    const absl::Time drop_at = IssuedAt(leaf, options) + options.overlap;
    if (now < drop_at) return Wait(drop_at);
    return Do(Step::kDropOldCa,
              absl::StrCat("the serving certificate has been signed by \"",
                           signer.common_name(), "\" since ",
                           When(IssuedAt(leaf, options)),
                           ": the old CA leaves ca.crt"));
  }
  const absl::Time ca_due = RenewAt(signer, options);
  const absl::Time leaf_due = RenewAt(leaf, options);
  if (now >= ca_due) {
    return Do(
        Step::kStartCaRotation,
        absl::StrCat("the CA \"", signer.common_name(), "\" expires at ",
                     When(signer.not_after()), ": a new CA joins ca.crt"));
  }
  if (now >= leaf_due) {
    return Do(Step::kRenewLeaf,
              absl::StrCat("the serving certificate expires at ",
                           When(leaf.not_after()),
                           ": a new one is issued by the same CA"));
  }
  return Wait(std::min(ca_due, leaf_due));
}

absl::StatusOr<SecretData> Carry(const Decision& decision,
                                 const SecretData& current,
                                 const Inspection* in, absl::Time now,
                                 const RotationOptions& options) {
  SecretData out = current;
  switch (decision.step) {
    case Step::kNone:
      return out;
    case Step::kCreate:
    case Step::kRecreate: {
      absl::StatusOr<KeyPair> ca =
          Issue(CaSpec(now, options, nullptr), nullptr);
      if (!ca.ok()) return ca.status();
      absl::StatusOr<KeyPair> leaf = IssueLeaf(*ca, now, options);
      if (!leaf.ok()) return leaf.status();
      return SecretData{leaf->certificate.Pem(), leaf->key.Pem(),
                        ca->certificate.Pem(), ca->key.Pem()};
    }
    default:
      break;
  }
  if (in == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(StepName(decision.step), " needs an inspection"));
  }
  switch (decision.step) {
    case Step::kRenewLeaf:
    case Step::kSwitchLeaf: {
      if (!in->signer.has_value()) {
        return absl::FailedPreconditionError(
            absl::StrCat(StepName(decision.step), ": no usable CA key"));
      }
      absl::StatusOr<KeyPair> leaf = IssueLeaf(*in->signer, now, options);
      if (!leaf.ok()) return leaf.status();
      out.tls_crt = leaf->certificate.Pem();
      out.tls_key = leaf->key.Pem();
      return out;
    }
    case Step::kStartCaRotation: {
      if (!in->leaf.has_value()) {
        return absl::FailedPreconditionError(
            "start_ca_rotation: no usable serving certificate to keep");
      }
      absl::StatusOr<KeyPair> ca = Issue(CaSpec(now, options, in), nullptr);
      if (!ca.ok()) return ca.status();
      const Certificate& old_ca =
          in->bundle[static_cast<size_t>(in->leaf_issuer)];
      out.ca_crt = BundlePem({old_ca, ca->certificate});
      out.ca_key = ca->key.Pem();
      return out;
    }
    case Step::kDropOldCa: {
      if (!in->signer.has_value()) {
        return absl::FailedPreconditionError("drop_old_ca: no usable CA");
      }
      out.ca_crt = in->signer->certificate.Pem();
      return out;
    }
    default:
      return out;
  }
}

absl::StatusOr<Plan> PlanRotation(const std::optional<SecretData>& current,
                                  absl::Time now,
                                  const RotationOptions& options) {
  if (absl::Status s = ValidateRotationOptions(options); !s.ok()) return s;
  std::optional<Inspection> inspection;
  if (current.has_value()) inspection = Inspect(*current, now, options);
  Plan plan;
  plan.decision = Decide(inspection ? &*inspection : nullptr, now, options);
  absl::StatusOr<SecretData> data =
      Carry(plan.decision, current.value_or(SecretData{}),
            inspection ? &*inspection : nullptr, now, options);
  if (!data.ok()) return data.status();
  plan.data = *std::move(data);
  return plan;
}

}  // namespace zenlead::webhook::certs

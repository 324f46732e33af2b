#include "webhook/certs/authority.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zenlead::webhook::certs {
namespace {

// unique_ptr deleters for OpenSSL's free functions.
template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Freer<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Freer<BIGNUM, BN_free>>;
using ExtPtr =
    std::unique_ptr<X509_EXTENSION, Freer<X509_EXTENSION, X509_EXTENSION_free>>;
using NamesPtr =
    std::unique_ptr<GENERAL_NAMES, Freer<GENERAL_NAMES, GENERAL_NAMES_free>>;
using BasicPtr =
    std::unique_ptr<BASIC_CONSTRAINTS,
                    Freer<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>;

std::shared_ptr<X509> OwnX509(X509* x) {
  return std::shared_ptr<X509>(x, X509_free);
}
std::shared_ptr<EVP_PKEY> OwnKey(EVP_PKEY* k) {
  return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free);
}

// OpenSSL's queued errors as one line, and the queue emptied.
std::string TakeErrors() {
  std::vector<std::string> errors;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    errors.emplace_back(buf.data());
  }
  return errors.empty() ? "no detail from OpenSSL"
                        : absl::StrJoin(errors, "; ");
}

BioPtr ReadBio(absl::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// What a memory BIO holds.
std::string Drain(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(std::max(n, 0L)));
}

// An encrypted key cannot be used unattended: fail instead of prompting on
// the terminal, which is OpenSSL's default.
int NoPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return -1;
}

absl::Time FromAsn1(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTM(tm, absl::UTCTimeZone());
}

bool IsDnsName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' ||
           c == '.';
  });
}

bool IsIpAddress(const std::string& ip) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET, ip.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, ip.c_str(), buf.data()) == 1;
}

absl::Status CheckSpec(const CertificateSpec& spec, const KeyPair* signer) {
  if (spec.not_after <= spec.not_before) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate \"", spec.common_name, "\": not_after (",
        absl::FormatTime(spec.not_after), ") must be after not_before (",
        absl::FormatTime(spec.not_before), ")"));
  }
  for (const std::string& name : spec.dns_names) {
    if (!IsDnsName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("dns_names: \"", name,
                       "\" is not a DNS name (lower-case letters, digits, '-' "
                       "and '.', at most 253 characters)"));
    }
  }
  for (const std::string& ip : spec.ip_addresses) {
    if (!IsIpAddress(ip)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ip_addresses: \"", ip, "\" is not an IPv4 or IPv6 address"));
    }
  }
  if (signer != nullptr) {
    if (!signer->certificate.is_ca()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signer \"", signer->certificate.common_name(),
                       "\" is not a CA (basicConstraints CA:TRUE)"));
    }
    if (!signer->key.Matches(signer->certificate)) {
      return absl::InvalidArgumentError(
          absl::StrCat("signer \"", signer->certificate.common_name(),
                       "\": the key is not the certificate's"));
    }
  }
  return absl::OkStatus();
}

// 127 random bits: positive, at most 20 octets (RFC 5280 4.1.2.2), and
// unguessable.
absl::Status SetRandomSerial(X509* cert) {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return absl::InternalError(absl::StrCat("RAND_bytes: ", TakeErrors()));
  }
  bytes[0] &= 0x7f;
  BnPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (bn == nullptr ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return absl::InternalError(absl::StrCat("serial number: ", TakeErrors()));
  }
  return absl::OkStatus();
}

// Adds one extension written in OpenSSL's configuration syntax; `ctx` names
// the subject and issuer certificates (for the key identifiers).
absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid,
                          const std::string& value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return absl::InternalError(
        absl::StrCat(OBJ_nid2sn(nid), " \"", value, "\": ", TakeErrors()));
  }
  return absl::OkStatus();
}

absl::Status AddExtensions(X509* cert, X509* issuer,
                           const CertificateSpec& spec) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> exts;
  if (spec.is_ca) {
    exts = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
            {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
            {NID_subject_key_identifier, "hash"}};
  } else {
    exts = {{NID_basic_constraints, "critical,CA:FALSE"},
            {NID_key_usage, "critical,digitalSignature"},
            {NID_ext_key_usage, "serverAuth"},
            {NID_subject_key_identifier, "hash"}};
  }
  if (issuer != cert) {
    exts.emplace_back(NID_authority_key_identifier, "keyid:always");
  }
  std::vector<std::string> names;
  for (const std::string& dns : spec.dns_names) {
    names.push_back(absl::StrCat("DNS:", dns));
  }
  for (const std::string& ip : spec.ip_addresses) {
    names.push_back(absl::StrCat("IP:", ip));
  }
  if (!names.empty()) {
    exts.emplace_back(NID_subject_alt_name, absl::StrJoin(names, ","));
  }
  for (const auto& [nid, value] : exts) {
    if (absl::Status s = AddExtension(cert, &ctx, nid, value); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Calls `visit` for each subjectAltName entry of `cert`.
void ForEachAltName(X509* cert,
                    const std::function<void(const GENERAL_NAME&)>& visit) {
  NamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    visit(*sk_GENERAL_NAME_value(names.get(), i));
  }
}

}  // namespace

absl::StatusOr<Certificate> Certificate::FromPem(absl::string_view pem) {
  ERR_clear_error();
  BioPtr bio = ReadBio(pem);
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no PEM certificate could be read (", TakeErrors(),
                     "): expected \"-----BEGIN CERTIFICATE-----\""));
  }
  return Certificate(OwnX509(cert));
}

absl::Time Certificate::not_before() const {
  return FromAsn1(X509_get0_notBefore(cert_.get()));
}

absl::Time Certificate::not_after() const {
  return FromAsn1(X509_get0_notAfter(cert_.get()));
}

std::string Certificate::common_name() const {
  X509_NAME* name = X509_get_subject_name(cert_.get());
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

bool Certificate::is_ca() const {
  BasicPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert_.get(), NID_basic_constraints, nullptr, nullptr)));
  return bc != nullptr && bc->ca != 0;
}

std::vector<std::string> Certificate::dns_names() const {
  std::vector<std::string> out;
  ForEachAltName(cert_.get(), [&](const GENERAL_NAME& name) {
    if (name.type != GEN_DNS) return;
    const ASN1_IA5STRING* dns = name.d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                     static_cast<size_t>(ASN1_STRING_length(dns)));
  });
  return out;
}

std::vector<std::string> Certificate::ip_addresses() const {
  std::vector<std::string> out;
  ForEachAltName(cert_.get(), [&](const GENERAL_NAME& name) {
    if (name.type != GEN_IPADD) return;
    const ASN1_OCTET_STRING* ip = name.d.iPAddress;
    const int length = ASN1_STRING_length(ip);
    const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(ip), text.data(),
                                 text.size()) != nullptr) {
      out.emplace_back(text.data());
    }
  });
  return out;
}

bool Certificate::ValidAt(absl::Time at) const {
  return not_before() <= at && at <= not_after();
}

std::string Certificate::Pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  return Drain(bio.get());
}

bool Certificate::operator==(const Certificate& other) const {
  return X509_cmp(cert_.get(), other.cert_.get()) == 0;
}

absl::StatusOr<std::vector<Certificate>> ParseCertificates(
    absl::string_view pem) {
  ERR_clear_error();
  BioPtr bio = ReadBio(pem);
  std::vector<Certificate> out;
  for (;;) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr);
    if (cert != nullptr) {
      out.emplace_back(OwnX509(cert));
      continue;
    }
    // The end of the text reads as "no start line"; anything else is a
    // certificate that did not parse.
    const unsigned long last = ERR_peek_last_error();
    if (!out.empty() && ERR_GET_LIB(last) == ERR_LIB_PEM &&
        ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
      ERR_clear_error();
      return out;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        out.empty()
            ? std::string("no PEM certificate could be read")
            : absl::StrCat("certificate ", out.size() + 1, " does not parse"),
        " (", TakeErrors(), "): expected \"-----BEGIN CERTIFICATE-----\""));
  }
}

std::string BundlePem(const std::vector<Certificate>& certificates) {
  std::string out;
  for (const Certificate& c : certificates) absl::StrAppend(&out, c.Pem());
  return out;
}

absl::StatusOr<PrivateKey> PrivateKey::GenerateP256() {
  ERR_clear_error();
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) {
    return absl::InternalError(absl::StrCat("P-256 key: ", TakeErrors()));
  }
  return PrivateKey(OwnKey(key));
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(absl::string_view pem) {
  ERR_clear_error();
  BioPtr bio = ReadBio(pem);
  EVP_PKEY* key =
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no unencrypted PEM private key could be read (", TakeErrors(),
        "): expected \"-----BEGIN PRIVATE KEY-----\" (or EC PRIVATE KEY)"));
  }
  return PrivateKey(OwnKey(key));
}

std::string PrivateKey::Pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    ERR_clear_error();
    return "";
  }
  return Drain(bio.get());
}

bool PrivateKey::Matches(const Certificate& certificate) const {
  const bool same = X509_check_private_key(certificate.get(), key_.get()) == 1;
  ERR_clear_error();
  return same;
}

absl::StatusOr<KeyPair> Issue(const CertificateSpec& spec,
                              const KeyPair* signer) {
  if (absl::Status s = CheckSpec(spec, signer); !s.ok()) return s;
  ERR_clear_error();
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateP256();
  if (!key.ok()) return key.status();
  std::shared_ptr<X509> cert = OwnX509(X509_new());
  if (cert == nullptr) {
    return absl::InternalError(absl::StrCat("X509_new: ", TakeErrors()));
  }
  X509* x = cert.get();
  X509_NAME* subject = X509_get_subject_name(x);
  if (X509_set_version(x, X509_VERSION_3) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(spec.not_before)) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(spec.not_after)) ==
          nullptr ||
      X509_set_pubkey(x, key->get()) != 1 ||
      X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
          -1, 0) != 1) {
    return absl::InternalError(
        absl::StrCat("certificate \"", spec.common_name, "\": ", TakeErrors()));
  }
  X509* issuer = signer != nullptr ? signer->certificate.get() : x;
  if (X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1) {
    return absl::InternalError(absl::StrCat("issuer name: ", TakeErrors()));
  }
  if (absl::Status s = SetRandomSerial(x); !s.ok()) return s;
  if (absl::Status s = AddExtensions(x, issuer, spec); !s.ok()) return s;
  EVP_PKEY* signing_key = signer != nullptr ? signer->key.get() : key->get();
  if (X509_sign(x, signing_key, EVP_sha256()) <= 0) {
    return absl::InternalError(absl::StrCat("sign: ", TakeErrors()));
  }
  return KeyPair{Certificate(std::move(cert)), *std::move(key)};
}

absl::Status VerifyIssuedBy(const Certificate& certificate,
                            const Certificate& issuer) {
  const int issued = X509_check_issued(issuer.get(), certificate.get());
  if (issued != X509_V_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", certificate.common_name(), "\" is not issued by \"",
        issuer.common_name(), "\": ", X509_verify_cert_error_string(issued)));
  }
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer.get());
  if (issuer_key == nullptr ||
      X509_verify(certificate.get(), issuer_key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("\"", certificate.common_name(),
                     "\": the signature is not made by the key of \"",
                     issuer.common_name(), "\""));
  }
  return absl::OkStatus();
}

std::vector<std::string> ServiceDnsNames(absl::string_view service,
                                         absl::string_view ns) {
  return {std::string(service), absl::StrCat(service, ".", ns),
          absl::StrCat(service, ".", ns, ".svc"),
          absl::StrCat(service, ".", ns, ".svc.cluster.local")};
}

std::string CaCommonName(absl::Time now) {
  return absl::StrCat("zen-lead-webhook-ca@", absl::ToUnixSeconds(now));
}

}  // namespace zenlead::webhook::certs

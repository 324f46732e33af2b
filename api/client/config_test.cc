#include "api/client/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace zenlead::client {
namespace {

constexpr char kCa[] =
    "-----BEGIN CERTIFICATE-----\nQ0EgY2VydA==\n-----END CERTIFICATE-----\n";
constexpr char kCert[] =
    "-----BEGIN CERTIFICATE-----\nY2xpZW50\n-----END CERTIFICATE-----\n";
constexpr char kKey[] =
    "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n";

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string templ = absl::StrCat(base ? base : "/tmp", "/cfgXXXXXX");
    path_ = mkdtemp(templ.data());
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string full = absl::StrCat(path_, "/", name);
    for (size_t slash = path_.size() + 1;
         (slash = full.find('/', slash)) != std::string::npos; ++slash) {
      mkdir(full.substr(0, slash).c_str(), 0755);
    }
    std::FILE* f = std::fopen(full.c_str(), "wb");
    EXPECT_NE(f, nullptr) << full;
    std::fwrite(content.data(), 1, content.size(), f);
    std::fclose(f);
    return full;
  }

 private:
  std::string path_;
};

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

// A kubeconfig with two contexts; placeholders are replaced per test.
std::string Kubeconfig(const std::map<std::string, std::string>& vars = {}) {
  std::string text = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: $CA
- name: other
  cluster:
    server: https://10.0.0.1:443
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context:
    cluster: local
    user: admin
    namespace: team-a
- name: ops
  context:
    cluster: other
    user: robot
users:
- name: admin
  user:
    client-certificate-data: $CERT
    client-key-data: $KEY
- name: robot
  user:
    token: s3cret
)";
  std::map<std::string, std::string> all = {
      {"$CA", B64(kCa)}, {"$CERT", B64(kCert)}, {"$KEY", B64(kKey)}};
  for (const auto& [k, v] : vars) all[k] = v;
  for (const auto& [k, v] : all) text = absl::StrReplaceAll(text, {{k, v}});
  return text;
}

TEST(KubeconfigTest, CurrentContextWithInlineData) {
  TempDir dir;
  std::string path = dir.Write("kubeconfig", Kubeconfig());
  absl::StatusOr<Config> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");  // Slash trimmed.
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->client_cert_pem, kCert);
  EXPECT_EQ(config->client_key_pem, kKey);
  EXPECT_EQ(config->default_namespace, "team-a");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_TRUE(config->bearer_token.empty());
  EXPECT_EQ(config->source, path);
}

TEST(KubeconfigTest, NamedContextWithTokenAndInsecure) {
  TempDir dir;
  std::string path = dir.Write("kubeconfig", Kubeconfig());
  absl::StatusOr<Config> config = LoadKubeconfig(path, "ops");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.0.0.1:443");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->bearer_token, "s3cret");
  EXPECT_TRUE(config->ca_pem.empty());
  EXPECT_TRUE(config->client_cert_pem.empty());
}

TEST(KubeconfigTest, FilesResolvedAgainstTheKubeconfigDirectory) {
  TempDir dir;
  dir.Write("conf/pki/ca.crt", kCa);
  dir.Write("conf/pki/admin.crt", kCert);
  std::string key = dir.Write("conf/pki/admin.key", kKey);
  dir.Write("conf/token", "tok-from-file\n");
  std::string path = dir.Write("conf/kubeconfig", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://k:6443", certificate-authority: pki/ca.crt}
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user:
    client-certificate: pki/admin.crt
    client-key: )" + key + R"(
    tokenFile: token
)");
  absl::StatusOr<Config> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->client_cert_pem, kCert);
  EXPECT_EQ(config->client_key_pem, kKey);
  EXPECT_EQ(config->token_file, dir.path() + "/conf/token");
}

// Every broken file gives an error that names the file and the problem.
struct BrokenCase {
  const char* name;
  std::string text;
  std::string context;
  std::string expected;  // A substring of the message.
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
};

TEST(KubeconfigTest, BrokenFilesGiveClearErrors) {
  std::vector<BrokenCase> cases = {
      {"invalid yaml", "clusters: [\n  - {name: a", "", "invalid YAML"},
      {"not a map", "- just\n- a list\n", "", "not a YAML map"},
      {"no current context",
       absl::StrReplaceAll(Kubeconfig(), {{"current-context: dev\n", ""}}), "",
       "no current-context set"},
      {"missing context", Kubeconfig(), "prod",
       "context \"prod\" not found (contexts: dev, ops)"},
      {"missing cluster",
       absl::StrReplaceAll(Kubeconfig(), {{"cluster: local", "cluster: gone"}}),
       "", "cluster \"gone\" not found"},
      {"missing user",
       absl::StrReplaceAll(Kubeconfig(), {{"user: admin", "user: nobody"}}), "",
       "user \"nobody\" not found"},
      {"missing server",
       absl::StrReplaceAll(Kubeconfig(),
                           {{"server: https://127.0.0.1:6443/\n", ""}}),
       "", "clusters[\"local\"] has no server"},
      {"server without scheme",
       absl::StrReplaceAll(Kubeconfig(),
                           {{"https://127.0.0.1:6443/", "127.0.0.1:6443"}}),
       "", "must start with https://"},
      {"bad base64", Kubeconfig({{"$CA", "\"@@not base64@@\""}}), "",
       "clusters[\"local\"].certificate-authority-data is not valid base64"},
      {"base64 but not PEM", Kubeconfig({{"$CERT", B64("hello")}}), "",
       "client-certificate-data does not decode to PEM"},
      {"missing CA file",
       absl::StrReplaceAll(Kubeconfig(),
                           {{"certificate-authority-data: " + B64(kCa),
                             "certificate-authority: nope.crt"}}),
       "", "nope.crt: No such file"},
      {"cert without key",
       absl::StrReplaceAll(Kubeconfig(),
                           {{"client-key-data: " + B64(kKey), ""}}),
       "", "has a client certificate without the matching client key"},
      {"CA and insecure",
       absl::StrReplaceAll(Kubeconfig(),
                           {{"certificate-authority-data: " + B64(kCa),
                             "certificate-authority-data: " + B64(kCa) +
                                 "\n    insecure-skip-tls-verify: true"}}),
       "", "contradictory"},
      {"insecure not a bool",
       absl::StrReplaceAll(Kubeconfig(), {{"insecure-skip-tls-verify: true",
                                           "insecure-skip-tls-verify: maybe"}}),
       "ops", "insecure-skip-tls-verify must be true or false"},
      {"missing token file",
       absl::StrReplaceAll(Kubeconfig(),
                           {{"token: s3cret", "tokenFile: /nonexistent/tok"}}),
       "ops", "tokenFile: cannot read /nonexistent/tok"},
      {"exec plugin",
       absl::StrReplaceAll(Kubeconfig(),
                           {{"token: s3cret", "exec: {command: aws}"}}),
       "ops", "exec or auth-provider", absl::StatusCode::kUnimplemented},
      {"contexts not a list",
       absl::StrReplaceAll(Kubeconfig(), {{"contexts:\n- name: dev",
                                           "contexts: oops\nx:\n- name: dev"}}),
       "", "contexts must be a list"},
  };
  TempDir dir;
  for (const BrokenCase& c : cases) {
    std::string path = dir.Write(absl::StrCat("broken-", c.name), c.text);
    absl::StatusOr<Config> config = LoadKubeconfig(path, c.context);
    if (config.ok()) {
      ADD_FAILURE() << c.name << ": loaded without error";
      continue;
    }
    EXPECT_EQ(config.status().code(), c.code)
        << c.name << ": " << config.status();
    EXPECT_NE(config.status().message().find(path), absl::string_view::npos)
        << c.name << ": " << config.status();
    EXPECT_NE(config.status().message().find(c.expected),
              absl::string_view::npos)
        << c.name << ": " << config.status();
  }
}

TEST(KubeconfigTest, MissingFileIsNotFound) {
  absl::StatusOr<Config> config = LoadKubeconfig("/nonexistent/kubeconfig");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(config.status().message().find("/nonexistent/kubeconfig"),
            absl::string_view::npos);
}

ConfigEnvironment FakeEnv(const std::map<std::string, std::string>& vars,
                          const std::string& sa_dir = "") {
  ConfigEnvironment env;
  env.get_env = [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  if (!sa_dir.empty()) env.service_account_dir = sa_dir;
  return env;
}

TEST(InClusterTest, ReadsServiceAccountFiles) {
  TempDir dir;
  dir.Write("sa/token", "tok-1\n");
  dir.Write("sa/ca.crt", kCa);
  dir.Write("sa/namespace", "zen-lead-system");
  absl::StatusOr<Config> config =
      InClusterConfig(FakeEnv({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                               {"KUBERNETES_SERVICE_PORT", "443"}},
                              dir.path() + "/sa"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->token_file, dir.path() + "/sa/token");
  EXPECT_EQ(config->default_namespace, "zen-lead-system");
  EXPECT_EQ(config->source, "in-cluster");
}

TEST(InClusterTest, Ipv6HostIsBracketed) {
  TempDir dir;
  dir.Write("sa/token", "tok");
  dir.Write("sa/ca.crt", kCa);
  absl::StatusOr<Config> config =
      InClusterConfig(FakeEnv({{"KUBERNETES_SERVICE_HOST", "fd00::1"},
                               {"KUBERNETES_SERVICE_PORT", "6443"}},
                              dir.path() + "/sa"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:6443");
}

TEST(InClusterTest, Errors) {
  TempDir dir;
  absl::StatusOr<Config> no_env = InClusterConfig(FakeEnv({}, dir.path()));
  EXPECT_NE(no_env.status().message().find("KUBERNETES_SERVICE_HOST"),
            absl::string_view::npos);
  std::map<std::string, std::string> vars = {
      {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
      {"KUBERNETES_SERVICE_PORT", "443"}};
  absl::StatusOr<Config> no_token =
      InClusterConfig(FakeEnv(vars, dir.path() + "/sa"));
  EXPECT_NE(no_token.status().message().find(dir.path() + "/sa/token"),
            absl::string_view::npos)
      << no_token.status();
  dir.Write("sa/token", "tok");
  absl::StatusOr<Config> no_ca =
      InClusterConfig(FakeEnv(vars, dir.path() + "/sa"));
  EXPECT_NE(no_ca.status().message().find(dir.path() + "/sa/ca.crt"),
            absl::string_view::npos)
      << no_ca.status();
  dir.Write("sa/token", "  \n");
  dir.Write("sa/ca.crt", kCa);
  absl::StatusOr<Config> empty_token =
      InClusterConfig(FakeEnv(vars, dir.path() + "/sa"));
  EXPECT_NE(empty_token.status().message().find("is empty"),
            absl::string_view::npos)
      << empty_token.status();
}

TEST(TokenSourceTest, RereadsTheTokenFileSoRotationWorks) {
  TempDir dir;
  std::string token_file = dir.Write("token", "first\n");
  Config config;
  config.token_file = token_file;
  config.token_refresh = absl::Minutes(1);
  FakeClock clock;
  TokenSource tokens(config, &clock);
  EXPECT_EQ(*tokens.Token(), "first");

  dir.Write("token", "second");  // The kubelet rotated it.
  clock.Advance(absl::Seconds(30));
  EXPECT_EQ(*tokens.Token(), "first");  // Cached within the refresh period.
  clock.Advance(absl::Seconds(31));
  EXPECT_EQ(*tokens.Token(), "second");

  dir.Write("token", "third");
  tokens.Invalidate();  // E.g. after a 401.
  EXPECT_EQ(*tokens.Token(), "third");

  // A vanished file keeps the last good token instead of logging us out.
  ASSERT_EQ(std::remove(token_file.c_str()), 0);
  clock.Advance(absl::Minutes(2));
  EXPECT_EQ(*tokens.Token(), "third");
}

TEST(TokenSourceTest, StaticTokenAndMissingFile) {
  Config config;
  config.bearer_token = "static";
  FakeClock clock;
  EXPECT_EQ(*TokenSource(config, &clock).Token(), "static");
  config.token_file = "/nonexistent/token";
  EXPECT_EQ(*TokenSource(config, &clock).Token(), "static");
  config.bearer_token.clear();
  absl::StatusOr<std::string> token = TokenSource(config, &clock).Token();
  EXPECT_FALSE(token.ok());
  EXPECT_NE(token.status().message().find("/nonexistent/token"),
            absl::string_view::npos);
  EXPECT_EQ(*TokenSource(Config(), &clock).Token(), "");
}

TEST(LoadConfigTest, Precedence) {
  TempDir dir;
  std::string first = dir.Write("a/kubeconfig", Kubeconfig());
  std::string home_config = dir.Write(
      "home/.kube/config",
      absl::StrReplaceAll(Kubeconfig(),
                          {{"current-context: dev", "current-context: ops"}}));
  dir.Write("sa/token", "tok");
  dir.Write("sa/ca.crt", kCa);
  std::string sa = dir.path() + "/sa";

  // $KUBECONFIG wins, first existing file of the list.
  absl::StatusOr<Config> config =
      LoadConfig(FakeEnv({{"KUBECONFIG", dir.path() + "/missing:" + first},
                          {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                          {"KUBERNETES_SERVICE_PORT", "443"},
                          {"HOME", dir.path() + "/home"}},
                         sa));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, first);

  // Then in-cluster.
  config = LoadConfig(FakeEnv({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                               {"KUBERNETES_SERVICE_PORT", "443"},
                               {"HOME", dir.path() + "/home"}},
                              sa));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, "in-cluster");

  // Then ~/.kube/config.
  config = LoadConfig(FakeEnv({{"HOME", dir.path() + "/home"}}, sa));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, home_config);
  EXPECT_EQ(config->bearer_token, "s3cret");

  // Nothing at all.
  config = LoadConfig(FakeEnv({{"HOME", dir.path() + "/nohome"}}, sa));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);

  // A KUBECONFIG naming only missing files is an error, not a fallback.
  config = LoadConfig(FakeEnv(
      {{"KUBECONFIG", dir.path() + "/missing"}, {"HOME", dir.path() + "/home"}},
      sa));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(config.status().message().find(dir.path() + "/missing"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace zenlead::client

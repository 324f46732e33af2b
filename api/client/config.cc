#include "api/client/config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "api/client/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace zenlead::client {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool LooksLikePem(absl::string_view text) {
  return absl::StrContains(text, "-----BEGIN ");
}

// Parses one kubeconfig document; every error names the file.
class KubeconfigParser {
 public:
  explicit KubeconfigParser(std::string path)
      : path_(std::move(path)), dir_(Dirname(path_)) {}

  absl::StatusOr<Config> Parse(const std::string& text,
                               const std::string& context_name) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return Error(absl::StrCat("invalid YAML: ", e.what()));
    }
    try {
      return ParseRoot(root, context_name);
    } catch (const YAML::Exception& e) {
      // Shapes the checks below did not anticipate (e.g. a list where a map
      // belongs) still become an error naming the file.
      return Error(absl::StrCat("unexpected structure: ", e.what()));
    }
  }

 private:
  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", path_, ": ", message));
  }

  // A scalar field of a map; "" when absent, an error when not a scalar.
  absl::StatusOr<std::string> Scalar(const YAML::Node& map,
                                     const std::string& key,
                                     absl::string_view where) const {
    if (!map.IsMap()) return std::string();
    YAML::Node value = map[key];
    if (!value.IsDefined() || value.IsNull()) return std::string();
    if (!value.IsScalar()) {
      return Error(absl::StrCat(where, ".", key, " must be a string"));
    }
    return value.Scalar();
  }

  // The inner map ("cluster", "user", "context") of the entry called name
  // in the list root[list].
  absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root,
                                       const std::string& list,
                                       const std::string& inner,
                                       const std::string& name) const {
    const YAML::Node entries = root[list];
    std::vector<std::string> names;
    if (entries.IsDefined() && !entries.IsNull()) {
      if (!entries.IsSequence()) {
        return Error(absl::StrCat(list, " must be a list"));
      }
      for (const YAML::Node& entry : entries) {
        if (!entry.IsMap()) continue;
        ASSIGN_OR_RETURN(std::string entry_name,
                         Scalar(entry, "name", list + "[]"));
        if (entry_name == name) {
          const YAML::Node value = entry[inner];
          if (!value.IsMap()) {
            return Error(
                absl::StrCat(list, "[\"", name, "\"] has no ", inner, " map"));
          }
          return value;
        }
        names.push_back(entry_name);
      }
    }
    return Error(
        absl::StrCat(inner, " \"", name, "\" not found (", list, ": ",
                     names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
  }

  std::string Resolve(const std::string& file) const {
    if (file.empty() || file[0] == '/') return file;
    return dir_ + "/" + file;
  }

  // PEM from "<key>-data" (base64) or "<key>" (a file), "" when neither.
  absl::StatusOr<std::string> Pem(const YAML::Node& map, const std::string& key,
                                  const std::string& where) const {
    ASSIGN_OR_RETURN(std::string data, Scalar(map, key + "-data", where));
    ASSIGN_OR_RETURN(std::string file, Scalar(map, key, where));
    if (!data.empty()) {
      std::string decoded;
      if (!absl::Base64Unescape(data, &decoded)) {
        return Error(
            absl::StrCat(where, ".", key, "-data is not valid base64"));
      }
      if (!LooksLikePem(decoded)) {
        return Error(absl::StrCat(where, ".", key,
                                  "-data does not decode to PEM (no "
                                  "\"-----BEGIN\" line)"));
      }
      return decoded;
    }
    if (file.empty()) return std::string();
    std::string resolved = Resolve(file);
    absl::StatusOr<std::string> content = ReadFileToString(resolved);
    if (!content.ok()) {
      return Error(
          absl::StrCat(where, ".", key, ": ", content.status().message()));
    }
    if (!LooksLikePem(*content)) {
      return Error(absl::StrCat(where, ".", key, ": ", resolved,
                                " is not PEM (no \"-----BEGIN\" line)"));
    }
    return *std::move(content);
  }

  absl::StatusOr<Config> ParseRoot(const YAML::Node& root,
                                   std::string context_name) {
    if (!root.IsMap()) return Error("not a YAML map (is this a kubeconfig?)");
    Config config;
    config.source = path_;

    if (context_name.empty()) {
      ASSIGN_OR_RETURN(context_name, Scalar(root, "current-context", "root"));
      if (context_name.empty()) {
        return Error("no current-context set and no context given");
      }
    }
    ASSIGN_OR_RETURN(YAML::Node context,
                     FindNamed(root, "contexts", "context", context_name));
    const std::string context_where =
        absl::StrCat("contexts[\"", context_name, "\"]");
    ASSIGN_OR_RETURN(std::string cluster_name,
                     Scalar(context, "cluster", context_where));
    ASSIGN_OR_RETURN(std::string user_name,
                     Scalar(context, "user", context_where));
    ASSIGN_OR_RETURN(config.default_namespace,
                     Scalar(context, "namespace", context_where));
    if (cluster_name.empty()) {
      return Error(absl::StrCat(context_where, " names no cluster"));
    }

    ASSIGN_OR_RETURN(YAML::Node cluster,
                     FindNamed(root, "clusters", "cluster", cluster_name));
    const std::string cluster_where =
        absl::StrCat("clusters[\"", cluster_name, "\"]");
    ASSIGN_OR_RETURN(std::string server,
                     Scalar(cluster, "server", cluster_where));
    if (server.empty()) {
      return Error(absl::StrCat(cluster_where, " has no server"));
    }
    if (!absl::StartsWith(server, "https://") &&
        !absl::StartsWith(server, "http://")) {
      return Error(absl::StrCat(cluster_where, ".server \"", server,
                                "\" must start with https:// or http://"));
    }
    while (!server.empty() && server.back() == '/') server.pop_back();
    config.server = server;
    ASSIGN_OR_RETURN(config.ca_pem,
                     Pem(cluster, "certificate-authority", cluster_where));
    const YAML::Node insecure =
        static_cast<const YAML::Node&>(cluster)["insecure-skip-tls-verify"];
    if (insecure.IsDefined() && !insecure.IsNull()) {
      bool value = false;
      if (!insecure.IsScalar() ||
          !YAML::convert<bool>::decode(insecure, value)) {
        return Error(absl::StrCat(cluster_where,
                                  ".insecure-skip-tls-verify must be true or "
                                  "false"));
      }
      config.insecure_skip_tls_verify = value;
    }
    if (config.insecure_skip_tls_verify && !config.ca_pem.empty()) {
      return Error(absl::StrCat(
          cluster_where,
          ": a certificate authority together with insecure-skip-tls-verify "
          "is contradictory; remove one"));
    }

    if (user_name.empty()) return config;  // Anonymous.
    ASSIGN_OR_RETURN(YAML::Node user,
                     FindNamed(root, "users", "user", user_name));
    const std::string user_where = absl::StrCat("users[\"", user_name, "\"]");
    const YAML::Node& user_map = user;
    if (user_map["exec"].IsDefined() || user_map["auth-provider"].IsDefined()) {
      return absl::UnimplementedError(absl::StrCat(
          "kubeconfig ", path_, ": ", user_where,
          " uses an exec or auth-provider credential plugin, which zen-lead "
          "does not support; use a client certificate or a token"));
    }
    ASSIGN_OR_RETURN(config.client_cert_pem,
                     Pem(user, "client-certificate", user_where));
    ASSIGN_OR_RETURN(config.client_key_pem,
                     Pem(user, "client-key", user_where));
    if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
      return Error(
          absl::StrCat(user_where, " has a client ",
                       config.client_cert_pem.empty() ? "key" : "certificate",
                       " without the matching client ",
                       config.client_cert_pem.empty() ? "certificate" : "key"));
    }
    ASSIGN_OR_RETURN(config.bearer_token, Scalar(user, "token", user_where));
    ASSIGN_OR_RETURN(std::string token_file,
                     Scalar(user, "tokenFile", user_where));
    if (!token_file.empty()) {
      config.token_file = Resolve(token_file);
      absl::StatusOr<std::string> token = ReadFileToString(config.token_file);
      if (!token.ok()) {
        return Error(
            absl::StrCat(user_where, ".tokenFile: ", token.status().message()));
      }
    }
    return config;
  }

  const std::string path_;
  const std::string dir_;
};

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    int err = errno;
    absl::Status status(
        err == ENOENT ? absl::StatusCode::kNotFound
                      : absl::StatusCode::kFailedPrecondition,
        absl::StrCat("cannot read ", path, ": ", std::strerror(err)));
    return status;
  }
  std::string content;
  char buffer[8192];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    content.append(buffer, n);
  }
  bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": read error"));
  }
  return content;
}

absl::StatusOr<Config> LoadKubeconfig(const std::string& path,
                                      const std::string& context) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("kubeconfig: ", text.status().message()));
  }
  return KubeconfigParser(path).Parse(*text, context);
}

ConfigEnvironment::ConfigEnvironment() : get_env(ProcessEnv) {}

absl::StatusOr<Config> InClusterConfig(const ConfigEnvironment& env) {
  std::optional<std::string> host = env.get_env("KUBERNETES_SERVICE_HOST");
  std::optional<std::string> port = env.get_env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return absl::FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT must be set (is this running in a pod?)");
  }
  Config config;
  config.source = "in-cluster";
  std::string host_part = absl::StrContains(*host, ':')
                              ? absl::StrCat("[", *host, "]")  // IPv6.
                              : *host;
  config.server = absl::StrCat("https://", host_part, ":", *port);
  const std::string& dir = env.service_account_dir;
  config.token_file = dir + "/token";
  absl::StatusOr<std::string> token = ReadFileToString(config.token_file);
  if (!token.ok()) {
    return absl::Status(
        token.status().code(),
        absl::StrCat("in-cluster config: service account token: ",
                     token.status().message()));
  }
  if (absl::StripAsciiWhitespace(*token).empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: service account token ",
                     config.token_file, " is empty"));
  }
  absl::StatusOr<std::string> ca = ReadFileToString(dir + "/ca.crt");
  if (!ca.ok()) {
    return absl::Status(
        ca.status().code(),
        absl::StrCat("in-cluster config: CA: ", ca.status().message()));
  }
  if (!LooksLikePem(*ca)) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: ", dir, "/ca.crt is not PEM"));
  }
  config.ca_pem = *std::move(ca);
  absl::StatusOr<std::string> ns = ReadFileToString(dir + "/namespace");
  if (ns.ok()) {
    config.default_namespace = std::string(absl::StripAsciiWhitespace(*ns));
  }
  return config;
}

absl::StatusOr<Config> LoadConfig(const ConfigEnvironment& env) {
  std::optional<std::string> kubeconfig = env.get_env("KUBECONFIG");
  if (kubeconfig && !kubeconfig->empty()) {
    std::vector<std::string> paths =
        absl::StrSplit(*kubeconfig, ':', absl::SkipEmpty());
    for (const std::string& path : paths) {
      if (FileExists(path)) return LoadKubeconfig(path);
    }
    return absl::NotFoundError(
        absl::StrCat("KUBECONFIG=", *kubeconfig, ": no such file"));
  }
  std::optional<std::string> service_host =
      env.get_env("KUBERNETES_SERVICE_HOST");
  if (service_host && !service_host->empty()) return InClusterConfig(env);
  std::optional<std::string> home = env.get_env("HOME");
  if (home && !home->empty()) {
    std::string path = *home + "/.kube/config";
    if (FileExists(path)) return LoadKubeconfig(path);
  }
  return absl::NotFoundError(
      "no Kubernetes configuration: set KUBECONFIG, run in a pod, or create "
      "~/.kube/config");
}

TokenSource::TokenSource(const Config& config, Clock* clock)
    : static_token_(config.bearer_token),
      token_file_(config.token_file),
      refresh_(config.token_refresh),
      clock_(clock) {}

absl::StatusOr<std::string> TokenSource::Token() {
  if (token_file_.empty()) return static_token_;
  absl::MutexLock lock(&mu_);
  absl::Time now = clock_->Now();
  if (now < next_read_) return cached_;
  absl::StatusOr<std::string> content = ReadFileToString(token_file_);
  if (content.ok()) {
    std::string token(absl::StripAsciiWhitespace(*content));
    if (!token.empty()) {
      cached_ = std::move(token);
      next_read_ = now + refresh_;
      return cached_;
    }
    content = absl::FailedPreconditionError(
        absl::StrCat("token file ", token_file_, " is empty"));
  }
  // Keep serving what we had (the kubelet rewrites the file atomically, but a
  // transient failure must not log us out); retry the read next time.
  if (!cached_.empty()) return cached_;
  if (!static_token_.empty()) return static_token_;
  return content.status();
}

void TokenSource::Invalidate() {
  absl::MutexLock lock(&mu_);
  next_read_ = absl::InfinitePast();
}

}  // namespace zenlead::client

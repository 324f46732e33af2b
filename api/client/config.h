// Where the API server is and how to authenticate to it: kubeconfig files,
// the in-cluster service account, and the usual lookup order between them.
//
//   absl::StatusOr<Config> config = LoadConfig();  // $KUBECONFIG, in-cluster,
//                                                  // then ~/.kube/config
//   absl::StatusOr<Config> dev = LoadKubeconfig("/tmp/c/kubeconfig", "admin");
//   if (!dev.ok()) std::cerr << dev.status();
//   // INVALID_ARGUMENT: kubeconfig /tmp/c/kubeconfig: context "admin" not
//   // found (contexts: kind)
//
//   TokenSource tokens(*config, RealClock());  // re-reads token_file
//   absl::StatusOr<std::string> bearer = tokens.Token();
//
// Compiled in header_examples_test.cc.
//
// Certificates and keys are held in memory as PEM (file references are read
// at load time, relative paths against the kubeconfig's directory); only the
// bearer token file is re-read later, because service-account tokens rotate.
#ifndef ZEN_LEAD_API_CLIENT_CONFIG_H_
#define ZEN_LEAD_API_CLIENT_CONFIG_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/clock.h"

namespace zenlead::client {

struct Config {
  // Base URL, e.g. "https://127.0.0.1:6443" (no trailing slash; a path prefix
  // is kept: "https://proxy/k8s/clusters/c1").
  std::string server;
  // PEM; empty ca_pem means the system trust store.
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  // A static bearer token, and/or a file holding one. When token_file is set
  // its last successfully read content wins over bearer_token.
  std::string bearer_token;
  std::string token_file;
  // Only true when the kubeconfig says so; never a default.
  bool insecure_skip_tls_verify = false;
  // The context's namespace (kubeconfig) or the pod's namespace (in-cluster);
  // "" when unknown.
  std::string default_namespace;
  // Client-side rate limit: sustained requests per second and burst. qps <= 0
  // disables the limit.
  double qps = 20;
  int burst = 30;
  absl::Duration connect_timeout = absl::Seconds(10);
  // Per attempt of a non-watch request. A watch is bounded by its own
  // WatchOptions::timeout plus this.
  absl::Duration request_timeout = absl::Seconds(30);
  // How often token_file is re-read.
  absl::Duration token_refresh = absl::Minutes(1);
  // Where the config came from (a path or "in-cluster"), for messages.
  std::string source;
};

// The config of a kubeconfig file: the named context, or current-context when
// context is "". Errors name the file and what is wrong (unreadable file,
// invalid YAML, missing context/cluster/user, missing server, bad base64,
// missing certificate files, client cert without key...).
absl::StatusOr<Config> LoadKubeconfig(const std::string& path,
                                      const std::string& context = "");

// Inputs of InClusterConfig and LoadConfig; the defaults are the process
// environment and the standard service-account mount. Tests replace them.
struct ConfigEnvironment {
  // Looks up an environment variable; nullopt when unset.
  std::function<std::optional<std::string>(const std::string&)> get_env;
  std::string service_account_dir =
      "/var/run/secrets/kubernetes.io/serviceaccount";

  // get_env = getenv.
  ConfigEnvironment();
};

// The pod's service account: https://$KUBERNETES_SERVICE_HOST:
// $KUBERNETES_SERVICE_PORT, CA from <service_account_dir>/ca.crt, the token
// file <service_account_dir>/token (re-read by TokenSource so rotation
// works), the namespace from <service_account_dir>/namespace.
absl::StatusOr<Config> InClusterConfig(
    const ConfigEnvironment& env = ConfigEnvironment());

// $KUBECONFIG (the first existing file of the list), else in-cluster when
// KUBERNETES_SERVICE_HOST is set, else $HOME/.kube/config.
absl::StatusOr<Config> LoadConfig(
    const ConfigEnvironment& env = ConfigEnvironment());

// The bearer token to send: the config's token file re-read every
// config.token_refresh (or after Invalidate(), e.g. on a 401), falling back to
// the static token. Thread-safe.
class TokenSource {
 public:
  TokenSource(const Config& config, Clock* clock);

  // "" when the config has no token at all (client-certificate auth). An
  // error only when the token file cannot be read and no token was ever read.
  absl::StatusOr<std::string> Token();
  // Forces a re-read on the next Token().
  void Invalidate();

 private:
  const std::string static_token_;
  const std::string token_file_;
  const absl::Duration refresh_;
  Clock* const clock_;
  absl::Mutex mu_;
  std::string cached_ ABSL_GUARDED_BY(mu_);
  absl::Time next_read_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Reads a whole file; errors name the path and the OS error.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_CONFIG_H_

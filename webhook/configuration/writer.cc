#include "webhook/configuration/writer.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/runtime/meta.h"
#include "api/runtime/store.h"

namespace zenlead::webhook::configuration {

absl::StatusOr<std::unique_ptr<Writer>> Writer::Create(
    client::Client* write_client, client::Client* watch_client,
    WriterOptions options) {
  if (write_client == nullptr || watch_client == nullptr) {
    return absl::InvalidArgumentError(
        "Writer needs a write and a watch client");
  }
  absl::Status desired = ValidateDesiredOptions(options.desired);
  if (!desired.ok()) return desired;
  if (options.owner.name.empty()) {
    return absl::InvalidArgumentError(
        "--webhook-owner: the configuration needs an owner (e.g. " +
        std::string(kDefaultOwner) + ")");
  }
  if (options.retry_initial <= absl::ZeroDuration() ||
      options.retry_max < options.retry_initial) {
    return absl::InvalidArgumentError(
        "retry_initial must be positive and at most retry_max");
  }
  // Not make_unique: the constructor is private.
  std::unique_ptr<Writer> writer(
      new Writer(write_client, watch_client, std::move(options)));
  runtime::EventHandler handler;
  handler.on_add = [w = writer.get()](const runtime::ObjectPtr&) {
    w->MarkPending();
  };
  handler.on_update = [w = writer.get()](const runtime::ObjectPtr&,
                                         const runtime::ObjectPtr&) {
    w->MarkPending();
  };
  handler.on_delete = [w = writer.get()](const runtime::ObjectPtr&, bool) {
    w->MarkPending();
  };
  absl::Status added = writer->informer_->AddEventHandler(std::move(handler));
  if (!added.ok()) return added;
  return writer;
}

Writer::Writer(client::Client* write_client, client::Client* watch_client,
               WriterOptions options)
    : write_client_(write_client),
      watch_client_(watch_client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : client::RealClock()),
      log_((options_.logger != nullptr ? *options_.logger
                                       : runtime::DefaultLogger())
               .With({{"component", "webhook-configuration"},
                      {"configuration", options_.desired.name}})) {
  runtime::InformerOptions informer;
  informer.resource = k8s::ValidatingWebhookConfigurationClient::Resource();
  informer.field_selector = "metadata.name=" + options_.desired.name;
  informer.page_size = 0;  // one object at most
  informer.clock = clock_;
  informer.logger = &log_;
  informer_ =
      std::make_unique<runtime::Informer>(watch_client_, std::move(informer));
}

Writer::~Writer() { Stop(); }

absl::Status Writer::Update(const std::string& ca_bundle_pem) {
  absl::Status bundle = ValidateCaBundle(ca_bundle_pem);
  if (!bundle.ok()) return bundle;
  absl::MutexLock write(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    ca_bundle_pem_ = ca_bundle_pem;
    ++desired_version_;
  }
  absl::Status written = Write();
  if (!written.ok()) MarkPending();
  return written;
}

absl::Status Writer::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError(
          "the webhook configuration writer was started already");
    }
    started_ = true;
  }
  absl::Status started = informer_->Start();
  if (!started.ok()) return started;
  keeper_ = std::thread([this] { Keep(); });
  return absl::OkStatus();
}

void Writer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  informer_->Stop();
  if (keeper_.joinable()) keeper_.join();
}

std::optional<k8s::ValidatingWebhookConfiguration> Writer::LastWritten() const {
  absl::MutexLock lock(&mu_);
  return last_written_;
}

Writer::Stats Writer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Writer::MarkPending() {
  absl::MutexLock lock(&mu_);
  pending_ = true;
}

void Writer::Keep() {
  // The first look is after the first list: a configuration deleted between
  // the last write and that list is in neither, so no event would come.
  // (Returns at Stop too.)
  informer_->WaitForSync(absl::InfiniteFuture());
  absl::Duration backoff = options_.retry_initial;
  absl::MutexLock lock(&mu_);
  pending_ = true;
  for (;;) {
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || pending_;
    };
    mu_.Await(absl::Condition(&ready));
    if (stopping_) return;
    pending_ = false;
    mu_.Unlock();
    const absl::Status restored = Restore();
    mu_.Lock();
    ++stats_.checks;
    if (restored.ok()) {
      backoff = options_.retry_initial;
      continue;
    }
    log_.Warning("cannot write the webhook configuration; retrying",
                 {{"error", restored.ToString()},
                  {"retry_in", absl::FormatDuration(backoff)}});
    pending_ = true;
    clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping_), backoff);
    backoff = std::min(backoff * 2, options_.retry_max);
  }
}

absl::Status Writer::Restore() {
  absl::MutexLock write(&write_mu_);
  const char* why = nullptr;  // set when someone else changed it
  {
    absl::MutexLock lock(&mu_);
    if (desired_version_ == 0) return absl::OkStatus();  // no caBundle yet
    if (desired_version_ == written_version_) {
      // The cache is empty until the first list; its add event comes then.
      if (!informer_->HasSynced()) return absl::OkStatus();
      const runtime::ObjectPtr cached =
          informer_->store().Get("", options_.desired.name);
      if (cached != nullptr &&
          runtime::MetadataString(*cached, "resourceVersion") ==
              written_resource_version_) {
        return absl::OkStatus();  // the event of zen-lead's own write
      }
      why = cached == nullptr ? "deleted" : "changed";
    }
  }
  absl::Status written = Write();
  if (written.ok() && why != nullptr) {
    absl::MutexLock lock(&mu_);
    ++stats_.restores;
    log_.Info(
        "restored the webhook configuration",
        {{"reason", why}, {"resource_version", written_resource_version_}});
  }
  return written;
}

absl::Status Writer::Write() {
  std::string ca_bundle_pem;
  int64_t version = 0;
  {
    absl::MutexLock lock(&mu_);
    ca_bundle_pem = ca_bundle_pem_;
    version = desired_version_;
  }
  absl::StatusOr<k8s::ValidatingWebhookConfiguration> written =
      [&]() -> absl::StatusOr<k8s::ValidatingWebhookConfiguration> {
    absl::StatusOr<k8s::OwnerReference> owner =
        LookUpOwner(*write_client_, options_.owner);
    if (!owner.ok()) return owner.status();
    absl::StatusOr<k8s::ValidatingWebhookConfiguration> desired =
        DesiredConfiguration(options_.desired, ca_bundle_pem, *owner);
    if (!desired.ok()) return desired.status();
    client::ApplyOptions apply;
    apply.field_manager = kFieldManager;
    apply.force = true;  // zen-lead owns this object
    absl::StatusOr<k8s::ValidatingWebhookConfiguration> applied =
        k8s::ValidatingWebhookConfigurationClient(*write_client_)
            .Apply(*desired, apply);
    if (!applied.ok()) {
      return client::WithContext(
          applied.status(),
          absl::StrCat("applying ValidatingWebhookConfiguration ",
                       options_.desired.name));
    }
    return applied;
  }();
  absl::MutexLock lock(&mu_);
  if (!written.ok()) {
    ++stats_.errors;
    return written.status();
  }
  ++stats_.writes;
  written_version_ = version;
  written_resource_version_ = written->metadata.value_or(k8s::ObjectMeta())
                                  .resource_version.value_or("");
  last_written_ = *std::move(written);
  return absl::OkStatus();
}

}  // namespace zenlead::webhook::configuration

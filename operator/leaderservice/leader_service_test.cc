#include "operator/leaderservice/leader_service.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace zenlead::op {
namespace {

using ::testing::HasSubstr;
using v1alpha1::GetLeaderRequest;
using v1alpha1::Leader;
using v1alpha1::WatchLeaderRequest;

constexpr absl::Duration kWait = absl::Seconds(30);

PoolLeader Pool(const std::string& pod, int64_t token) {
  PoolLeader l;
  l.ns = "prod";
  l.pool = "db";
  l.has_leader = true;
  l.holder_identity = pod;
  l.pod_name = pod;
  l.pod_uid = "uid-" + pod;
  l.pod_ip = "10.0.0." + std::to_string(token % 250 + 1);
  l.fencing_token = token;
  l.since = absl::FromUnixMicros(1700000000123456 + token);
  return l;
}

TEST(ToProtoTest, CopiesEveryFieldAndFormatsSince) {
  Leader l = ToProto(Pool("db-0", 0));
  EXPECT_EQ(l.pool().namespace_(), "prod");
  EXPECT_EQ(l.pool().name(), "db");
  EXPECT_TRUE(l.has_leader());
  EXPECT_EQ(l.holder_identity(), "db-0");
  EXPECT_EQ(l.pod_name(), "db-0");
  EXPECT_EQ(l.pod_uid(), "uid-db-0");
  EXPECT_EQ(l.pod_ip(), "10.0.0.1");
  EXPECT_EQ(l.fencing_token(), 0);
  EXPECT_EQ(l.since(), "2023-11-14T22:13:20.123456Z");

  PoolLeader none;
  none.ns = "prod";
  none.pool = "db";
  none.fencing_token = 4;
  none.pod_name = "stale";  // ignored without a leader
  Leader n = ToProto(none);
  EXPECT_FALSE(n.has_leader());
  EXPECT_EQ(n.fencing_token(), 4);
  EXPECT_EQ(n.pod_name(), "");
  EXPECT_EQ(n.since(), "");
}

class LeaderServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LeaderServer>> server =
        LeaderServer::Start("127.0.0.1:0", &registry_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    stub_ = v1alpha1::LeaderService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  static void SetDeadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  }

  grpc::Status Get(const std::string& ns, const std::string& name,
                   Leader* out) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    GetLeaderRequest req;
    req.mutable_pool()->set_namespace_(ns);
    req.mutable_pool()->set_name(name);
    return stub_->GetLeader(&ctx, req, out);
  }

  std::unique_ptr<grpc::ClientReader<Leader>> Watch(grpc::ClientContext* ctx,
                                                    const std::string& name) {
    SetDeadline(ctx);
    WatchLeaderRequest req;
    req.mutable_pool()->set_namespace_("prod");
    req.mutable_pool()->set_name(name);
    return stub_->WatchLeader(ctx, req);
  }

  LeaderRegistry registry_;
  std::unique_ptr<LeaderServer> server_;
  std::unique_ptr<v1alpha1::LeaderService::Stub> stub_;
};

TEST_F(LeaderServiceTest, GetLeaderAnswersFromTheRegistry) {
  registry_.Set(Pool("db-0", 3));
  Leader l;
  grpc::Status s = Get("prod", "db", &l);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(l.holder_identity(), "db-0");
  EXPECT_EQ(l.fencing_token(), 3);

  registry_.Set(Pool("db-1", 4));
  ASSERT_TRUE(Get("prod", "db", &l).ok());
  EXPECT_EQ(l.pod_name(), "db-1");
}

TEST_F(LeaderServiceTest, GetLeaderErrorsNameThePool) {
  Leader l;
  grpc::Status s = Get("prod", "nope", &l);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("\"prod/nope\""));

  s = Get("prod", "", &l);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("pool.name"));
  s = Get("", "db", &l);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("pool.namespace"));
}

TEST_F(LeaderServiceTest, WatchSendsCurrentStateThenEachChange) {
  registry_.Set(Pool("db-0", 1));
  grpc::ClientContext ctx;
  auto reader = Watch(&ctx, "db");
  Leader l;
  ASSERT_TRUE(reader->Read(&l));
  EXPECT_EQ(l.pod_name(), "db-0");
  EXPECT_EQ(l.fencing_token(), 1);

  registry_.Set(Pool("db-1", 2));
  ASSERT_TRUE(reader->Read(&l));
  EXPECT_EQ(l.pod_name(), "db-1");
  EXPECT_EQ(l.fencing_token(), 2);

  registry_.Set(Pool("db-1", 2));  // not a change: no message
  registry_.Remove("prod", "db");
  ASSERT_TRUE(reader->Read(&l));
  EXPECT_FALSE(l.has_leader());
  EXPECT_EQ(l.pool().name(), "db");

  registry_.Set(Pool("db-2", 3));
  ASSERT_TRUE(reader->Read(&l));
  EXPECT_EQ(l.pod_name(), "db-2");

  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&l));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server side ends too (and unsubscribes from the registry).
  EXPECT_TRUE(server_->service().AwaitActiveWatches(0, kWait));
  registry_.Set(Pool("db-3", 4));  // nobody listens any more
}

TEST_F(LeaderServiceTest, WatchOfAnUnknownPoolIsNotFound) {
  grpc::ClientContext ctx;
  auto reader = Watch(&ctx, "nope");
  Leader l;
  EXPECT_FALSE(reader->Read(&l));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("\"prod/nope\""));
  EXPECT_TRUE(server_->service().AwaitActiveWatches(0, kWait));
}

TEST_F(LeaderServiceTest, FastChangesEndOnTheLatestStateInOrder) {
  registry_.Set(Pool("db-0", 0));
  grpc::ClientContext ctx;
  auto reader = Watch(&ctx, "db");
  Leader l;
  ASSERT_TRUE(reader->Read(&l));
  ASSERT_EQ(l.fencing_token(), 0);

  constexpr int kChanges = 2000;
  std::thread writer([&] {
    for (int i = 1; i <= kChanges; ++i) registry_.Set(Pool("db-x", i));
  });
  int64_t last = 0;
  int messages = 0;
  while (last < kChanges && reader->Read(&l)) {
    EXPECT_GT(l.fencing_token(), last);
    last = l.fencing_token();
    ++messages;
  }
  writer.join();
  EXPECT_EQ(last, kChanges);
  EXPECT_LE(messages, kChanges);
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(LeaderServiceTest, ShutdownEndsEveryStreamPromptly) {
  registry_.Set(Pool("db-0", 1));
  constexpr int kStreams = 3;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<Leader>>> readers;
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(Watch(contexts.back().get(), "db"));
    Leader l;
    ASSERT_TRUE(readers.back()->Read(&l));
  }
  EXPECT_EQ(server_->service().ActiveWatches(), 3u);

  // A grace period far beyond the test's deadline: the streams must end by
  // the service's own Shutdown (UNAVAILABLE), not by gRPC cancelling them.
  std::thread stopper([&] { server_->Shutdown(absl::Hours(1)); });
  for (auto& reader : readers) {
    Leader l;
    EXPECT_FALSE(reader->Read(&l));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(), HasSubstr("shutting down"));
  }
  stopper.join();
  EXPECT_EQ(server_->service().ActiveWatches(), 0u);
}

TEST_F(LeaderServiceTest, NewWatchesAfterServiceShutdownAreUnavailable) {
  registry_.Set(Pool("db-0", 1));
  server_->service().Shutdown();  // the gRPC server still runs
  grpc::ClientContext ctx;
  auto reader = Watch(&ctx, "db");
  Leader l;
  EXPECT_FALSE(reader->Read(&l));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  // GetLeader still answers until the server stops.
  EXPECT_TRUE(Get("prod", "db", &l).ok());
}

TEST_F(LeaderServiceTest, APortInUseIsAnError) {
  absl::StatusOr<std::unique_ptr<LeaderServer>> second = LeaderServer::Start(
      "127.0.0.1:" + std::to_string(server_->port()), &registry_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace zenlead::op

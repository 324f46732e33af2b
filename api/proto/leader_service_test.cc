// Proves the protoc + grpc_cpp_plugin chain: a LeaderService served on an
// ephemeral loopback port answers GetLeader and streams WatchLeader.
#include <memory>
#include <string>

#include "api/proto/leader_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace zenlead::v1alpha1 {
namespace {

class FixedLeaders final : public LeaderService::Service {
 public:
  grpc::Status GetLeader(grpc::ServerContext*, const GetLeaderRequest* req,
                         Leader* out) override {
    if (req->pool().name() != "db") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no pool");
    }
    *out->mutable_pool() = req->pool();
    out->set_has_leader(true);
    out->set_holder_identity("db-0");
    out->set_fencing_token(7);
    return grpc::Status::OK;
  }

  grpc::Status WatchLeader(grpc::ServerContext*, const WatchLeaderRequest* req,
                           grpc::ServerWriter<Leader>* writer) override {
    for (int token = 1; token <= 3; ++token) {
      Leader l;
      *l.mutable_pool() = req->pool();
      l.set_fencing_token(token);
      l.set_holder_identity("db-" + std::to_string(token));
      writer->Write(l);
    }
    return grpc::Status::OK;
  }
};

class LeaderServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    stub_ = LeaderService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  FixedLeaders service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<LeaderService::Stub> stub_;
};

TEST_F(LeaderServiceTest, GetLeaderRoundTrips) {
  grpc::ClientContext ctx;
  GetLeaderRequest req;
  req.mutable_pool()->set_namespace_("prod");
  req.mutable_pool()->set_name("db");
  Leader leader;
  grpc::Status s = stub_->GetLeader(&ctx, req, &leader);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(leader.pool().namespace_(), "prod");
  EXPECT_EQ(leader.holder_identity(), "db-0");
  EXPECT_EQ(leader.fencing_token(), 7);
}

TEST_F(LeaderServiceTest, GetLeaderUnknownPoolIsNotFound) {
  grpc::ClientContext ctx;
  GetLeaderRequest req;
  req.mutable_pool()->set_name("nope");
  Leader leader;
  EXPECT_EQ(stub_->GetLeader(&ctx, req, &leader).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(LeaderServiceTest, WatchLeaderStreamsInOrder) {
  grpc::ClientContext ctx;
  WatchLeaderRequest req;
  req.mutable_pool()->set_name("db");
  auto reader = stub_->WatchLeader(&ctx, req);
  Leader l;
  int64_t want = 1;
  while (reader->Read(&l)) {
    EXPECT_EQ(l.fencing_token(), want);
    ++want;
  }
  EXPECT_EQ(want, 4);
  EXPECT_TRUE(reader->Finish().ok());
}

}  // namespace
}  // namespace zenlead::v1alpha1

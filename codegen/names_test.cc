#include "codegen/names.h"

#include "gtest/gtest.h"

namespace zenlead::codegen {
namespace {

TEST(NamesTest, PascalCase) {
  EXPECT_EQ(PascalCase("currentHolder"), "CurrentHolder");
  EXPECT_EQ(PascalCase("pod-ip"), "PodIp");
  EXPECT_EQ(PascalCase("IPv4"), "IPv4");
  EXPECT_EQ(PascalCase("blinking-fast"), "BlinkingFast");
  EXPECT_EQ(PascalCase("3d"), "V3d");
  EXPECT_EQ(PascalCase(""), "Empty");
}

TEST(NamesTest, SnakeCase) {
  EXPECT_EQ(SnakeCase("leaseDurationSeconds"), "lease_duration_seconds");
  EXPECT_EQ(SnakeCase("podIP"), "pod_ip");
  EXPECT_EQ(SnakeCase("podIPs"), "pod_ips");
  EXPECT_EQ(SnakeCase("clusterIPs"), "cluster_ips");
  EXPECT_EQ(SnakeCase("HTTPServer"), "http_server");
  EXPECT_EQ(SnakeCase("apiVersion"), "api_version");
  EXPECT_EQ(SnakeCase("x-kubernetes-foo"), "x_kubernetes_foo");
  EXPECT_EQ(SnakeCase("uid"), "uid");
  EXPECT_EQ(SnakeCase("v1Beta"), "v1_beta");
  EXPECT_EQ(SnakeCase("2fa"), "f_2fa");
}

TEST(NamesTest, Singular) {
  EXPECT_EQ(Singular("policies"), "policy");
  EXPECT_EQ(Singular("addresses"), "address");
  EXPECT_EQ(Singular("ports"), "port");
  EXPECT_EQ(Singular("podIPs"), "podIP");
  EXPECT_EQ(Singular("statuses"), "status");
  EXPECT_EQ(Singular("matches"), "match");
  EXPECT_EQ(Singular("ingress"), "ingress");
  EXPECT_EQ(Singular("data"), "data");
}

TEST(NamesTest, MemberNamesAvoidReservedWords) {
  EXPECT_EQ(MemberName("namespace"), "namespace_field");
  EXPECT_EQ(MemberName("continue"), "continue_field");
  EXPECT_EQ(MemberName("template"), "template_field");
  EXPECT_EQ(MemberName("operator"), "operator_field");
  EXPECT_EQ(MemberName("unknown_fields"), "unknown_fields_field");
  EXPECT_EQ(MemberName("errno"), "errno_field");
  EXPECT_EQ(MemberName("type"), "type");
  EXPECT_EQ(MemberName("holderIdentity"), "holder_identity");
}

TEST(NamesTest, CppStringLiteral) {
  EXPECT_EQ(CppStringLiteral("plain"), "\"plain\"");
  EXPECT_EQ(CppStringLiteral("^a\\.b$"), "R\"(^a\\.b$)\"");
  EXPECT_EQ(CppStringLiteral("say \"hi\""), "R\"(say \"hi\")\"");
  EXPECT_EQ(CppStringLiteral("a)\"b\\"), "R\"re(a)\"b\\)re\"");
  EXPECT_EQ(CppStringLiteral("tab\there"), "\"tab\\there\"");
  EXPECT_EQ(CppStringLiteral(std::string("\x01"
                                         "2",
                                         2)),
            "\"\\x01\"\"2\"");
}

TEST(NamesTest, CommentWrapsAndKeepsParagraphs) {
  EXPECT_EQ(Comment("short", 2), "  // short\n");
  EXPECT_EQ(Comment("one\n\ntwo", 0), "// one\n//\n// two\n");
  std::string long_text(30, 'a');
  long_text += " " + std::string(30, 'b') + " " + std::string(30, 'c');
  EXPECT_EQ(Comment(long_text, 0), "// " + std::string(30, 'a') + " " +
                                       std::string(30, 'b') + "\n// " +
                                       std::string(30, 'c') + "\n");
  // A trailing backslash would splice the next source line into the comment.
  EXPECT_EQ(Comment("ends with \\", 0), "// ends with \\ (backslash)\n");
  EXPECT_EQ(Comment("", 0), "");
}

}  // namespace
}  // namespace zenlead::codegen

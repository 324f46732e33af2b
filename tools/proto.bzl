"""cc_grpc_library: runs Debian's protoc and grpc_cpp_plugin in a genrule.

    load("//tools:proto.bzl", "cc_grpc_library")
    cc_grpc_library(name = "leader_service", src = "leader_service.proto")

gives a cc_library with leader_service.pb.h and leader_service.grpc.pb.h.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_grpc_library(name, src, deps = [], visibility = None):
    base = src[:-len(".proto")]
    pkg = native.package_name()
    outs = [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = ("protoc --proto_path=. --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
               "--plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) " +
               "$(location " + src + ")"),
    )
    cc_library(
        name = name,
        srcs = [base + ".pb.cc", base + ".grpc.pb.cc"],
        hdrs = [base + ".pb.h", base + ".grpc.pb.h"],
        # Generated code is not ours: keep -Werror for hand-written sources only.
        copts = ["-Wno-error", "-w"],
        deps = deps + ["//third_party:grpc++", "//third_party:protobuf"],
        visibility = visibility,
    )

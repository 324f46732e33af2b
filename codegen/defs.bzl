"""openapi_cc_library: C++ types generated from OpenAPI v3 schemas at build time.

    load("//codegen:defs.bzl", "openapi_cc_library")

    # One schema file (a CRD here): the outputs are named after the target.
    openapi_cc_library(
        name = "leaderpolicy",
        src = "//config/crd/bases:coordination.kube-zen.io_leaderpolicies.yaml",
        cpp_namespace = "zenlead::api::v1alpha1",
        imports = [":core"],  # ObjectMeta and ListMeta come from there
    )

    # Several schema files that $ref each other ("meta.yaml#/ObjectMeta"):
    # one pair of outputs per file, named after the file (pod.h, pod.cc).
    openapi_cc_library(
        name = "core",
        srcs = ["//api/schemas:meta.yaml", "//api/schemas:pod.yaml"],
        cpp_namespace = "zenlead::k8s",
    )

A genrule runs //codegen:openapi_gen over the schemas; a cc_library of the
same name wraps the generated headers and sources (#include
"<package>/<base>.h"). Generated files live in bazel-bin only and are never
committed. Each library also writes <name>.openapi.json, the manifest that
`imports` of other libraries read, so that their schemas can $ref its types.
A schema error fails the build with "FILE:LINE:COLUMN: error: PATH: message".
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def _base(label):
    name = label.split(":")[-1].split("/")[-1]
    for ext in [".yaml", ".yml", ".json"]:
        if name.endswith(ext):
            name = name[:-len(ext)]
    return name

def openapi_cc_library(
        name,
        src = None,
        srcs = [],
        cpp_namespace = "zenlead::api",
        imports = [],
        deps = [],
        crd_version = None,
        clients = True,
        visibility = None,
        testonly = None,
        tags = []):
    """C++ types from OpenAPI schema files.

    Args:
      name: the cc_library; with `src`, also the base name of the outputs.
      src: one schema file (a CRD or a map of type name to schema).
      srcs: several schema files, one <file base name>.h/.cc pair each.
      cpp_namespace: C++ namespace of the generated types.
      imports: other openapi_cc_library targets whose types the schemas use
        (by $ref, and ObjectMeta/ListMeta for CRDs); also added to deps.
      deps: further cc_library dependencies.
      crd_version: the CRD version to generate (default: the storage one).
      clients: generate typed clients (needs //api/client) for kinds with a
        REST resource.
      visibility: of the cc_library.
      testonly: of every target.
      tags: of every target.
    """
    if src and srcs:
        fail("openapi_cc_library: give src or srcs, not both")
    inputs = [(src, name)] if src else [(s, _base(s)) for s in srcs]
    if not inputs:
        fail("openapi_cc_library: give src or srcs")
    hdrs = [base + ".h" for _, base in inputs]
    ccs = [base + ".cc" for _, base in inputs]
    manifest = name + ".openapi.json"

    import_srcs = []
    flags = [
        "--out_dir=$(RULEDIR)",
        "--include_prefix=" + native.package_name(),
        "--cpp_namespace=" + cpp_namespace,
        "--manifest_out=$(location %s)" % manifest,
    ]
    for imp in imports:
        import_srcs += [imp + ".openapi.json", imp + "_schemas"]
        flags.append("--import_manifest=$(location %s.openapi.json)" % imp)
    if crd_version:
        flags.append("--crd_version=" + crd_version)
    if not clients:
        flags.append("--noclients")

    # The schema files, for libraries that import this one.
    native.filegroup(
        name = name + "_schemas",
        srcs = [s for s, _ in inputs],
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )
    native.genrule(
        name = name + "_gen",
        srcs = [s for s, _ in inputs] + import_srcs,
        outs = hdrs + ccs + [manifest],
        tools = ["//codegen:openapi_gen"],
        cmd = "$(location //codegen:openapi_gen) " + " ".join(flags) + " " +
              " ".join(["$(location %s)=%s" % (s, base) for s, base in inputs]),
        message = "Generating C++ types from OpenAPI schemas for %s" % name,
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )
    runtime = ["//codegen/runtime"]
    if clients:
        runtime += ["//codegen/runtime:typed_client", "//api/client"]
    cc_library(
        name = name,
        srcs = ccs,
        hdrs = hdrs,
        deps = deps + imports + runtime + [
            "//third_party:absl",
            "//third_party:json",
            "//third_party:re2",
        ],
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )

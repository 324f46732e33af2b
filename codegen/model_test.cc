// Schema loading and type resolution from in-memory YAML: CRD versions,
// YAML scalar typing, supported spellings of allOf/anyOf, naming rules and
// the errors the model reports.
#include "codegen/model.h"

#include <string>
#include <vector>

#include "codegen/schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::codegen {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Names of the structs of the only input, in declaration order.
std::vector<std::string> StructNames(const std::string& yaml) {
  std::vector<Document> docs;
  absl::StatusOr<Document> doc = ParseDocument("t.yaml", yaml, "");
  EXPECT_TRUE(doc.ok()) << doc.status();
  if (!doc.ok()) return {};
  docs.push_back(*std::move(doc));
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Build(docs, "zenlead::t", {});
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  std::vector<std::string> names;
  for (const StructDef* s : (*model)->StructsOf(docs[0]))
    names.push_back(s->name);
  return names;
}

std::string BuildError(const std::string& yaml) {
  absl::StatusOr<Document> doc = ParseDocument("t.yaml", yaml, "");
  if (!doc.ok()) return std::string(doc.status().message());
  std::vector<Document> docs;
  docs.push_back(*std::move(doc));
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Build(docs, "zenlead::t", {});
  return model.ok() ? "OK" : std::string(model.status().message());
}

constexpr char kCrd[] = R"(
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.x.io}
spec:
  group: x.io
  names: {kind: Thing, plural: things}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object, properties: {a: {type: string}}}
  - name: v2
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, properties: {b: {type: string}}}
)";

TEST(SchemaTest, CrdTakesTheStorageVersionOrTheOneAskedFor) {
  absl::StatusOr<Document> doc = ParseDocument("crd.yaml", kCrd, "");
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_EQ(doc->types.size(), 1u);
  const TypeDecl& thing = doc->types[0];
  EXPECT_EQ(thing.name, "Thing");
  EXPECT_EQ(thing.gvk->ApiVersion(), "x.io/v2");
  EXPECT_EQ(thing.resource->plural, "things");
  EXPECT_FALSE(thing.resource->namespaced);
  EXPECT_TRUE(thing.resource->status_subresource);
  EXPECT_NE(thing.schema->FindProperty("b"), nullptr);
  EXPECT_EQ(thing.schema->at.path, "spec.versions[1].schema.openAPIV3Schema");

  absl::StatusOr<Document> v1 = ParseDocument("crd.yaml", kCrd, "v1");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->types[0].gvk->version, "v1");
  EXPECT_FALSE(v1->types[0].resource->status_subresource);
  EXPECT_THAT(
      std::string(ParseDocument("crd.yaml", kCrd, "v3").status().message()),
      HasSubstr("spec.versions: no version \"v3\" (versions: v1, v2)"));
}

TEST(SchemaTest, QuotedScalarsAreStrings) {
  absl::StatusOr<Document> doc = ParseDocument("t.yaml", R"(
A:
  type: object
  properties:
    s: {type: string, enum: ["True", "1", "null"], default: "1"}
    n: {type: integer, default: 0x10}
)",
                                               "");
  ASSERT_TRUE(doc.ok()) << doc.status();
  const Schema* s = doc->types[0].schema->FindProperty("s");
  EXPECT_THAT(s->enum_values, ElementsAre("True", "1", "null"));
  EXPECT_EQ(*s->default_value, "1");
  EXPECT_EQ(*doc->types[0].schema->FindProperty("n")->default_value, 16);
  // Unquoted, True is a boolean, which a string enum rejects.
  EXPECT_THAT(
      BuildError(
          "A: {type: object, properties: {s: {type: string, enum: [True]}}}"),
      HasSubstr(
          "enum value does not fit the type: expected a string, got true"));
}

TEST(SchemaTest, SupportedSpellingsOfAllOfAndAnyOf) {
  EXPECT_EQ(BuildError(R"(
A:
  type: object
  properties:
    b: {description: x, allOf: [{$ref: "#/B"}]}
    p: {anyOf: [{type: string}, {type: integer}], x-kubernetes-int-or-string: true}
B: {type: object, properties: {c: {type: string}}}
)"),
            "OK");
  EXPECT_THAT(
      BuildError("A: {type: object, properties: {p: {anyOf: [{type: string}, "
                 "{type: boolean}], x-kubernetes-int-or-string: true}}}"),
      HasSubstr("A.properties.p.anyOf: anyOf is not supported"));
  EXPECT_THAT(
      BuildError("A: {type: object, properties: {p: {anyOf: [{type: string}, "
                 "{type: integer}]}}}"),
      HasSubstr("anyOf is not supported"));
}

TEST(SchemaTest, StructuralMistakes) {
  EXPECT_THAT(BuildError("A: {type: object, properties: {p: {type: array}}}"),
              HasSubstr("A.properties.p: an array needs items"));
  EXPECT_THAT(
      BuildError(
          "A: {type: object, required: [q], properties: {p: {type: string}}}"),
      HasSubstr(
          "A.required: required field \"q\" is not among the properties"));
  EXPECT_THAT(
      BuildError(
          "A: {type: object, properties: {p: {type: string, minimum: 1}}}"),
      HasSubstr("A.properties.p.minimum: minimum only applies to numbers"));
  EXPECT_THAT(
      BuildError("A: {type: object, properties: {p: {description: untyped}}}"),
      HasSubstr("A.properties.p: no type"));
  EXPECT_THAT(BuildError("a: {type: object, properties: {p: {type: string}}}"),
              HasSubstr("a type name must be UpperCamelCase"));
  EXPECT_THAT(
      BuildError(
          "A: {type: object, properties: {p: {$ref: \"#/B\", type: string}}}\n"
          "B: {type: string}"),
      HasSubstr("\"type\" next to $ref is not supported"));
  EXPECT_THAT(
      BuildError(
          "A: {type: object, properties: {p: {type: number, minimum: 0.5, "
          "default: high}}}"),
      HasSubstr("default \"high\" does not fit the schema: expected a number"));
  EXPECT_THAT(
      BuildError(
          "A: {type: object, properties: {p: {type: string, enum: [a, b], "
          "default: c}}}"),
      HasSubstr("\"c\" is not one of the enum values"));
  EXPECT_THAT(
      BuildError("A: {type: object, properties: {podIP: {type: string}, "
                 "pod_ip: {type: string}}}"),
      HasSubstr("fields \"podIP\" and \"pod_ip\" would both become the C++ "
                "member pod_ip"));
}

TEST(ModelTest, NestedTypeNames) {
  EXPECT_THAT(StructNames(R"(
Pool:
  type: object
  properties:
    spec:
      type: object
      properties:
        policies:
          type: array
          items: {type: object, properties: {a: {type: string}}}
        byName:
          type: object
          additionalProperties: {type: object, properties: {b: {type: string}}}
    status:
      type: object
      properties:
        currentHolder: {type: object, properties: {name: {type: string}}}
)"),
              ElementsAre("Policy", "ByNameValue", "PoolSpec", "CurrentHolder",
                          "PoolStatus", "Pool"));
}

TEST(ModelTest, ClashesArePrefixedWithTheParent) {
  // "validate" would be a type named Validate, the name of a generated
  // function: it is prefixed like a clash.
  EXPECT_THAT(StructNames(R"(
Car:
  type: object
  properties:
    front: {type: object, properties: {wheel: {type: object, properties: {a: {type: string}}}}}
    back: {type: object, properties: {wheel: {type: object, properties: {b: {type: string}}}}}
    validate: {type: object, properties: {c: {type: string}}}
)"),
              ElementsAre("FrontWheel", "Front", "BackWheel", "Back",
                          "CarValidate", "Car"));
}

TEST(ModelTest, KindsGetAListType) {
  std::vector<Document> docs;
  absl::StatusOr<Document> doc = ParseDocument("crd.yaml", kCrd, "");
  ASSERT_TRUE(doc.ok());
  docs.push_back(*std::move(doc));
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Build(docs, "zenlead::t", {});
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<const StructDef*>& structs = (*model)->StructsOf(docs[0]);
  ASSERT_EQ(structs.size(), 2u);
  EXPECT_EQ(structs[1]->name, "ThingList");
  EXPECT_EQ(structs[1]->list_of, structs[0]);
  EXPECT_EQ(structs[0]->list, structs[1]);
  EXPECT_EQ(structs[1]->fields.back().json_name, "items");
  EXPECT_TRUE(structs[1]->fields.back().required);
}

}  // namespace
}  // namespace zenlead::codegen

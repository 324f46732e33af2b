// Compile-and-run tests of generated code: the feature schemas of
// codegen/testdata/features/ are generated at build time (BUILD.bazel there)
// and used here: JSON -> struct -> JSON identity with unknown fields at
// several levels, defaults, validation messages with field paths, naming,
// and the typed client over a fake zenlead::client::Client.
#include <deque>
#include <string>
#include <type_traits>
#include <vector>

#include "api/client/errors.h"
#include "codegen/testdata/arrays.h"
#include "codegen/testdata/crd.h"
#include "codegen/testdata/defaults.h"
#include "codegen/testdata/enums.h"
#include "codegen/testdata/int_or_string.h"
#include "codegen/testdata/maps.h"
#include "codegen/testdata/nested.h"
#include "codegen/testdata/optional_fields.h"
#include "codegen/testdata/refs_main.h"
#include "codegen/testdata/required_fields.h"
#include "codegen/testdata/unknown_fields.h"
#include "codegen/testdata/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::codegen_test {
namespace {

using ::testing::ElementsAre;
using json = nlohmann::json;

// The message of a failed status, or "OK".
template <typename T>
std::string Message(const absl::StatusOr<T>& v) {
  return v.ok() ? "OK" : std::string(v.status().message());
}
std::string Message(const absl::Status& s) {
  return s.ok() ? "OK" : std::string(s.message());
}

// --- optional fields -------------------------------------------------------

TEST(OptionalFieldsTest, RoundTripAndAbsence) {
  using optional_fields::Widget;
  json in = json::parse(
      R"({"name":"w","size":3,"weight":1.5,"enabled":true,"serial":9007199254740993})");
  absl::StatusOr<Widget> w = Widget::FromJson(in);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->name, "w");
  EXPECT_EQ(w->size, 3);
  EXPECT_EQ(w->weight, 1.5);
  EXPECT_EQ(w->enabled, true);
  EXPECT_EQ(w->serial, 9007199254740993LL);
  EXPECT_EQ(w->ToJson(), in);

  // Null is absent for the program, and written back as null.
  json sparse = json::parse(R"({"name":null})");
  absl::StatusOr<Widget> s = Widget::FromJson(sparse);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->name.has_value());
  EXPECT_EQ(s->ToJson(), sparse);
  EXPECT_EQ(Widget().ToJson(), json::object());
}

TEST(OptionalFieldsTest, TypeErrorsNameTheField) {
  using optional_fields::Widget;
  EXPECT_EQ(Message(Widget::FromJson(json::parse(R"({"size":"big"})"))),
            "size: expected integer, got string");
  EXPECT_EQ(Message(Widget::FromJson(json::parse(R"({"size":3000000000})"))),
            "size: expected a 32-bit integer, got 3000000000");
  EXPECT_EQ(Message(Widget::FromJson(json::parse(R"({"enabled":"yes"})"))),
            "enabled: expected boolean, got string");
  EXPECT_EQ(Message(Widget::FromJson(json::parse("[]"))),
            "expected object, got array");
}

// --- required fields -------------------------------------------------------

TEST(RequiredFieldsTest, MissingRequiredFieldIsAnError) {
  using required_fields::Part;
  EXPECT_EQ(Message(Part::FromJson(json::parse(R"({"id":"a","label":"x"})"))),
            "count: required field is missing");
  EXPECT_EQ(Message(Part::FromJson(
                json::parse(R"({"id":"a","count":null,"label":"x"})"))),
            "count: required field is missing");
  absl::StatusOr<Part> p =
      Part::FromJson(json::parse(R"({"id":"a","count":2,"label":"x"})"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->count, 2);
  Part fresh;
  fresh.id = "b";
  // Required members are always written.
  EXPECT_EQ(fresh.ToJson(), json::parse(R"({"id":"b","count":0,"label":""})"));
}

// --- maps ------------------------------------------------------------------

TEST(MapsTest, RoundTripAndPaths) {
  using maps::Inventory;
  json in = json::parse(R"({
    "labels": {"app": "web"},
    "counts": {"a": 1},
    "aliases": {"x": ["y", "z"]},
    "shelves": {"top": {"capacity": 3, "color": "red"}},
    "extras": {"k": {"deep": [1, 2]}, "n": 5}})");
  absl::StatusOr<Inventory> inv = Inventory::FromJson(in);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->labels->at("app"), "web");
  EXPECT_THAT(inv->aliases->at("x"), ElementsAre("y", "z"));
  EXPECT_EQ(inv->shelves->at("top").capacity, 3);
  EXPECT_EQ(inv->shelves->at("top").unknown_fields,
            json::parse(R"({"color":"red"})"));
  EXPECT_EQ(inv->extras->at("n"), 5);
  EXPECT_EQ(inv->ToJson(), in);

  EXPECT_EQ(
      Message(Inventory::FromJson(json::parse(R"({"labels":{"app":1}})"))),
      "labels[app]: expected string, got integer");
  EXPECT_EQ(Message(Inventory::FromJson(
                json::parse(R"({"shelves":{"top":{"capacity":"x"}}})"))),
            "shelves[top].capacity: expected integer, got string");
}

TEST(MapsTest, Validation) {
  maps::Inventory inv;
  inv.counts = {{"a", -1}, {"b", 1}, {"c", 2}, {"d", 3}};
  EXPECT_EQ(Message(Validate(inv)),
            "counts: must have at most 3 entries, got 4; "
            "counts[a]: must be greater than or equal to 0, got -1");
}

// --- arrays ----------------------------------------------------------------

TEST(ArraysTest, RoundTripAndPaths) {
  using arrays::Playlist;
  json in = json::parse(
      R"({"tags":["a"],"tracks":[{"name":"x","seconds":3}],"matrix":[[1,2],[3]]})");
  absl::StatusOr<Playlist> p = Playlist::FromJson(in);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p->tracks)[0].seconds, 3);
  EXPECT_EQ((*p->matrix)[1][0], 3);
  EXPECT_EQ(p->ToJson(), in);
  EXPECT_EQ(Message(Playlist::FromJson(json::parse(
                R"({"tracks":[{"name":"x"},{"name":"y","seconds":"long"}]})"))),
            "tracks[1].seconds: expected integer, got string");
  EXPECT_EQ(
      Message(Playlist::FromJson(json::parse(R"({"tracks":[{"seconds":1}]})"))),
      "tracks[0].name: required field is missing");
  EXPECT_EQ(Message(Playlist::FromJson(json::parse(R"({"matrix":[[1],"x"]})"))),
            "matrix[1]: expected array, got string");
}

TEST(ArraysTest, Validation) {
  using arrays::Playlist;
  absl::StatusOr<Playlist> p = Playlist::FromJson(json::parse(R"({
    "tags": ["a", "", "b", "c"],
    "tracks": [{"name": "x"}, {"name": "x"}],
    "matrix": [[1], [2, 12]]})"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Message(Validate(*p)),
            "tags: must have at most 3 items, got 4; "
            "tags[1]: must be at least 1 character long, got 0; "
            "tracks[1]: duplicate entry with name=\"x\"; "
            "matrix[1][1]: must be less than or equal to 9, got 12");
  p->tracks = std::vector<arrays::Track>();
  p->tags.reset();
  p->matrix.reset();
  EXPECT_EQ(Message(Validate(*p)), "tracks: must have at least 1 item, got 0");
}

// --- enums -----------------------------------------------------------------

TEST(EnumsTest, ConstantsAndValidation) {
  using enums::Light;
  EXPECT_STREQ(Light::kColorRed, "red");
  EXPECT_STREQ(Light::kModeBlinkingFast, "blinking-fast");
  EXPECT_STREQ(Light::kModeTrue, "True");
  Light light;
  light.color = Light::kColorGreen;
  light.level = 2;
  light.modes = {Light::kModeDay};
  EXPECT_TRUE(Validate(light).ok());
  light.color = "blue";
  light.level = 5;
  light.modes = {"day", "dusk"};
  EXPECT_EQ(
      Message(Validate(light)),
      "color: must be one of \"red\", \"yellow\", \"green\", got \"blue\"; "
      "level: must be one of 1, 2, 3, got 5; "
      "modes[1]: must be one of \"day\", \"night\", got \"dusk\"");
}

// --- int-or-string ---------------------------------------------------------

TEST(IntOrStringTest, BothFormsRoundTrip) {
  using int_or_string::Port;
  json in = json::parse(R"({"target":8080,"limit":"50%"})");
  absl::StatusOr<Port> p = Port::FromJson(in);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->target->is_int());
  EXPECT_EQ(p->target->int_value(), 8080);
  EXPECT_EQ(p->limit->string_value(), "50%");
  EXPECT_EQ(p->ToJson(), in);
  EXPECT_TRUE(Validate(*p).ok());
  EXPECT_EQ(Message(Port::FromJson(json::parse(R"({"target":true})"))),
            "target: expected integer or string, got boolean");

  p->limit = openapi::IntOrString("abc");
  EXPECT_EQ(Message(Validate(*p)),
            "limit: must match the pattern \"^[0-9]+%?$\", got \"abc\"");
  p->limit = openapi::IntOrString(150);
  EXPECT_EQ(Message(Validate(*p)),
            "limit: must be less than or equal to 100, got 150");

  ApplyDefaults(*p);
  EXPECT_EQ(p->fallback, openapi::IntOrString("http"));
}

// --- defaults --------------------------------------------------------------

TEST(DefaultsTest, AbsentFieldsGetSchemaDefaults) {
  using defaults::Server;
  EXPECT_EQ(Server().replicas, 1);  // a required field's default
  absl::StatusOr<Server> s = Server::FromJson(json::parse(R"({
    "replicas": 2, "port": 9,
    "listeners": [{"port": 80}, {"protocol": "UDP"}]})"));
  ASSERT_TRUE(s.ok()) << s.status();
  ApplyDefaults(*s);
  EXPECT_EQ(s->replicas, 2);
  EXPECT_EQ(s->port, 9);  // set values are kept
  EXPECT_EQ(s->host, "localhost");
  EXPECT_EQ(s->ratio, 0.5);
  EXPECT_EQ(s->debug, false);
  EXPECT_THAT(*s->tags, ElementsAre("a", "b"));
  // default: {} creates the object, whose own defaults then apply.
  ASSERT_TRUE(s->limits.has_value());
  EXPECT_EQ(s->limits->cpu, "100m");
  EXPECT_FALSE(s->limits->memory.has_value());
  EXPECT_EQ((*s->listeners)[0].protocol, "TCP");
  EXPECT_EQ((*s->listeners)[1].protocol, "UDP");
  EXPECT_EQ(s->ToJson(), json::parse(R"({
    "replicas": 2, "port": 9, "host": "localhost", "ratio": 0.5, "debug": false,
    "tags": ["a", "b"], "limits": {"cpu": "100m"},
    "listeners": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}]})"));
  Server again = *s;
  ApplyDefaults(again);
  EXPECT_EQ(again, *s);  // idempotent
}

// --- nested ----------------------------------------------------------------

TEST(NestedTest, NamesAndPaths) {
  static_assert(std::is_same_v<decltype(nested::Car::spec),
                               std::optional<nested::CarSpec>>);
  static_assert(std::is_same_v<decltype(nested::CarSpec::engine),
                               std::optional<nested::CarSpecEngine>>);
  static_assert(std::is_same_v<decltype(nested::CarStatus::engine),
                               std::optional<nested::CarStatusEngine>>);
  static_assert(std::is_same_v<decltype(nested::CarSpec::wheels),
                               std::optional<std::vector<nested::Wheel>>>);
  static_assert(std::is_same_v<decltype(nested::CarStatus::driver),
                               std::optional<nested::Person>>);
  static_assert(std::is_same_v<decltype(nested::CarStatus::owner),
                               std::optional<nested::Owner>>);
  json in = json::parse(R"({
    "spec": {"engine": {"cylinders": 0}, "wheels": [{"size": 17}]},
    "status": {"engine": {"running": true}, "driver": {"name": "a"}, "owner": {"name": "b"}}})");
  absl::StatusOr<nested::Car> car = nested::Car::FromJson(in);
  ASSERT_TRUE(car.ok());
  EXPECT_EQ(car->status->driver->name, "a");
  EXPECT_EQ(car->ToJson(), in);
  EXPECT_EQ(Message(Validate(*car)),
            "spec.engine.cylinders: must be greater than or equal to 1, got 0");
  EXPECT_EQ(Message(nested::Car::FromJson(
                json::parse(R"({"spec":{"wheels":[{"size":"XL"}]}})"))),
            "spec.wheels[0].size: expected integer, got string");
}

// --- unknown fields --------------------------------------------------------

TEST(UnknownFieldsTest, KeptAtEveryLevel) {
  using unknown_fields::Envelope;
  json in = json::parse(R"({
    "kind": "x", "top": 42,
    "header": {"id": "1", "namespace": "ns", "trace": "abc"},
    "payload": {"any": [1, {"x": null}]},
    "items": [{"key": "a", "continue": true, "extra": {"z": 1}}, {"key": "b"}]})");
  absl::StatusOr<Envelope> e = Envelope::FromJson(in);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->unknown_fields, json::parse(R"({"kind":"x","top":42})"));
  EXPECT_EQ(e->header->unknown_fields, json::parse(R"({"trace":"abc"})"));
  EXPECT_EQ((*e->items)[0].unknown_fields, json::parse(R"({"extra":{"z":1}})"));
  EXPECT_EQ((*e->items)[1].unknown_fields, json::object());
  // Reserved words: *_field members.
  EXPECT_EQ(e->header->namespace_field, "ns");
  EXPECT_EQ((*e->items)[0].continue_field, true);
  EXPECT_EQ(e->payload, json::parse(R"({"any":[1,{"x":null}]})"));
  EXPECT_EQ(e->ToJson(), in);

  // A read-modify-write keeps what this program does not model.
  e->header->id = "2";
  json out = e->ToJson();
  EXPECT_EQ(out["header"],
            json::parse(R"({"id":"2","namespace":"ns","trace":"abc"})"));
  EXPECT_EQ(out["top"], 42);

  Envelope other = *e;
  EXPECT_EQ(other, *e);
  other.header->unknown_fields["trace"] = "changed";
  EXPECT_NE(other, *e);
}

// --- validation ------------------------------------------------------------

TEST(ValidationTest, EveryViolationWithItsPath) {
  using validation::Account;
  absl::StatusOr<Account> a = Account::FromJson(json::parse(R"({
    "name": "Ab", "email": "none", "minBalance": 0, "maxBalance": 2000,
    "openedAt": "yesterday", "owners": [{"name": "ok"}, {"name": ""}]})"));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::Status status = Validate(*a);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "name: must be at least 3 characters long, got 2; "
            "name: must match the pattern \"^[a-z][a-z0-9-]*$\", got \"Ab\"; "
            "email: must match the pattern \"@\", got \"none\"; "
            "minBalance: must be greater than 0.0, got 0.0; "
            "maxBalance: must be less than or equal to 1000.5, got 2000.0; "
            "openedAt: must be an RFC 3339 date-time like "
            "\"2006-01-02T15:04:05Z\", got "
            "\"yesterday\"; "
            "owners[1].name: must be at least 1 character long, got 0");
  absl::StatusOr<Account> good = Account::FromJson(json::parse(R"({
    "name": "abc-1", "email": "a@b", "minBalance": 0.01, "maxBalance": 1000.5,
    "openedAt": "2024-01-02T03:04:05Z"})"));
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(Validate(*good).ok());
}

// --- refs ------------------------------------------------------------------

TEST(RefsTest, TypesFromAnotherFile) {
  using refs::Order;
  static_assert(
      std::is_same_v<decltype(Order::customer), std::optional<refs::Customer>>);
  absl::StatusOr<Order> o = Order::FromJson(json::parse(
      R"({"id":"x","customer":{"name":"a name longer than twenty"},"lines":[{"sku":"a"}],
          "note":"a note that is too long"})"));
  ASSERT_TRUE(o.ok());
  ApplyDefaults(*o);
  EXPECT_EQ((*o->lines)[0].quantity, 1);
  EXPECT_EQ(Message(Validate(*o)),
            "id: must match the pattern \"^o-[0-9]+$\", got \"x\"; "
            "customer.name: must be at most 20 characters long, got 25; "
            "note: must be at most 20 characters long, got 23");
}

// --- CRD and typed client --------------------------------------------------

// Records the calls of the typed client and answers from a script.
class FakeClient : public client::Client {
 public:
  struct Call {
    std::string verb;
    client::Resource resource;
    std::string ns;
    std::string name;
    json body;
    std::string subresource;
    bool force = false;
  };

  absl::StatusOr<json> Get(const client::Resource& r, absl::string_view ns,
                           absl::string_view name) override {
    calls.push_back(
        {"get", r, std::string(ns), std::string(name), {}, "", false});
    return Next();
  }
  absl::StatusOr<json> List(const client::Resource& r, absl::string_view ns,
                            const client::ListOptions& options) override {
    calls.push_back(
        {"list", r, std::string(ns), options.label_selector, {}, "", false});
    return Next();
  }
  absl::StatusOr<json> Create(const client::Resource& r, absl::string_view ns,
                              const json& obj) override {
    calls.push_back({"create", r, std::string(ns), "", obj, "", false});
    return Next();
  }
  absl::StatusOr<json> Update(const client::Resource& r, absl::string_view ns,
                              const json& obj) override {
    calls.push_back({"update", r, std::string(ns), "", obj, "", false});
    return Next();
  }
  absl::StatusOr<json> UpdateStatus(const client::Resource& r,
                                    absl::string_view ns,
                                    const json& obj) override {
    calls.push_back({"update", r, std::string(ns), "", obj, "status", false});
    return Next();
  }
  absl::Status Delete(const client::Resource& r, absl::string_view ns,
                      absl::string_view name,
                      const client::DeleteOptions& options) override {
    calls.push_back({"delete", r, std::string(ns), std::string(name),
                     options.uid ? json(*options.uid) : json(), "", false});
    return absl::OkStatus();
  }
  absl::StatusOr<json> Patch(const client::Resource& r, absl::string_view ns,
                             absl::string_view name, client::PatchType type,
                             const json& patch,
                             absl::string_view subresource) override {
    return absl::UnimplementedError("patch");
  }
  absl::StatusOr<json> Apply(const client::Resource& r, absl::string_view ns,
                             absl::string_view name, const json& obj,
                             const client::ApplyOptions& options,
                             absl::string_view subresource) override {
    calls.push_back({"apply", r, std::string(ns), std::string(name), obj,
                     std::string(subresource), options.force});
    return Next();
  }
  absl::Status Watch(const client::Resource& r, absl::string_view ns,
                     const client::WatchOptions& options,
                     const client::WatchHandler& handler) override {
    calls.push_back({"watch", r, std::string(ns), "", {}, "", false});
    for (const client::WatchEvent& event : events) {
      if (!handler(event)) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<json> Next() {
    if (answers.empty()) return absl::InternalError("no scripted answer");
    absl::StatusOr<json> a = answers.front();
    answers.pop_front();
    return a;
  }

  std::deque<absl::StatusOr<json>> answers;
  std::vector<client::WatchEvent> events;
  std::vector<Call> calls;
};

TEST(CrdTest, KindListAndMetadata) {
  using crd::Gadget;
  static_assert(std::is_same_v<decltype(Gadget::metadata),
                               std::optional<k8s::ObjectMeta>>);
  static_assert(std::is_same_v<decltype(crd::GadgetList::metadata),
                               std::optional<k8s::ListMeta>>);
  EXPECT_STREQ(Gadget::kApiVersion, "test.zen-lead.io/v1");
  EXPECT_STREQ(Gadget::kKind, "Gadget");
  absl::StatusOr<Gadget> g = Gadget::FromJson(json::parse(
      R"({"apiVersion":"test.zen-lead.io/v1","kind":"Gadget",
          "metadata":{"name":"g","namespace":"ns","managedFields":[{"manager":"x"}]},
          "spec":{}})"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->metadata->namespace_field, "ns");
  ApplyDefaults(*g);
  EXPECT_EQ(g->spec->size, 3);
  g->spec->size = 11;
  EXPECT_EQ(Message(Validate(*g)),
            "spec.size: must be less than or equal to 10, got 11");
  EXPECT_EQ(g->ToJson()["metadata"]["managedFields"],
            json::parse(R"([{"manager":"x"}])"));
}

TEST(CrdTest, TypedClientVerbs) {
  using crd::Gadget;
  FakeClient fake;
  crd::GadgetClient gadgets(fake);
  EXPECT_EQ(crd::GadgetClient::Resource().ApiVersion(), "test.zen-lead.io/v1");
  EXPECT_EQ(crd::GadgetClient::Resource().resource, "gadgets");
  EXPECT_TRUE(crd::GadgetClient::Resource().namespaced);

  Gadget g;
  g.metadata.emplace();
  g.metadata->name = "g1";
  g.spec.emplace();
  g.spec->size = 4;
  json stored =
      json::parse(R"({"apiVersion":"test.zen-lead.io/v1","kind":"Gadget",
      "metadata":{"name":"g1","uid":"u1","resourceVersion":"7"},"spec":{"size":4}})");

  fake.answers.push_back(stored);
  absl::StatusOr<Gadget> created = gadgets.Create("ns", g);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->metadata->uid, "u1");
  ASSERT_EQ(fake.calls.size(), 1u);
  EXPECT_EQ(fake.calls[0].verb, "create");
  EXPECT_EQ(fake.calls[0].ns, "ns");
  EXPECT_EQ(fake.calls[0].body,
            json::parse(R"({"apiVersion":"test.zen-lead.io/v1",
      "kind":"Gadget","metadata":{"name":"g1"},"spec":{"size":4}})"));

  fake.answers.push_back(stored);
  ASSERT_TRUE(gadgets.Get("ns", "g1").ok());
  EXPECT_EQ(fake.calls.back().name, "g1");

  fake.answers.push_back(absl::NotFoundError("gadgets \"nope\" not found"));
  EXPECT_EQ(gadgets.Get("ns", "nope").status().code(),
            absl::StatusCode::kNotFound);

  fake.answers.push_back(json::parse(R"({"spec":{"size":"big"}})"));
  absl::StatusOr<Gadget> bad = gadgets.Get("ns", "g1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Message(bad),
            "decoding the API server's Gadget: spec.size: expected integer, "
            "got string");

  fake.answers.push_back(json::parse(R"({"kind":"GadgetList",
      "metadata":{"resourceVersion":"9","continue":"next"},"items":[)" +
                                     stored.dump() + "]}"));
  client::ListOptions list_options;
  list_options.label_selector = "a=b";
  absl::StatusOr<crd::GadgetList> list = gadgets.List("ns", list_options);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->metadata->continue_field, "next");
  EXPECT_EQ(fake.calls.back().name, "a=b");

  fake.answers.push_back(stored);
  ASSERT_TRUE(gadgets.Update("ns", *created).ok());
  EXPECT_EQ(fake.calls.back().body["metadata"]["resourceVersion"], "7");

  created->status.emplace();
  created->status->ready = true;
  fake.answers.push_back(stored);
  ASSERT_TRUE(gadgets.UpdateStatus("ns", *created).ok());
  EXPECT_EQ(fake.calls.back().subresource, "status");
  EXPECT_EQ(fake.calls.back().body["status"], json::parse(R"({"ready":true})"));

  client::ApplyOptions force;
  force.force = true;
  fake.answers.push_back(stored);
  ASSERT_TRUE(gadgets.Apply("ns", g, force).ok());
  EXPECT_EQ(fake.calls.back().verb, "apply");
  EXPECT_EQ(fake.calls.back().name, "g1");
  EXPECT_EQ(fake.calls.back().subresource, "");
  EXPECT_TRUE(fake.calls.back().force);
  fake.answers.push_back(stored);
  ASSERT_TRUE(gadgets.ApplyStatus("ns", *created).ok());
  EXPECT_EQ(fake.calls.back().subresource, "status");

  const size_t before = fake.calls.size();
  Gadget nameless;
  EXPECT_EQ(Message(gadgets.Apply("ns", nameless)),
            "apply Gadget: metadata.name is required");
  EXPECT_EQ(fake.calls.size(), before);  // nothing sent

  client::DeleteOptions precondition;
  precondition.uid = "u1";
  EXPECT_TRUE(gadgets.Delete("ns", "g1", precondition).ok());
  EXPECT_EQ(fake.calls.back().verb, "delete");
  EXPECT_EQ(fake.calls.back().body, "u1");
}

TEST(CrdTest, TypedWatch) {
  FakeClient fake;
  crd::GadgetClient gadgets(fake);
  fake.events = {
      {client::WatchEvent::Type::kAdded,
       json::parse(R"({"metadata":{"name":"a"},"spec":{"size":1}})")},
      {client::WatchEvent::Type::kModified,
       json::parse(R"({"metadata":{"name":"a"},"spec":{"size":2}})")},
      {client::WatchEvent::Type::kError,
       json::parse(
           R"({"kind":"Status","status":"Failure","reason":"Expired","code":410,
                      "message":"too old resource version"})")},
  };
  std::vector<int32_t> sizes;
  absl::Status status =
      gadgets.Watch("ns", {}, [&](const crd::GadgetWatchEvent& e) {
        sizes.push_back(*e.object.spec->size);
        return true;
      });
  EXPECT_THAT(sizes, ElementsAre(1, 2));
  EXPECT_TRUE(client::IsGone(status)) << status;

  // The handler stops the watch.
  sizes.clear();
  status = gadgets.Watch("ns", {}, [&](const crd::GadgetWatchEvent& e) {
    sizes.push_back(*e.object.spec->size);
    return false;
  });
  EXPECT_TRUE(status.ok());
  EXPECT_THAT(sizes, ElementsAre(1));

  // An object that does not decode ends the watch with the field's path.
  fake.events = {{client::WatchEvent::Type::kAdded,
                  json::parse(R"({"spec":{"size":"x"}})")}};
  status = gadgets.Watch("ns", {},
                         [](const crd::GadgetWatchEvent&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(
      Message(status),
      "decoding a watched Gadget: spec.size: expected integer, got string");
}

}  // namespace
}  // namespace zenlead::codegen_test

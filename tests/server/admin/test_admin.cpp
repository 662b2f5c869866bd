// The admin listener: health, readiness, stats.

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace edged::test;

namespace {

const std::string routes = R"(
routes:
  - name: hello
    match: { path: /hello, methods: [GET] }
    handler: { static: { status: 200, body: "hello, world\n", headers: { content-type: text/plain } } }
  - name: upload
    match: { path: /upload, methods: [POST, PUT] }
    handler: { static: { status: 201, body: "stored\n" } }
  - name: old
    match: { prefix: /old/ }
    handler: { redirect: { status: 301, location: "https://example.com/new/", keep_path: true, keep_query: true } }
  - name: moved
    match: { path: /moved }
    handler: { redirect: { status: 308, location: "/hello" } }
  - name: only-example
    match: { prefix: /, host: example.org }
    handler: { static: { status: 200, body: "example.org\n" } }
)";

}  // namespace

TEST_CASE("admin: healthz, readyz turns 503 on shutdown", "[admin][shutdown]") {
    running_server s(base_config() + "shutdown: { drain_delay: 1s, grace: 5s }\n" + routes);
    auto admin_get = [&](const std::string& target) {
        raw_client c(s.admin_port());
        c.send(get_request(target));
        return c.read();
    };
    CHECK(admin_get("/healthz").result_int() == 200);
    CHECK(admin_get("/readyz").result_int() == 200);
    CHECK(admin_get("/nope").result_int() == 404);

    raw_client busy(s.port());
    busy.send(get_request("/hello"));
    REQUIRE(busy.read().result_int() == 200);

    s.shutdown();
    REQUIRE(eventually([&] { return admin_get("/readyz").result_int() == 503; }));
    CHECK(admin_get("/healthz").result_int() == 200);
    // During the drain delay the public listener still serves; responses announce the close.
    busy.send(get_request("/hello"));
    auto res = busy.read();
    CHECK(res.result_int() == 200);
    CHECK(res[http::field::connection] == "close");
    s.join();
    CHECK(s.get().summary().graceful);
}

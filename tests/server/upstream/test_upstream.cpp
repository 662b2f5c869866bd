// The upstream client and its per-thread pools, through the proxy against a local origin.

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "harness.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/outcome.hpp"
#include "sink.hpp"

using namespace edged::test;
using edged::lifecycle::outcome;

TEST_CASE("upstream max_connections: a call waits for a connection to come free",
          "[proxy][limits]") {
    sink_server origin;
    origin.hold(30s);
    running_server s(proxy_config(origin.port(), ", timeout: 10s, max_connections: 1"));
    raw_client first(s.port());
    first.send(get_request("/api/one"));
    REQUIRE(origin.wait_for(1));  // the only connection is now busy at the origin
    raw_client second(s.port());
    second.send(get_request("/api/two"));
    // The second call cannot open a connection of its own: it is not at the origin yet.
    std::this_thread::sleep_for(200ms);
    CHECK(origin.records().size() == 1);
    origin.release();
    CHECK(first.read().result_int() == 200);
    CHECK(second.read().result_int() == 200);
    REQUIRE(origin.wait_for(2));
    CHECK(origin.records()[1].target == "/api/two");
    CHECK(origin.connections_seen() == 1);  // the freed connection was handed on
}

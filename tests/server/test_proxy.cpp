// The proxy handler and the asynchronous handler path, against a local origin (sink_server).

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "harness.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/outcome.hpp"
#include "sink.hpp"

using namespace edged::test;
using edged::lifecycle::outcome;

namespace {

std::uint16_t refused_port() {
    net::io_context ioc;
    tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

std::string proxy_config(std::uint16_t origin_port, const std::string& upstream_extra = "",
                         const std::string& server_extra = "",
                         const std::string& route_extra = "") {
    return base_config(server_extra) +
           "upstreams:\n  origin: { url: \"http://127.0.0.1:" + std::to_string(origin_port) + "\"" +
           upstream_extra + " }\n" + R"(
routes:
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin, max_response_bytes: 1KiB } }
)" + route_extra;
}

}  // namespace

TEST_CASE("proxy forwards method, path, query, headers and body", "[proxy]") {
    sink_server origin;
    running_server s(proxy_config(origin.port()));
    raw_client c(s.port());
    c.send(
        "POST /api/items?x=1 HTTP/1.1\r\nHost: edge.example\r\nX-Request-Id: p-1\r\n"
        "X-Forwarded-For: 10.0.0.1\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
        "X-Custom: yes\r\nContent-Length: 5\r\n\r\nhello");
    auto res = c.read();
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "ok\n");
    CHECK(res["X-Request-Id"] == "p-1");
    REQUIRE(origin.wait_for(1));
    auto r = origin.records()[0];
    CHECK(r.method == "POST");
    CHECK(r.target == "/api/items?x=1");
    CHECK(r.body == "hello");
    CHECK(r.headers.at("x-custom") == "yes");
    CHECK(r.headers.count("x-secret") == 0);  // named by Connection: hop-by-hop
    CHECK(r.headers.at("x-forwarded-for") == "10.0.0.1, 127.0.0.1");
    CHECK(r.headers.at("x-forwarded-proto") == "http");
    CHECK(r.headers.at("x-forwarded-host") == "edge.example");
    CHECK(r.headers.at("x-request-id") == "p-1");
    CHECK(r.headers.at("traceparent").size() == 55);
    // Host names the upstream; one Content-Length, computed by edged; no Connection header.
    CHECK(r.headers.at("host") == "127.0.0.1:" + std::to_string(origin.port()));
    CHECK(r.headers.at("content-length") == "5");
    CHECK(r.headers.count("connection") == 0);

    // The upstream connection is reused for the next request; a GET without a body carries no
    // Content-Length, a POST without a body says 0.
    c.send(get_request("/api/again"));
    CHECK(c.read().result_int() == 200);
    c.send("POST /api/empty HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    CHECK(c.read().result_int() == 200);
    REQUIRE(origin.wait_for(3));
    CHECK(origin.records()[1].headers.count("content-length") == 0);
    CHECK(origin.records()[2].headers.at("content-length") == "0");
    CHECK(origin.connections_seen() == 1);
}

TEST_CASE("proxy: 502 on connect failure, 504 on upstream timeout", "[proxy]") {
    {
        running_server s(proxy_config(refused_port()));
        raw_client c(s.port());
        c.send(get_request("/api/x"));
        CHECK(c.read().result_int() == 502);
    }
    {
        sink_server origin;
        origin.hold(30s);
        running_server s(proxy_config(origin.port(), ", timeout: 300ms"));
        raw_client c(s.port());
        c.send(get_request("/api/slow"));
        CHECK(c.read().result_int() == 504);
        // The timed-out subrequest's connection was closed, not reused.
        CHECK(origin.wait_until(
            [](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
    }
}

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

TEST_CASE("proxy: a response body over max_response_bytes is a 502", "[proxy]") {
    sink_server origin;  // answers "ok\n", 3 bytes
    std::string cfg = proxy_config(origin.port());
    cfg.replace(cfg.find("max_response_bytes: 1KiB"), 24, "max_response_bytes: 2");
    running_server s(cfg);
    raw_client c(s.port());
    c.send(get_request("/api/big"));
    CHECK(c.read().result_int() == 502);
    REQUIRE(origin.wait_for(1));
}

TEST_CASE("handler timeout: 504 and the subrequest is cancelled", "[proxy][timeouts]") {
    sink_server origin;
    origin.hold(30s);
    running_server s(
        proxy_config(origin.port(), ", timeout: 30s", "  timeouts: { handler: 300ms }\n"));
    raw_client c(s.port());
    c.send(get_request("/api/slow"));
    auto res = c.read();
    CHECK(res.result_int() == 504);
    CHECK(
        origin.wait_until([](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
}

TEST_CASE("max_subrequests: over the bound the proxy answers 503", "[proxy][bounds]") {
    sink_server origin;
    running_server s(
        proxy_config(origin.port(), "", "", "    lifecycle: { max_subrequests: 0 }\n"));
    raw_client c(s.port());
    c.send(get_request("/api/x"));
    CHECK(c.read().result_int() == 503);
    CHECK(origin.records().empty());
    CHECK(s.get().state().tasks.subrequests_rejected == 1);
}

namespace {

// A C++ handler (the embedding API) whose background task burns CPU in slices.
struct burner final : edged::lifecycle::handler {
    edged::lifecycle::response handle(const edged::lifecycle::request&,
                                      edged::lifecycle::context& ctx) override {
        ctx.wait_until("burn", burn());
        edged::lifecycle::response r;
        r.status = 202;
        return r;
    }
    static net::awaitable<void> burn() {
        for (int i = 0; i < 10000; ++i) {
            auto until = std::chrono::steady_clock::now() + 2ms;
            while (std::chrono::steady_clock::now() < until) {
            }
            co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
        }
    }
};

}  // namespace

TEST_CASE("a task that burns CPU past cpu_budget ends cancelled:cpu_budget",
          "[lifecycle][budget]") {
    auto cfg = edged::config::load_string(base_config() + R"(
routes:
  - name: burn
    match: { path: /burn }
    handler: { static: { status: 200 } }
    lifecycle: { cpu_budget: 30ms, wall_budget: 60s }
)",
                                          edged::config::format::yaml);
    edged::lifecycle::log::init("warn");
    edged::server::server srv(std::move(cfg));
    srv.set_handler("burn", std::make_unique<burner>());
    srv.start();
    std::thread t([&] { srv.run(); });
    {
        raw_client c(srv.endpoints()[0].port());
        c.send(get_request("/burn"));
        CHECK(c.read().result_int() == 202);
        CHECK(eventually([&] { return srv.state().tasks.get(outcome::cancelled_cpu_budget) == 1; },
                         20s));
    }
    srv.shutdown();
    t.join();
}

// The built-in handlers through a running server: static, redirect, and proxy against a
// local origin (sink_server), with the asynchronous handler path.

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <thread>

#include "harness.hpp"
#include "lifecycle/outcome.hpp"
#include "sink.hpp"

using namespace edged::test;
using edged::lifecycle::outcome;

TEST_CASE("static and redirect handlers", "[http][handlers]") {
    running_server s(config_with());
    raw_client c(s.port());

    c.send(get_request("/hello"));
    auto res = c.read();
    CHECK(res.result_int() == 200);
    CHECK(res["content-type"] == "text/plain");
    CHECK(res[http::field::content_length] == "13");
    CHECK(res.count(http::field::date) == 1);
    CHECK(res[http::field::server] == "edged");

    c.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    res = c.read(true);
    CHECK(res.result_int() == 200);
    CHECK(res[http::field::content_length] == "13");
    CHECK(res.body().empty());
    // The HEAD response carried no body: the next response starts right after its header.
    c.send(get_request("/hello"));
    CHECK(c.read().body() == "hello, world\n");

    c.send(get_request("/old/a/b?x=1&y=2"));
    res = c.read();
    CHECK(res.result_int() == 301);
    CHECK(res[http::field::location] == "https://example.com/new/a/b?x=1&y=2");

    c.send(get_request("/moved?dropped=1"));
    res = c.read();
    CHECK(res.result_int() == 308);
    CHECK(res[http::field::location] == "/hello");

    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde");
    res = c.read();
    CHECK(res.result_int() == 201);
    CHECK(res.body() == "stored\n");

    c.send(
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    CHECK(c.read().result_int() == 201);
}

TEST_CASE("a static body read from a file at start-up", "[http][handlers]") {
    const std::string path = "/tmp/edged-test-static-body.txt";
    std::ofstream(path) << "from a file\n";
    running_server s(base_config() + R"(
routes:
  - name: file
    match: { path: /file }
    handler: { static: { status: 200, file: ")" +
                     path + R"(" } }
)");
    raw_client c(s.port());
    c.send(get_request("/file"));
    CHECK(c.read().body() == "from a file\n");
}

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
    // 127.0.0.1 is not a trusted proxy here: what it claims in X-Forwarded-For is dropped.
    CHECK(r.headers.at("x-forwarded-for") == "127.0.0.1");
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
        const refusing_port down;
        running_server s(proxy_config(down.port()));
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
    CHECK(s.get().snapshot().tasks.subrequests_rejected == 1);
}

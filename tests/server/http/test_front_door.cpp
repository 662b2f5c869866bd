// The stricter front door (RFC 9112 / RFC 9110 decisions the README lists): Content-Length
// lists, field names a backend could normalise into framing headers, broken chunk framing
// answered at once, empty lines before a request line, an HTTP/2 preface, Upgrade requests; and
// connections trickling headers giving way at max_connections (slowloris).

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "http_checks.hpp"

using namespace edged::test;

namespace {

// Answers with the names of the fields it was given, one per line.
struct field_names final : edged::lifecycle::handler {
    edged::lifecycle::response handle(const edged::lifecycle::request& req,
                                      edged::lifecycle::context&) override {
        edged::lifecycle::response r;
        for (const auto& f : req) {
            r.body += f.name_string();
            r.body += '\n';
        }
        return r;
    }
};

const std::string names_route = R"(
  - name: names
    match: { path: /names }
    handler: { static: { status: 200 } }
)";

}  // namespace

TEST_CASE("front door: a Content-Length list or a repeated one is refused, even of equal values",
          "[http][front-door]") {
    running_server s(config_with());
    expect_rejected(s.port(), "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc",
                    400);
    expect_rejected(s.port(),
                    "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: "
                    "3\r\n\r\nabc",
                    400);
    // One value is fine.
    raw_client c(s.port());
    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(c.read().result_int() == 201);
}

TEST_CASE("front door: field names outside letters, digits and '-' never reach a handler",
          "[http][front-door]") {
    running_server s(config_with() + names_route,
                     [](auto& srv) { srv.set_handler("names", std::make_unique<field_names>()); });
    raw_client c(s.port());
    c.send(
        "GET /names HTTP/1.1\r\nHost: t\r\nTransfer_Encoding: chunked\r\nContent_Length: 5\r\n"
        "X.Dotted: 1\r\nX-Fine: 1\r\n\r\n");
    auto res = c.read();
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "Host\nX-Fine\n");
    // The connection goes on: they were dropped, not a framing error.
    c.send(get_request("/hello"));
    CHECK(c.read().result_int() == 200);
}

TEST_CASE("front door: broken chunk framing is answered 400 at once, not at the body timeout",
          "[http][front-door]") {
    // body_read far beyond the client's 5 s read timeout: a server that waited would fail here.
    running_server s(config_with("  timeouts: { body_read: 120s }\n"));
    const std::string head =
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    expect_rejected(s.port(), head + "5\r\nhelloX", 400);     // data, then not CRLF
    expect_rejected(s.port(), head + "5\r\nhello\rX", 400);   // CR, then not LF
    expect_rejected(s.port(), head + "5\r\nhelloXYZW", 400);  // four bytes: Beast's check
    expect_rejected(s.port(), head + "5;=\r\nhello\r\n0\r\n\r\n", 400);  // empty extension name
    expect_rejected(s.port(), head + "5\r\nhello\r\n" + "3;" + std::string(20000, 'a'), 400);
    // Well-formed, with an extension and in pieces, still works.
    raw_client c(s.port());
    c.send(head + "5;name=value\r\nhel");
    c.send("lo\r");
    c.send("\n0\r\n\r\n");
    CHECK(c.read().result_int() == 201);
}

TEST_CASE("front door: a few empty lines before a request line are skipped, many refused",
          "[http][front-door]") {
    running_server s(config_with());
    raw_client c(s.port());
    c.send("\r\n\r\n" + get_request("/hello"));
    CHECK(c.read().result_int() == 200);
    // After a body, as some clients send.
    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab\r\n" +
           get_request("/hello"));
    CHECK(c.read().result_int() == 201);
    CHECK(c.read().result_int() == 200);
    std::string many;
    for (int i = 0; i < 9; ++i) many += "\r\n";
    expect_rejected(s.port(), many + get_request("/hello"), 400);
}

TEST_CASE("front door: an HTTP/2 preface gets 505, never a route's answer", "[http][front-door]") {
    running_server s(config_with());
    expect_rejected(s.port(), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
}

TEST_CASE("front door: an Upgrade request is answered as plain HTTP/1.1 and the connection goes on",
          "[http][front-door]") {
    running_server s(config_with());
    raw_client c(s.port());
    c.send(
        "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    auto res = c.read();
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "hello, world\n");
    CHECK(res.count(http::field::upgrade) == 0);
    c.send(
        "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n");
    CHECK(c.read().result_int() == 200);
    c.send(get_request("/hello"));
    CHECK(c.read().result_int() == 200);
}

TEST_CASE("slowloris: at max_connections, connections still waiting for a head give way",
          "[http][limits][slow-clients]") {
    running_server s(config_with("  limits: { max_connections: 20 }\n"));
    // Twenty connections that have sent part of a head and wait (a trickle), oldest first.
    std::vector<std::unique_ptr<raw_client>> slow;
    for (int i = 0; i < 20; ++i) {
        slow.push_back(std::make_unique<raw_client>(s.port()));
        slow.back()->send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Trickle: ");
    }
    REQUIRE(eventually([&] { return s.get().state().open_connections == 20; }));
    // Twenty clients that send whole requests are each answered, and stay connected (idle
    // between requests: they never give way); each took the slot of a trickling one.
    std::vector<std::unique_ptr<raw_client>> good;
    for (int i = 0; i < 20; ++i) {
        good.push_back(std::make_unique<raw_client>(s.port()));
        good.back()->send(get_request("/hello"));
        INFO(i);
        REQUIRE(good.back()->read().result_int() == 200);
    }
    CHECK(s.get().snapshot().connections_evicted == 20);
    CHECK(s.get().snapshot().connections_rejected == 0);
    for (auto& c : slow) CHECK(c->closed_by_peer());
    // Now nobody is waiting for a head: the next connection is refused, not a served one closed.
    raw_client late(s.port());
    CHECK(late.read().result_int() == 503);
    for (auto& c : good) {
        c->send(get_request("/hello"));
        CHECK(c->read().result_int() == 200);
    }
}

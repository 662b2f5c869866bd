// The HTTP session in process: edged on 127.0.0.1:0, real Beast and raw-socket clients
// (keep-alive, pipelining, routing by target, ids, limits, timeouts, smuggling, versions).

#include <catch2/catch.hpp>

#include <fstream>

#include "harness.hpp"
#include "http_checks.hpp"

using namespace edged::test;

TEST_CASE("1000 requests on one keep-alive connection", "[http]") {
    running_server s(config_with("", 2));
    raw_client c(s.port());
    for (int i = 0; i < 1000; ++i) {
        c.send(get_request("/hello"));
        auto res = c.read();
        REQUIRE(res.result_int() == 200);
        REQUIRE(res.body() == "hello, world\n");
        REQUIRE(res.keep_alive());
    }
    CHECK(s.get().snapshot().connections_accepted == 1);
    // Counted once the response has left (just after the client may have read it).
    CHECK(eventually([&] { return s.get().snapshot().requests() == 1000; }));
}

TEST_CASE("many busy keep-alive connections on one thread are each answered in order", "[http]") {
    // Every round, all connections send before any reads: the one I/O thread always has other
    // connections ready, so their reads are paced behind each other (read_pacing.hpp).
    running_server s(config_with("", 1));
    constexpr int connections = 32, rounds = 50;
    auto id_of = [](int c, int r) {
        std::string id = "c";
        id += std::to_string(c);
        id += "-r";
        id += std::to_string(r);
        return id;
    };
    std::vector<std::unique_ptr<raw_client>> clients;
    for (int c = 0; c < connections; ++c) clients.push_back(std::make_unique<raw_client>(s.port()));
    for (int r = 0; r < rounds; ++r) {
        for (int c = 0; c < connections; ++c)
            clients[c]->send(get_request("/hello", "X-Request-Id: " + id_of(c, r) + "\r\n"));
        for (int c = 0; c < connections; ++c) {
            auto res = clients[c]->read();
            REQUIRE(res.result_int() == 200);
            REQUIRE(res["X-Request-Id"] == id_of(c, r));
            REQUIRE(res.body() == "hello, world\n");
        }
    }
    CHECK(s.get().snapshot().connections_accepted == connections);
    CHECK(eventually([&] { return s.get().snapshot().requests() == connections * rounds; }));
}

TEST_CASE("pipelined requests in one write are answered in order", "[http]") {
    for (int depth : {16, 2}) {
        running_server s(
            config_with("  limits: { pipeline_depth: " + std::to_string(depth) + " }\n"));
        raw_client c(s.port());
        std::string batch;
        const char* targets[] = {"/hello", "/nope", "/moved", "/hello", "/old/x"};
        for (int i = 0; i < 5; ++i) {
            std::string id_header = "X-Request-Id: req-";
            id_header += std::to_string(i);
            id_header += "\r\n";
            batch += get_request(targets[i], id_header);
        }
        c.send(batch);
        unsigned expected[] = {200, 404, 308, 200, 301};
        for (int i = 0; i < 5; ++i) {
            auto res = c.read();
            CHECK(res.result_int() == expected[i]);
            CHECK(res["X-Request-Id"] == "req-" + std::to_string(i));
        }
        // The connection stays usable afterwards.
        c.send(get_request("/hello"));
        CHECK(c.read().result_int() == 200);
    }
}

TEST_CASE("404 and 405 with Allow", "[http][routing]") {
    running_server s(config_with());
    raw_client c(s.port());
    c.send(get_request("/missing"));
    auto res = c.read();
    CHECK(res.result_int() == 404);
    CHECK(res.keep_alive());

    c.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    res = c.read();
    CHECK(res.result_int() == 405);
    CHECK(res[http::field::allow] == "GET, HEAD");

    c.send("GET /upload HTTP/1.1\r\nHost: t\r\n\r\n");
    res = c.read();
    CHECK(res.result_int() == 405);
    CHECK(res[http::field::allow] == "POST, PUT");
}

TEST_CASE("host match, first match wins", "[http][routing]") {
    running_server s(config_with());
    raw_client c(s.port());
    c.send("GET /anything HTTP/1.1\r\nHost: Example.ORG:8080\r\n\r\n");
    auto res = c.read();
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "example.org\n");
    // /hello is listed before the host route: the earlier route wins.
    c.send("GET /hello HTTP/1.1\r\nHost: example.org\r\n\r\n");
    CHECK(c.read().body() == "hello, world\n");
    // Absolute-form target: the authority is the host.
    c.send("GET http://example.org/x HTTP/1.1\r\nHost: other\r\n\r\n");
    CHECK(c.read().body() == "example.org\n");
}

TEST_CASE("dot segments are resolved before routing", "[http][routing]") {
    running_server s(config_with());
    raw_client c(s.port());
    c.send(get_request("/old/../hello"));
    CHECK(c.read().body() == "hello, world\n");
    c.send(get_request("/old/%2e%2e/hello"));
    CHECK(c.read().body() == "hello, world\n");
    expect_rejected(s.port(), get_request("/../hello"), 400);
}

TEST_CASE("request id: honoured, replaced when unsafe, generated when absent",
          "[http][request-id]") {
    running_server s(config_with());
    raw_client c(s.port());

    c.send(get_request("/hello", "X-Request-Id: abc-123_x.y:z\r\n"));
    CHECK(c.read()["X-Request-Id"] == "abc-123_x.y:z");

    auto generated = [](const std::string& id) {
        return id.size() == 16 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
    };
    const std::string unsafe[] = {"has space", "semi;colon", "quote\"", std::string(65, 'a')};
    for (const auto& id : unsafe) {
        c.send(get_request("/hello", "X-Request-Id: " + id + "\r\n"));
        auto got = std::string(c.read()["X-Request-Id"]);
        CHECK(got != id);
        CHECK(generated(got));
    }
    // Two ids in one request are ambiguous: a fresh one is generated.
    c.send(get_request("/hello", "X-Request-Id: a\r\nX-Request-Id: b\r\n"));
    CHECK(generated(std::string(c.read()["X-Request-Id"])));

    c.send(get_request("/hello"));
    auto first = std::string(c.read()["X-Request-Id"]);
    c.send(get_request("/hello"));
    auto second = std::string(c.read()["X-Request-Id"]);
    CHECK(generated(first));
    CHECK(generated(second));
    CHECK(first != second);
    // 64 safe characters are still honoured.
    std::string longest(64, 'z');
    c.send(get_request("/hello", "X-Request-Id: " + longest + "\r\n"));
    CHECK(c.read()["X-Request-Id"] == longest);
}

TEST_CASE("limits: header bytes 431, body bytes 413", "[http][limits]") {
    running_server s(config_with("  limits: { header_bytes: 1KiB, body_bytes: 16 }\n"));
    expect_rejected(s.port(), get_request("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n"),
                    431);
    // A header that never ends is cut off at the limit too.
    {
        raw_client c(s.port());
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(1500, 'b'));
        auto res = c.read();
        CHECK(res.result_int() == 431);
        CHECK(c.closed_by_peer());
    }
    expect_rejected(
        s.port(),
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n" + std::string(17, 'x'),
        413);
    expect_rejected(s.port(),
                    "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "10\r\n0123456789abcdef\r\n5\r\n01234\r\n0\r\n\r\n",
                    413);
    // Exactly at the limit is fine.
    raw_client c(s.port());
    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n" + std::string(16, 'x'));
    CHECK(c.read().result_int() == 201);
}

TEST_CASE("max_connections: over the limit gets 503 and a close", "[http][limits]") {
    running_server s(config_with("  limits: { max_connections: 2 }\n"));
    raw_client a(s.port()), b(s.port());
    a.send(get_request("/hello"));
    b.send(get_request("/hello"));
    REQUIRE(a.read().result_int() == 200);
    REQUIRE(b.read().result_int() == 200);

    raw_client c(s.port());
    auto res = c.read();
    CHECK(res.result_int() == 503);
    CHECK(res[http::field::retry_after] == "1");
    CHECK(c.closed_by_peer());
    CHECK(s.get().snapshot().connections_rejected == 1);

    // Once a connection closes, there is room again.
    a.socket().close();
    REQUIRE(eventually([&] { return s.get().state().open_connections == 1; }));
    raw_client d(s.port());
    d.send(get_request("/hello"));
    CHECK(d.read().result_int() == 200);
}

TEST_CASE("timeouts: header_read 408, idle close, body_read 408", "[http][timeouts]") {
    running_server s(config_with(
        "  timeouts: { header_read: 300ms, idle: 300ms, body_read: 300ms, write: 300ms }\n"));
    {
        raw_client c(s.port());
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\n");  // header never finishes
        auto res = c.read();
        CHECK(res.result_int() == 408);
        CHECK(res[http::field::connection] == "close");
        CHECK(c.closed_by_peer());
    }
    {
        raw_client c(s.port());
        c.send(get_request("/hello"));
        CHECK(c.read().result_int() == 200);
        // Idle keep-alive connection: closed without a response.
        CHECK(c.read_all().empty());
    }
    {
        // A new connection that sends nothing is closed silently too.
        raw_client c(s.port());
        CHECK(c.read_all().empty());
    }
    {
        raw_client c(s.port());
        c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
        auto res = c.read();
        CHECK(res.result_int() == 408);
        CHECK(c.closed_by_peer());
    }
}

TEST_CASE("write timeout closes a connection whose client does not read", "[http][timeouts]") {
    const std::string path = "/tmp/edged-test-big-body.bin";
    {
        std::ofstream f(path, std::ios::binary);
        std::string chunk(1 << 20, 'x');
        for (int i = 0; i < 64; ++i) f << chunk;
    }
    running_server s(base_config("  timeouts: { write: 300ms }\n") + R"(
routes:
  - name: big
    match: { path: /big }
    handler: { static: { status: 200, file: ")" +
                     path + R"(" } }
)");
    raw_client c(s.port());
    // Small receive buffer, and no reads: the server's write cannot finish.
    int small = 4096;
    ::setsockopt(c.socket().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    c.send(get_request("/big"));
    CHECK(eventually([&] { return s.get().state().open_connections == 0; }, 10s));
}

TEST_CASE("malformed and smuggling inputs get 400 and a closed connection", "[http][smuggling]") {
    running_server s(config_with());
    const std::string cases[] = {
        "GARBAGE\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",  // space in name
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x01"
        "b\r\n\r\n",                                                     // control char
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",           // bare CR
        "GET /hello HTTP/1.1\nHost: t\r\n\r\n",                          // bare LF
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n",  // obs-fold
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tfolded\r\n\r\n",  // obs-fold, HTAB
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-A:\r\n \r\n\r\n",           // folded empty line
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\nb\r\n\r\n",           // LF inside a value
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
        "\r\n0\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n"
        "\r\n0\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd",
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /upload HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        "GET /hello HTTP/1.1\r\n\r\n",                        // no Host
        "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
        "GET hello HTTP/1.1\r\nHost: t\r\n\r\n",              // not origin-form
        "GET /hello HTTP/1.1\r\nHost: t\r\n: empty-name\r\n\r\n",
        std::string("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 42),  // NUL
    };
    for (const auto& bytes : cases) expect_rejected(s.port(), bytes, 400);
}

TEST_CASE("HTTP versions: 1.0 works, 2.0 gets 505", "[http][versions]") {
    running_server s(config_with());
    expect_rejected(s.port(), "GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    expect_rejected(s.port(), "GET /hello HTTP/0.9\r\nHost: t\r\n\r\n", 505);
    {
        raw_client c(s.port());
        c.send("GET /hello HTTP/1.0\r\n\r\n");
        auto res = c.read();
        CHECK(res.result_int() == 200);
        CHECK(res.body() == "hello, world\n");
        CHECK(c.closed_by_peer());
    }
    {
        raw_client c(s.port());
        c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        auto res = c.read();
        CHECK(res[http::field::connection] == "keep-alive");
        c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(c.read().result_int() == 200);
    }
    {
        raw_client c(s.port());
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        auto res = c.read();
        CHECK(res[http::field::connection] == "close");
        CHECK(c.closed_by_peer());
    }
}

TEST_CASE("Expect: 100-continue", "[http][expect]") {
    running_server s(config_with("  limits: { body_bytes: 1KiB }\n"));
    {
        raw_client c(s.port());
        c.send(
            "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: "
            "100-continue\r\n\r\n");
        auto interim = c.read();
        CHECK(interim.result_int() == 100);
        c.send("abcde");
        CHECK(c.read().result_int() == 201);
    }
    // Too large: the final answer comes at once, without 100 Continue.
    expect_rejected(s.port(),
                    "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n"
                    "Expect: 100-continue\r\n\r\n",
                    413);
    expect_rejected(
        s.port(), "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: magic\r\n\r\n",
        417);
}

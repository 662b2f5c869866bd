// Behind a load balancer, on the binary: server.trusted_proxies decides whether X-Forwarded-*
// is believed — what reaches the origin and what the access log's remote says — and the access
// log keeps its lines (and the fields asked for) with log.level warn.

#include <catch2/catch.hpp>

#include <signal.h>

#include <sstream>

#include "e2e/e2e.hpp"
#include "sink.hpp"

using namespace edged::test;

namespace {

// With log.level warn the ports are not logged: the config names them (free a moment ago).
std::string forwarded_config(std::uint16_t origin, std::uint16_t port, const std::string& trusted) {
    return R"(
server: { listen: ["127.0.0.1:)" +
           std::to_string(port) + R"("], threads: 1, trusted_proxies: )" + trusted + R"( }
admin: { listen: "127.0.0.1:)" +
           std::to_string(free_port()) + R"(" }
log:
  level: warn
  access: true
  access_fields: [request_id, method, path, query, status, remote, peer, host, user_agent,
                  bytes_received, upstream, upstream_us, route]
upstreams:
  origin: { url: "http://127.0.0.1:)" +
           std::to_string(origin) + R"(" }
routes:
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin } }
)";
}

// The access log line of the request with id `id`.
nlohmann::json access_line(process& edged, const std::string& id) {
    const std::string line = edged.wait_line("\"request_id\":\"" + id + "\"");
    REQUIRE(!line.empty());
    return nlohmann::json::parse(line);
}

std::string request(const std::string& id, const std::string& extra) {
    return "POST /api/x?q=1 HTTP/1.1\r\nHost: edge.example\r\nUser-Agent: probe/1\r\n"
           "X-Request-Id: " +
           id + "\r\nContent-Length: 3\r\n" + extra + "\r\nabc";
}

}  // namespace

TEST_CASE("trusted_proxies: a trusted peer's X-Forwarded-* is believed and passed on",
          "[e2e][forwarded]") {
    sink_server origin;
    const auto port = free_port();
    const std::string cfg = forwarded_config(origin.port(), port, "[127.0.0.1, 10.0.0.0/8]");
    process edged({EDGED_BINARY, "--config", write_config("trusted.yaml", cfg)});
    REQUIRE(eventually([&] { return !connect_refused(port); }));

    // The load balancer (127.0.0.1) forwards for a client behind another trusted hop.
    CHECK(exchange_once(port, request("fw-1",
                                      "X-Forwarded-For: 203.0.113.9, 10.1.2.3\r\n"
                                      "X-Forwarded-Proto: https\r\n"
                                      "X-Forwarded-Host: shop.example\r\n")) == 200);
    REQUIRE(origin.wait_for(1));
    auto r = origin.records()[0];
    CHECK(r.headers.at("x-forwarded-for") == "203.0.113.9, 10.1.2.3, 127.0.0.1");
    CHECK(r.headers.at("x-forwarded-proto") == "https");
    CHECK(r.headers.at("x-forwarded-host") == "shop.example");
    auto line = access_line(edged, "fw-1");
    CHECK(line["remote"] == "203.0.113.9");
    CHECK(line["peer"] == "127.0.0.1");
    CHECK(line["level"] == "info");  // with log.level warn
    CHECK(line["host"] == "edge.example");
    CHECK(line["user_agent"] == "probe/1");
    CHECK(line["query"] == "q=1");
    CHECK(line["bytes_received"] == 3);
    CHECK(line["upstream"] == "origin");
    CHECK(line["upstream_us"].get<std::int64_t>() >= 0);
    CHECK(line["route"] == "api");
    CHECK(!line.contains("bytes"));  // not asked for

    // The rightmost address that is not trusted is the client; an entry that is not an address
    // ends the walk at the hop that wrote it.
    CHECK(exchange_once(port, request("fw-2", "X-Forwarded-For: 192.0.2.1, 198.51.100.7\r\n")) ==
          200);
    CHECK(access_line(edged, "fw-2")["remote"] == "198.51.100.7");
    CHECK(exchange_once(port, request("fw-3", "X-Forwarded-For: 192.0.2.1, junk, 10.9.9.9\r\n")) ==
          200);
    CHECK(access_line(edged, "fw-3")["remote"] == "10.9.9.9");

    // Without X-Forwarded-*, the peer is the client and the scheme is http.
    CHECK(exchange_once(port, request("fw-4", "")) == 200);
    REQUIRE(origin.wait_for(4));
    r = origin.records()[3];
    CHECK(r.headers.at("x-forwarded-for") == "127.0.0.1");
    CHECK(r.headers.at("x-forwarded-proto") == "http");
    CHECK(r.headers.at("x-forwarded-host") == "edge.example");
    CHECK(access_line(edged, "fw-4")["remote"] == "127.0.0.1");

    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

TEST_CASE("trusted_proxies: an untrusted peer's X-Forwarded-* is replaced, not passed on",
          "[e2e][forwarded]") {
    sink_server origin;
    const auto port = free_port();
    const std::string cfg = forwarded_config(origin.port(), port, "[10.0.0.0/8]");
    process edged({EDGED_BINARY, "--config", write_config("untrusted.yaml", cfg)});
    REQUIRE(eventually([&] { return !connect_refused(port); }));

    CHECK(exchange_once(port, request("un-1",
                                      "X-Forwarded-For: 203.0.113.9\r\n"
                                      "X-Forwarded-Proto: https\r\n"
                                      "X-Forwarded-Host: shop.example\r\n")) == 200);
    REQUIRE(origin.wait_for(1));
    const auto r = origin.records()[0];
    CHECK(r.headers.at("x-forwarded-for") == "127.0.0.1");
    CHECK(r.headers.at("x-forwarded-proto") == "http");
    CHECK(r.headers.at("x-forwarded-host") == "edge.example");
    const auto line = access_line(edged, "un-1");
    CHECK(line["remote"] == "127.0.0.1");
    CHECK(line["peer"] == "127.0.0.1");

    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

TEST_CASE("trusted_proxies and access_fields: bad entries are config errors with their keys",
          "[e2e][forwarded][cli]") {
    const std::string bad = R"(
server: { trusted_proxies: [10.0.0.0/33, "10.0.0.1/8", nonsense] }
log: { access_fields: [method, colour] }
)";
    process p({EDGED_BINARY, "--check-config", write_config("badtrust.yaml", bad)});
    CHECK(p.wait_exit(10s) == 2);
    p.wait_line("colour");
    const std::string out = p.output();
    CHECK(out.find("server.trusted_proxies[0]") != std::string::npos);
    CHECK(out.find("server.trusted_proxies[1]") != std::string::npos);  // host bits set
    CHECK(out.find("server.trusted_proxies[2]") != std::string::npos);
    CHECK(out.find("log.access_fields[1]") != std::string::npos);
}

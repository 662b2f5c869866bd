// server.trusted_proxies: which peers are believed, and the client their X-Forwarded-For names.

#include <catch2/catch.hpp>

#include "server/http/trusted_proxies.hpp"

using namespace edged::server;

namespace {

std::string client(const trusted_proxies& t, const std::string& peer,
                   std::vector<std::string> xff) {
    edged::lifecycle::request req;
    for (auto& v : xff) req.insert("X-Forwarded-For", v);
    std::string out;
    t.client_of(req, net::ip::make_address(peer), out);
    return out;
}

}  // namespace

TEST_CASE("trusted_proxies matches addresses and CIDR blocks, v4-mapped peers as IPv4",
          "[http][forwarded]") {
    const trusted_proxies t({"10.0.0.0/8", "192.0.2.7", "fd00::/8", "172.16.0.0/12"});
    CHECK(t.trusts(net::ip::make_address("10.255.1.2")));
    CHECK_FALSE(t.trusts(net::ip::make_address("11.0.0.1")));
    CHECK(t.trusts(net::ip::make_address("192.0.2.7")));
    CHECK_FALSE(t.trusts(net::ip::make_address("192.0.2.8")));
    CHECK(t.trusts(net::ip::make_address("172.31.255.255")));
    CHECK_FALSE(t.trusts(net::ip::make_address("172.32.0.0")));
    CHECK(t.trusts(net::ip::make_address("fd12::1")));
    CHECK_FALSE(t.trusts(net::ip::make_address("fe80::1")));
    CHECK(t.trusts(net::ip::make_address("::ffff:10.1.2.3")));  // a dual-stack listener's peer
    CHECK_FALSE(t.trusts(net::ip::make_address("::ffff:11.1.2.3")));
    CHECK(trusted_proxies().empty());
}

TEST_CASE("the client is the rightmost untrusted X-Forwarded-For entry", "[http][forwarded]") {
    const trusted_proxies t({"10.0.0.0/8"});
    CHECK(client(t, "10.0.0.1", {}) == "10.0.0.1");
    CHECK(client(t, "10.0.0.1", {"203.0.113.9"}) == "203.0.113.9");
    CHECK(client(t, "10.0.0.1", {"198.51.100.1, 203.0.113.9, 10.2.3.4"}) == "203.0.113.9");
    // Several fields read as one list, in order.
    CHECK(client(t, "10.0.0.1", {"198.51.100.1", "203.0.113.9"}) == "203.0.113.9");
    // Every entry trusted: the leftmost.
    CHECK(client(t, "10.0.0.1", {"10.9.9.9, 10.8.8.8"}) == "10.9.9.9");
    // Not an address: the hop that wrote it is the client.
    CHECK(client(t, "10.0.0.1", {"203.0.113.9, unknown, 10.2.3.4"}) == "10.2.3.4");
    CHECK(client(t, "10.0.0.1", {"garbage"}) == "10.0.0.1");
    CHECK(client(t, "10.0.0.1", {"[2001:db8::1]"}) == "2001:db8::1");
    CHECK(client(t, "::ffff:10.0.0.1", {"::ffff:203.0.113.9"}) == "203.0.113.9");
}

// address_table: an upstream's addresses and their health, and what a reload carries over.

#include <catch2/catch.hpp>

#include "server/upstream/address_table.hpp"

namespace {

using edged::server::address_table;
namespace config = edged::config;
namespace net = boost::asio;
using tcp = net::ip::tcp;

config::upstream_config upstream(std::uint16_t port = 8080) {
    config::upstream_config u;
    u.name = "origin";
    u.host = "127.0.0.1";
    u.port = port;
    u.outlier.consecutive_failures = 2;
    u.outlier.max_ejected_percent = 100;
    u.health_check.path = "/healthz";
    return u;
}

const tcp::endpoint one{net::ip::make_address("127.0.0.1"), 8080};
const tcp::endpoint two{net::ip::make_address("127.0.0.2"), 8080};

// A table of `u` that resolved to `one` and `two`: `one` ejected, `two` failed by its check.
std::shared_ptr<address_table> with_trouble(const config::upstream_config& u) {
    auto t = std::make_shared<address_table>(u);
    t->looked_up({}, {one, two}, address_table::clock::now());
    auto list = t->addresses();
    REQUIRE(list->size() == 2);
    t->failed(*(*list)[0], address_table::clock::now());
    t->failed(*(*list)[0], address_table::clock::now());
    (*list)[1]->checked_healthy = false;
    return t;
}

bool usable(const address_table& t, std::size_t i) {
    return address_table::usable(*(*t.addresses())[i], address_table::clock::now());
}

}  // namespace

TEST_CASE("address_table: a reload carries an unchanged upstream's health over", "[upstream]") {
    const auto before = with_trouble(upstream());
    REQUIRE_FALSE(usable(*before, 0));
    REQUIRE_FALSE(usable(*before, 1));

    SECTION("the same check and outlier detection: out as before, counts kept") {
        const address_table after(upstream(), *before);
        REQUIRE(after.addresses()->size() == 2);
        CHECK_FALSE(usable(after, 0));
        CHECK_FALSE(usable(after, 1));
        CHECK((*after.addresses())[0]->ejections == 1);
        // Copies: the old generation's checker and pools go on with their own entries.
        CHECK((*after.addresses())[0] != (*before->addresses())[0]);
        // A lookup that finds the same addresses keeps them.
        address_table again(upstream(), *before);
        again.looked_up({}, {two, one}, address_table::clock::now());
        CHECK_FALSE(usable(again, 0));
        CHECK_FALSE(usable(again, 1));
    }
    SECTION("outlier detection off: no ejection; no check: no verdict") {
        auto u = upstream();
        u.outlier.consecutive_failures = 0;
        u.health_check.path.clear();
        const address_table after(u, *before);
        CHECK(usable(after, 0));
        CHECK(usable(after, 1));
        CHECK((*after.addresses())[0]->ejections == 1);  // a count, kept
        CHECK((*after.addresses())[0]->failures == 0);
    }
    SECTION("a check of another path starts healthy") {
        auto u = upstream();
        u.health_check.path = "/ready";
        const address_table after(u, *before);
        CHECK_FALSE(usable(after, 0));
        CHECK(usable(after, 1));
    }
    SECTION("another port is another upstream: the directory starts it afresh") {
        config::config old_cfg, new_cfg;
        old_cfg.upstreams = {upstream()};
        new_cfg.upstreams = {upstream(9090)};
        const edged::server::address_directory old_dir(old_cfg);
        old_dir.tables[0]->looked_up({}, {one}, address_table::clock::now());
        const edged::server::address_directory same(old_cfg, &old_dir);
        CHECK(same.tables[0]->addresses()->size() == 1);
        const edged::server::address_directory moved(new_cfg, &old_dir);
        CHECK(moved.tables[0]->addresses()->empty());
    }
}

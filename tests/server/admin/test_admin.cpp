// The admin listener: health, readiness, stats.

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace edged::test;

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

TEST_CASE("admin: an accept error (no descriptor left) backs off, then connections are served",
          "[admin][accept]") {
    running_server s(base_config() + routes);
    net::io_context ioc;
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 2; ++i) {
        clients.emplace_back(ioc);
        clients.back().open(tcp::v4());
    }
    {
        descriptors_exhausted none_left;
        // The handshakes complete in the kernel's accept queue; edged's accept then fails.
        for (auto& c : clients) c.connect({net::ip::make_address("127.0.0.1"), s.admin_port()});
        REQUIRE(eventually([&] { return s.get().admin_accept_errors() >= 1; }));
        std::this_thread::sleep_for(250ms);
        // With the back-off (50 ms) a handful of errors; an accept loop that retried at once
        // would spin on the same queued connection and count tens of thousands.
        CHECK(s.get().admin_accept_errors() < 50);
    }
    // Descriptors are back: after its pause the admin listener accepts the queued connections.
    for (auto& c : clients) {
        timeval tv{5, 0};
        ::setsockopt(c.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        net::write(c, net::buffer(get_request("/healthz")));
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(c, buffer, res);
        CHECK(res.result_int() == 200);
        CHECK(res.body() == "ok\n");
    }
}

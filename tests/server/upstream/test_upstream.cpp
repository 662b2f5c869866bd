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

namespace {
// A request body of known length whose end the client confirms only after the origin has
// answered: the origin, having every byte, answers while the body's end is still being awaited.
class late_end_body final : public edged::lifecycle::body_source {
public:
    explicit late_end_body(sink_server& origin) : origin_(origin) {}
    std::optional<std::uint64_t> length() const override { return payload.size(); }
    net::awaitable<std::pair<std::error_code, std::string_view>> next() override {
        std::pair<std::error_code, std::string_view> out;
        if (!sent_) {
            sent_ = true;
            out.second = payload;
            co_return out;
        }
        // Polls (a cancelled wait ends the body with an error, as the client's would).
        net::steady_timer timer(co_await net::this_coro::executor);
        for (int i = 0; i < 5000; ++i) {
            timer.expires_after(2ms);
            auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
            if (ec) {
                out.first = std::make_error_code(std::errc::operation_canceled);
                break;
            }
            if (answered()) break;
        }
        co_return out;
    }
    void cancel() noexcept override {}
    static constexpr std::string_view payload = "all of the body";

private:
    bool answered() {
        auto r = origin_.records();
        return !r.empty() && r.back().answered;
    }
    sink_server& origin_;
    bool sent_ = false;
};

struct late_end_uploader final : edged::lifecycle::handler {
    explicit late_end_uploader(sink_server& origin) : origin(origin) {}
    bool is_async() const override { return true; }
    edged::lifecycle::response handle(const edged::lifecycle::request&,
                                      edged::lifecycle::context&) override {
        return {};
    }
    net::awaitable<edged::lifecycle::response> handle_async(
        const edged::lifecycle::request& in, edged::lifecycle::context& ctx) override {
        edged::lifecycle::request out(http::verb::post, in.target(), 11);
        edged::lifecycle::stream_options opts;
        opts.body = std::make_shared<late_end_body>(origin);
        auto r = co_await ctx.open("origin", out, opts);
        edged::lifecycle::response res;
        res.status = r.ec ? 502 : r.head.result_int();
        while (!r.ec) {
            auto [ec, block] = co_await r.body->next();
            if (ec || block.empty()) break;
            res.body.append(block);
        }
        co_return res;
    }
    sink_server& origin;
};
}  // namespace

TEST_CASE("upstream: an origin answering once the whole body is there keeps its connection",
          "[proxy][stream]") {
    // Not an early answer (the body had all gone): the connection goes back to the pool.
    sink_server origin;
    running_server s(proxy_config(origin.port(), ", timeout: 10s"), [&](auto& srv) {
        srv.set_handler("api", std::make_unique<late_end_uploader>(origin));
    });
    raw_client c(s.port());
    for (int i = 0; i < 2; ++i) {
        c.send(get_request("/api/up"));
        auto r = c.read();
        CHECK(r.result_int() == 200);
        CHECK(r.body() == "ok\n");
    }
    REQUIRE(origin.wait_for(2));
    CHECK(origin.records()[0].body == late_end_body::payload);
    CHECK(origin.connections_seen() == 1);
}

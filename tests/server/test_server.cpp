// The process as a whole: the router, the graceful shutdown, C++ handlers installed with
// set_handler, and the lifecycle budgets they run under.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "config/config.hpp"
#include "harness.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/outcome.hpp"
#include "server/listener.hpp"
#include "server/router.hpp"

using namespace edged::test;
using edged::lifecycle::outcome;
namespace config = edged::config;
using edged::server::router;

namespace {

config::config two_routes() {
    return config::load_string(R"(
routes:
  - name: exact
    match: { path: /a, methods: [GET] }
    handler: { static: { status: 200 } }
  - name: post-a
    match: { path: /a, methods: [POST] }
    handler: { static: { status: 201 } }
  - name: prefix
    match: { prefix: /p/ }
    handler: { static: { status: 202 } }
  - name: host-only
    match: { prefix: /, host: h.example }
    handler: { static: { status: 203 } }
)",
                               config::format::yaml);
}
}  // namespace

TEST_CASE("router: first match wins, 405 lists the allowed methods", "[router]") {
    router r(two_routes());
    CHECK(r.match("x", "/a", "GET").matched->name() == "exact");
    CHECK(r.match("x", "/a", "HEAD").matched->name() == "exact");
    CHECK(r.match("x", "/a", "POST").matched->name() == "post-a");
    auto not_allowed = r.match("x", "/a", "DELETE");
    CHECK(not_allowed.matched == nullptr);
    CHECK(not_allowed.allow == "GET, HEAD, POST");
    CHECK(r.match("x", "/p/deep/er", "PUT").matched->name() == "prefix");
    CHECK(r.match("x", "/p", "GET").matched == nullptr);
    CHECK(r.match("x", "/p", "GET").allow.empty());
    CHECK(r.match("h.example", "/zzz", "GET").matched->name() == "host-only");
    CHECK(r.match("h.example", "/a", "GET").matched->name() == "exact");
}

TEST_CASE("router: a job route without a job service is refused, naming the route", "[router]") {
    auto cfg = config::load_string(R"(
upstreams: { origin: { url: "http://127.0.0.1:9000" } }
routes:
  - name: jobs
    match: { prefix: /jobs/ }
    handler: { job: { upstream: origin } }
)",
                                   config::format::yaml);
    CHECK_THROWS_WITH(router(cfg), Catch::Contains("job"));
}

namespace {
// Half of a body after its head, once the server has read the head (its 100 Continue says so):
// a request in flight, not an idle connection, whatever the loopback's delivery delay.
void begin_upload(raw_client& c) {
    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n");
    REQUIRE(c.read().result_int() == 100);
    c.send("abc");
}
}  // namespace

TEST_CASE("shutdown: an in-flight request completes, idle connections close", "[shutdown]") {
    running_server s(base_config() + "shutdown: { drain_delay: 0s, grace: 10s }\n" + routes);
    raw_client idle(s.port());
    idle.send(get_request("/hello"));
    REQUIRE(idle.read().result_int() == 200);

    raw_client slow(s.port());
    begin_upload(slow);
    REQUIRE(s.get().state().open_connections == 2);

    s.shutdown();
    CHECK(idle.closed_by_peer());
    // New connections are refused once the listeners are closed.
    REQUIRE(eventually([&] {
        try {
            raw_client probe(s.port());
            return false;
        } catch (const boost::system::system_error&) {
            return true;
        }
    }));
    slow.send("def");
    auto res = slow.read();
    CHECK(res.result_int() == 201);
    CHECK(res[http::field::connection] == "close");
    s.join();
    CHECK(s.get().summary().graceful);
    CHECK(s.get().summary().connections_forced == 0);
}

TEST_CASE("shutdown: past the grace, connections are closed", "[shutdown]") {
    running_server s(base_config() + "shutdown: { drain_delay: 0s, grace: 300ms }\n" + routes);
    raw_client slow(s.port());
    begin_upload(slow);
    REQUIRE(s.get().state().open_connections == 1);
    s.shutdown();
    s.join();
    CHECK_FALSE(s.get().summary().graceful);
    CHECK(s.get().summary().connections_forced == 1);
    CHECK(slow.closed_by_peer());
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
    running_server s(base_config() + R"(
routes:
  - name: burn
    match: { path: /burn }
    handler: { static: { status: 200 } }
    lifecycle: { cpu_budget: 30ms, wall_budget: 60s }
)",
                     [](auto& srv) { srv.set_handler("burn", std::make_unique<burner>()); });
    raw_client c(s.port());
    c.send(get_request("/burn"));
    CHECK(c.read().result_int() == 202);
    CHECK(eventually(
        [&] { return s.get().snapshot().tasks.get(outcome::cancelled_cpu_budget) == 1; }, 20s));
}

namespace {
// Answers with what the handler API says about the client.
struct peer_echo final : edged::lifecycle::handler {
    edged::lifecycle::response handle(const edged::lifecycle::request&,
                                      edged::lifecycle::context& ctx) override {
        edged::lifecycle::response r;
        r.body = std::string(ctx.peer());
        return r;
    }
};
}  // namespace

TEST_CASE("a synchronous handler sees the client's address in ctx.peer()", "[lifecycle][context]") {
    running_server s(base_config() + R"(
routes:
  - name: peer
    match: { path: /peer }
    handler: { static: { status: 200 } }
)",
                     [](auto& srv) { srv.set_handler("peer", std::make_unique<peer_echo>()); });
    raw_client c(s.port());
    c.send(get_request("/peer"));
    auto res = c.read();
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "127.0.0.1");
}

TEST_CASE("listener: after an accept error it pauses for its back-off, and close() ends the pause",
          "[listener]") {
    edged::lifecycle::log::init("off");
    net::io_context ioc;
    edged::server::listener l(ioc, "test");
    const auto ep = l.open({net::ip::make_address("127.0.0.1"), 0}, false);
    std::atomic<int> accepted{0};
    // A back-off longer than the test: after the first error, no second accept may be tried.
    l.start([&](tcp::socket, tcp::endpoint) { ++accepted; }, 1h);
    std::thread loop([&] { ioc.run(); });
    // The accept loop has made its first (speculative) accept and waits in the reactor: no
    // accept of its own can hold a descriptor while they are exhausted below. (Seen under load:
    // one in several hundred runs, that accept came during the fill and left a number free.)
    std::promise<void> armed;
    net::post(ioc, [&] { armed.set_value(); });
    armed.get_future().wait();
    net::io_context client_ioc;
    tcp::socket client(client_ioc);
    client.open(tcp::v4());
    {
        descriptors_exhausted none_left;
        client.connect(ep);
        REQUIRE(eventually([&] { return l.accept_errors() == 1; }));
        std::this_thread::sleep_for(200ms);
        CHECK(l.accept_errors() == 1);  // no retry while the pause lasts
    }
    CHECK(accepted == 0);
    net::post(ioc, [&] { l.close(); });  // also ends the pause: the loop runs out
    loop.join();
}

namespace {
// Registers `n` tasks that each offload an item that runs until its stop token fires.
struct offloader final : edged::lifecycle::handler {
    explicit offloader(int n) : n(n) {}
    edged::lifecycle::response handle(const edged::lifecycle::request&,
                                      edged::lifecycle::context& ctx) override {
        for (int i = 0; i < n; ++i) ctx.wait_until("hold", hold(ctx));
        edged::lifecycle::response r;
        r.status = 202;
        return r;
    }
    static net::awaitable<void> hold(edged::lifecycle::context& ctx) {
        co_await ctx.offload([](std::stop_token st) {
            while (!st.stop_requested()) std::this_thread::sleep_for(1ms);
        });
    }
    int n;
};
}  // namespace

TEST_CASE("shutdown with queued and running offloaded items: each is cancelled and counted",
          "[shutdown][pool]") {
    running_server s(base_config() + R"(
shutdown: { grace: 300ms }
worker_pool: { max_threads: 1 }
routes:
  - name: hold
    match: { path: /hold }
    handler: { static: { status: 200 } }
)",
                     [](auto& srv) { srv.set_handler("hold", std::make_unique<offloader>(3)); });
    {
        raw_client c(s.port());
        c.send(get_request("/hold"));
        CHECK(c.read().result_int() == 202);
    }
    REQUIRE(eventually([&] {
        const auto j = s.get().stats().at("worker_pool");
        return j.at("busy") == 1 && j.at("queued") == 2;  // one thread: one runs, two wait
    }));
    s.stop();  // shutdown; the grace runs out with the three tasks still waiting on the pool
    const auto& summary = s.get().summary();
    CHECK_FALSE(summary.graceful);
    CHECK(summary.tasks_pending == 3);
    CHECK(summary.tasks_cancelled == 3);
    const auto pool = s.get().stats().at("worker_pool");
    CHECK(pool.at("cancelled") == 3);  // the running one's token fired, the queued never ran
    CHECK(pool.at("completed") == 0);
    CHECK(pool.at("queued") == 0);
    CHECK(pool.at("busy") == 0);
    CHECK(pool.at("threads") == 0);  // joined
}

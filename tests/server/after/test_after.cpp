// The lifecycle through the server: after-actions against local sink servers that record what
// reached them and when their peer went away. Ordering is proven by the sinks' records, never by
// a stopwatch.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "lifecycle/outcome.hpp"
#include "sink.hpp"

using namespace edged::test;
using edged::lifecycle::outcome;

namespace {

std::string upstream_block(const std::vector<std::pair<std::string, std::uint16_t>>& ups) {
    std::string s = "upstreams:\n";
    for (const auto& [name, port] : ups)
        s += "  " + name + ": { url: \"http://127.0.0.1:" + std::to_string(port) +
             "\", timeout: 30s }\n";
    return s;
}

// A route /api with the given after-actions (YAML list items) and lifecycle overrides.
std::string api_route(const std::string& after, const std::string& lifecycle = "") {
    std::string s = R"(
routes:
  - name: api
    match: { prefix: /api }
    handler: { static: { status: 200, body: "answer\n" } }
)";
    if (!lifecycle.empty()) s += "    lifecycle: " + lifecycle + "\n";
    s += "    after:\n" + after;
    return s;
}

edged::lifecycle::task_totals tasks(running_server& s) {
    return s.get().snapshot().tasks;
}

bool settled(running_server& s, std::uint64_t n) {
    return eventually([&] { return tasks(s).ended() >= n && tasks(s).running == 0; }, 15s);
}

}  // namespace

TEST_CASE("the client has its response while the after-action is held at the sink",
          "[lifecycle][after]") {
    sink_server sink;
    sink.hold(30s);
    running_server s(base_config() + upstream_block({{"collector", sink.port()}}) +
                     api_route("      - http: { upstream: collector, method: POST, path: /events, "
                               "body: '{\"id\":\"${request.id}\"}' }\n"));
    raw_client c(s.port());
    c.send(get_request("/api/one", "X-Request-Id: first\r\n"));
    auto res = c.read();
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "answer\n");
    // The call reached the sink and is still unanswered: the response did not wait for it.
    REQUIRE(sink.wait_for(1));
    CHECK_FALSE(sink.records()[0].answered);
    CHECK(sink.records()[0].body == R"({"id":"first"})");

    // The same connection is answered again while the first request's task still runs.
    c.send(get_request("/api/two", "X-Request-Id: second\r\n"));
    CHECK(c.read().result_int() == 200);
    REQUIRE(sink.wait_for(2));
    auto records = sink.records();
    CHECK_FALSE(records[0].answered);
    CHECK_FALSE(records[1].answered);

    sink.release();
    CHECK(settled(s, 2));
    CHECK(tasks(s).get(outcome::completed) == 2);
}

TEST_CASE("a task past the wall budget is cancelled and its connection closed",
          "[lifecycle][budget]") {
    sink_server sink;
    sink.hold(30s);
    running_server s(base_config() + upstream_block({{"collector", sink.port()}}) +
                     api_route("      - http: { upstream: collector, path: /slow }\n",
                               "{ wall_budget: 300ms }"));
    raw_client c(s.port());
    c.send(get_request("/api"));
    CHECK(c.read().result_int() == 200);
    REQUIRE(
        sink.wait_until([](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
    CHECK(settled(s, 1));
    CHECK(tasks(s).get(outcome::cancelled_wall_budget) == 1);
    CHECK(tasks(s).get(outcome::completed) == 0);
}

TEST_CASE("max_wait_until and max_background_tasks reject and count", "[lifecycle][bounds]") {
    sink_server sink;
    const std::string three =
        "      - http: { upstream: collector, path: /a }\n"
        "      - http: { upstream: collector, path: /b }\n"
        "      - http: { upstream: collector, path: /c }\n";
    SECTION("per request") {
        running_server s(base_config() + upstream_block({{"collector", sink.port()}}) +
                         api_route(three, "{ max_wait_until: 2 }"));
        raw_client c(s.port());
        c.send(get_request("/api"));
        CHECK(c.read().result_int() == 200);
        CHECK(settled(s, 3));
        CHECK(tasks(s).get(outcome::completed) == 2);
        CHECK(tasks(s).get(outcome::rejected_overflow) == 1);
        CHECK(sink.records().size() == 2);
    }
    SECTION("subrequests: after-action calls count against max_subrequests") {
        running_server s(base_config() + upstream_block({{"collector", sink.port()}}) +
                         api_route(three, "{ max_subrequests: 2 }"));
        raw_client c(s.port());
        c.send(get_request("/api"));
        CHECK(c.read().result_int() == 200);
        CHECK(settled(s, 3));
        CHECK(tasks(s).get(outcome::completed) == 2);
        CHECK(tasks(s).get(outcome::failed) == 1);
        CHECK(tasks(s).subrequests_rejected == 1);
        CHECK(sink.records().size() == 2);
    }
    SECTION("process-wide") {
        sink.hold(30s);
        running_server s(base_config() + "lifecycle: { max_background_tasks: 2 }\n" +
                         upstream_block({{"collector", sink.port()}}) + api_route(three));
        raw_client c(s.port());
        c.send(get_request("/api"));
        CHECK(c.read().result_int() == 200);
        REQUIRE(sink.wait_for(2));
        // The cap is full: a second request's tasks are all refused, and the response is not.
        c.send(get_request("/api"));
        CHECK(c.read().result_int() == 200);
        CHECK(eventually([&] { return tasks(s).get(outcome::rejected_overflow) == 4; }));
        sink.release();
        CHECK(settled(s, 6));
        CHECK(tasks(s).get(outcome::completed) == 2);
    }
}

TEST_CASE("one failing after-action does not stop its siblings", "[lifecycle][all-settled]") {
    sink_server sink;
    // An upstream that refuses connections: a port that was free a moment ago.
    std::uint16_t dead_port;
    {
        net::io_context ioc;
        tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
        dead_port = a.local_endpoint().port();
    }
    running_server s(base_config() +
                     upstream_block({{"collector", sink.port()}, {"dead", dead_port}}) +
                     api_route("      - http: { upstream: dead, path: /x }\n"
                               "      - http: { upstream: collector, path: /ok }\n"
                               "      - log: { message: \"served ${request.path}\" }\n"));
    raw_client c(s.port());
    c.send(get_request("/api/x"));
    CHECK(c.read().result_int() == 200);
    CHECK(settled(s, 3));
    CHECK(tasks(s).get(outcome::failed) == 1);
    CHECK(tasks(s).get(outcome::completed) == 2);
    REQUIRE(sink.records().size() == 1);
    CHECK(sink.records()[0].target == "/ok");
}

TEST_CASE("retries: a 5xx from an idempotent call is retried within the budget",
          "[lifecycle][after]") {
    sink_server sink;
    sink.answer_with(503);
    running_server s(base_config() + upstream_block({{"collector", sink.port()}}) +
                     api_route("      - http: { upstream: collector, method: PUT, path: /p }\n"
                               "      - http: { upstream: collector, method: POST, path: /q }\n"));
    raw_client c(s.port());
    c.send(get_request("/api"));
    CHECK(c.read().result_int() == 200);
    CHECK(settled(s, 2));
    CHECK(tasks(s).get(outcome::failed) == 2);
    int puts = 0, posts = 0;
    for (const auto& r : sink.records()) (r.method == "PUT" ? puts : posts)++;
    CHECK(puts == 3);   // idempotent: three attempts
    CHECK(posts == 1);  // not idempotent and no `retry: true`: one attempt
}

TEST_CASE("subrequests carry the request id, traceparent and escaped template values",
          "[lifecycle][after]") {
    sink_server sink;
    running_server s(
        base_config() + upstream_block({{"collector", sink.port()}}) +
        api_route(
            "      - http: { upstream: collector, method: POST, path: \"/e?s=${response.status}\","
            " headers: { content-type: application/json, x-path: \"${request.path}\" },"
            " body: '{\"ua\":\"${request.header.user-agent}\",\"q\":\"${request.query}\"}' }\n"
            "      - mirror: { upstream: collector }\n"));
    raw_client c(s.port());
    const std::string trace = "0af7651916cd43dd8448eb211c80319c";
    c.send(
        "POST /api/m?x=1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: rid-7\r\n"
        "User-Agent: evil\"agent\\\r\ntraceparent: 00-" +
        trace +
        "-b7ad6b7169203331-01\r\n"
        "Content-Length: 4\r\n\r\nbody");
    CHECK(c.read().result_int() == 200);
    REQUIRE(sink.wait_for(2));
    CHECK(settled(s, 2));
    for (const auto& r : sink.records()) {
        CHECK(r.headers.at("x-request-id") == "rid-7");
        const auto& tp = r.headers.at("traceparent");
        CHECK(tp.size() == 55);
        CHECK(tp.substr(3, 32) == trace);
        CHECK(tp.substr(36, 16) != "b7ad6b7169203331");  // a new span
        if (r.target.starts_with("/e")) {
            CHECK(r.target == "/e?s=200");
            CHECK(r.headers.at("x-path") == "/api/m");
            auto body = nlohmann::json::parse(r.body);
            CHECK(body["ua"] == "evil\"agent\\");
            CHECK(body["q"] == "x=1");
        } else {
            // The mirror replays method, target, headers and body.
            CHECK(r.method == "POST");
            CHECK(r.target == "/api/m?x=1");
            CHECK(r.body == "body");
            CHECK(r.headers.at("user-agent") == "evil\"agent\\");
        }
    }
}

TEST_CASE("a burst with mixed outcomes: counts add up to the tasks registered",
          "[lifecycle][accounting]") {
    sink_server fast, slow;
    slow.hold(30s);
    std::uint16_t dead_port;
    {
        net::io_context ioc;
        tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
        dead_port = a.local_endpoint().port();
    }
    running_server s(
        base_config("", 2) + "lifecycle: { max_background_tasks: 60 }\n" +
        upstream_block({{"fast", fast.port()}, {"slow", slow.port()}, {"dead", dead_port}}) +
        api_route("      - http: { upstream: fast, path: /f }\n"
                  "      - http: { upstream: slow, path: /s }\n"
                  "      - http: { upstream: dead, path: /d, method: POST }\n"
                  "      - log: { message: m }\n"
                  "      - log: { message: over the bound }\n",
                  "{ max_wait_until: 4, wall_budget: 500ms }"));
    constexpr int requests = 25;
    std::vector<std::unique_ptr<raw_client>> clients;
    for (int i = 0; i < 5; ++i) clients.push_back(std::make_unique<raw_client>(s.port()));
    for (int i = 0; i < requests; ++i) {
        auto& c = *clients[i % clients.size()];
        c.send(get_request("/api/" + std::to_string(i)));
        REQUIRE(c.read().result_int() == 200);
    }
    CHECK(settled(s, requests * 5));
    const auto t = tasks(s);
    CHECK(t.registered == requests * 5);
    CHECK(t.ended() == t.registered);
    CHECK(t.get(outcome::rejected_overflow) >= requests);  // the 5th action, always
    CHECK(t.get(outcome::completed) > 0);
    CHECK(t.get(outcome::failed) > 0);
    CHECK(t.get(outcome::cancelled_wall_budget) > 0);
}

TEST_CASE("shutdown: pending tasks drain within the grace, the rest are cancelled",
          "[lifecycle][shutdown]") {
    sink_server quick, stuck;
    quick.hold(300ms);
    stuck.hold(60s);
    running_server s(base_config() + "shutdown: { drain_delay: 0s, grace: 2s }\n" +
                     upstream_block({{"quick", quick.port()}, {"stuck", stuck.port()}}) +
                     api_route("      - http: { upstream: quick, path: /q }\n"
                               "      - http: { upstream: stuck, path: /s }\n"));
    raw_client c(s.port());
    c.send(get_request("/api"));
    CHECK(c.read().result_int() == 200);
    REQUIRE(quick.wait_for(1));
    REQUIRE(stuck.wait_for(1));
    s.shutdown();
    s.join();
    const auto& summary = s.get().summary();
    CHECK(summary.tasks_pending == 2);
    CHECK(summary.tasks_drained == 1);
    CHECK(summary.tasks_cancelled == 1);
    CHECK(quick.records()[0].answered);
    CHECK(
        stuck.wait_until([](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
    CHECK(tasks(s).get(outcome::cancelled_shutdown) == 1);
}

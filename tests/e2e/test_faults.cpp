// Fault injection on the binary, against local origins and sinks: connection refused, a reset in
// the middle of a response, a stall past the timeout (before the head and in the body), garbage
// instead of HTTP, a response over the size limit, a name that does not resolve, and a sink that
// answers 500 to every after-action. The client gets the documented status each time, every
// background task ends with exactly one counted outcome, and once the faults are over the open
// file descriptors are back at their baseline and RSS has not grown with the rounds.
// (Redis going away under jobs: tests/e2e/test_redis_jobs.cpp.)

#include <catch2/catch.hpp>

#include "e2e.hpp"
#include "stream_origin.hpp"

using namespace edged::test;

namespace {

struct fault {
    std::string target;
    unsigned status;   // the status the client gets
    bool cut = false;  // the body is cut short: the connection closes before its length
};

}  // namespace

TEST_CASE("faults: each gets its documented status, every task one outcome, nothing leaks",
          "[e2e][faults]") {
    stream_origin origin;
    const auto port = std::to_string(origin.port());
    const refusing_port down;
    const std::string cfg = R"(
server: { listen: ["127.0.0.1:0"], threads: 1 }
admin: { listen: "127.0.0.1:0" }
log: { level: info, access: false }
upstreams:
  origin: { url: "http://127.0.0.1:)" +
                            port + R"(", timeout: 1s, read_timeout: 1s }
  refused: { url: "http://127.0.0.1:)" +
                            std::to_string(down.port()) + R"(" }
  nowhere: { url: "http://edged-no-such-host.invalid:80" }
  sink: { url: "http://127.0.0.1:)" +
                            port + R"(", idle_connections: 0 }
routes:
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin, max_response_bytes: 1MiB } }
    after: [ { http: { upstream: sink, path: /api/fail, body: "${request.path}" } } ]
  - name: refused
    match: { prefix: /refused/ }
    handler: { proxy: { upstream: refused } }
    after: [ { http: { upstream: sink, path: /api/fail } } ]
  - name: nowhere
    match: { prefix: /nowhere/ }
    handler: { proxy: { upstream: nowhere } }
    after: [ { http: { upstream: sink, path: /api/fail } } ]
)";
    process edged({EDGED_BINARY, "--config", write_config("faults.yaml", cfg)});
    auto ports = wait_ports(edged);
    const fault faults[] = {
        {"/refused/x", 502},         {"/nowhere/x", 502},           {"/api/reset", 200, true},
        {"/api/stall", 504},         {"/api/stallbody", 200, true}, {"/api/garbage", 502},
        {"/api/big?n=2000000", 502},  // a Content-Length over max_response_bytes
        {"/api/who", 200},            // and one that works, between the faults
    };
    int sent = 0;
    const auto round = [&] {
        for (const auto& f : faults) {
            INFO(f.target);
            raw_client c(ports.port, 10s);
            c.send(get_request(f.target));
            ++sent;
            if (f.cut) {
                // The head, then the body short of its Content-Length, then the close.
                const std::string got = c.read_all();
                CHECK(got.rfind("HTTP/1.1 " + std::to_string(f.status) + " ", 0) == 0);
                const auto head_end = got.find("\r\n\r\n");
                REQUIRE(head_end != std::string::npos);
                const auto at = got.find("Content-Length: ");
                REQUIRE(at != std::string::npos);
                CHECK(got.size() - head_end - 4 < std::stoul(got.substr(at + 16)));
                continue;
            }
            CHECK(c.read().result_int() == f.status);
        }
    };
    // Every request registered one after-action; each ends exactly once, here `failed` (the
    // sink answers 500 and a POST is not retried).
    const auto settled = [&] {
        return eventually(
            [&] {
                auto t = admin_stats(ports.admin).at("tasks");
                return t.at("running") == 0 && t.at("registered") == sent;
            },
            15s);
    };
    round();  // warms the pools, the allocator, the lookups
    REQUIRE(settled());
    REQUIRE(eventually([&] {
        auto u = admin_stats(ports.admin).at("upstreams");
        return u.at("origin").at("connections_active") == 0 &&
               u.at("sink").at("connections_active") == 0;
    }));
    const int fds_before = open_fds(edged.pid());
    const long rss_before = rss_kib(edged.pid());
    for (int i = 0; i < 5; ++i) round();
    REQUIRE(settled());
    auto tasks = admin_stats(ports.admin).at("tasks");
    CHECK(tasks.at("failed") == sent);
    std::uint64_t outcomes = 0;
    for (const auto& [name, value] : tasks.items())
        if (name != "registered" && name != "running") outcomes += value.get<std::uint64_t>();
    CHECK(outcomes == static_cast<std::uint64_t>(sent));  // one outcome each, none lost
    // The origin's idle connections may differ (a reset or a stall closes one): wait for the
    // busy ones to end, then compare.
    CHECK(eventually([&] {
        auto u = admin_stats(ports.admin).at("upstreams");
        return u.at("origin").at("connections_active") == 0 &&
               u.at("sink").at("connections_active") == 0 && open_fds(edged.pid()) <= fds_before;
    }));
    CHECK(rss_kib(edged.pid()) < rss_before + 16 * 1024);  // five rounds did not grow it
    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

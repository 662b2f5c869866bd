// Async jobs with the Redis store: a real redis-server on a free loopback port and two edged
// processes sharing it, as replicas behind a load balancer would.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "e2e.hpp"
#include "sink.hpp"

using namespace edged::test;
using nlohmann::json;

namespace {

const char* redis_binary = "/usr/bin/redis-server";

// redis-server in the foreground on 127.0.0.1:`port`, nothing persisted.
std::unique_ptr<process> start_redis(std::uint16_t port,
                                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{
        redis_binary,   "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no",     "--daemonize",        "no"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<process>(args);
    REQUIRE(!p->wait_line("Ready to accept connections").empty());
    return p;
}

struct replica {
    std::unique_ptr<process> proc;
    std::uint16_t port = 0, admin = 0;
};

// `redis_extra` and `origin_extra` are appended to the flow maps of jobs.redis and the origin.
replica start_edged(const std::string& name, std::uint16_t redis_port, std::uint16_t origin_port,
                    const std::string& redis_extra = "", const std::string& origin_extra = "",
                    unsigned threads = 2) {
    const std::string cfg =
        R"(
server: { listen: ["127.0.0.1:0"], threads: )" +
        std::to_string(threads) + R"( }
admin: { listen: "127.0.0.1:0" }
shutdown: { drain_delay: 0s, grace: 1s }
log: { level: info, access: false }
jobs:
  store: redis
  redis: { address: "127.0.0.1:)" +
        std::to_string(redis_port) +
        R"(", lease: 1s, timeout: 500ms, reconnect_interval: 100ms, key_prefix: "t)" +
        std::to_string(::getpid()) + R"(:")" + redis_extra + R"( }
upstreams:
  origin: { url: "http://127.0.0.1:)" +
        std::to_string(origin_port) + R"(", timeout: 60s)" + origin_extra + R"( }
routes:
  - name: work
    match: { prefix: /work/ }
    handler: { job: { upstream: origin, ttl: 1h } }
)";
    replica r;
    r.proc = std::make_unique<process>(
        std::vector<std::string>{EDGED_BINARY, "--config", write_config(name + ".yaml", cfg)});
    const auto ports = wait_ports(*r.proc);
    r.port = ports.port;
    r.admin = ports.admin;
    return r;
}

struct answer {
    unsigned status;
    json body;
};

answer call(std::uint16_t port, const std::string& method, const std::string& target) {
    raw_client c(port, 20s);
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: t\r\n";
    if (method == "POST")
        req += "Content-Length: 1\r\n\r\nx";
    else
        req += "\r\n";
    c.send(req);
    auto res = c.read();
    json j;
    if (res[http::field::content_type] == "application/json") j = json::parse(res.body());
    return {res.result_int(), j};
}

std::string state_of(std::uint16_t port, const std::string& id) {
    auto a = call(port, "GET", "/tasks/" + id);
    return a.status == 200 ? a.body.at("state").get<std::string>() : std::to_string(a.status);
}

// Submits a job to replica `r` whose origin holds its answer; returns the job's id
// once the origin has the request (the job is running).
std::string submit_held(const replica& r, sink_server& origin) {
    auto submitted = call(r.port, "POST", "/work/slow");
    REQUIRE(submitted.status == 202);
    const std::string id = submitted.body.at("id");
    REQUIRE(origin.wait_for(1));
    return id;
}

}  // namespace

TEST_CASE("redis: a job submitted to A is polled and cancelled through B", "[e2e][jobs][redis]") {
    REQUIRE(::access(redis_binary, X_OK) == 0);  // the deps script installs redis-server
    const auto redis_port = free_port();
    auto redis = start_redis(redis_port);
    sink_server origin;
    origin.hold(60s);
    auto a = start_edged("a", redis_port, origin.port());
    auto b = start_edged("b", redis_port, origin.port());

    const std::string id = submit_held(a, origin);
    CHECK(eventually([&] { return state_of(b.port, id) == "running"; }, 5s));

    // B asks; A, which runs it, learns of it at its next heartbeat and aborts the subrequest.
    auto del = call(b.port, "DELETE", "/tasks/" + id);
    CHECK((del.status == 200 || del.status == 202));
    CHECK(eventually([&] { return state_of(b.port, id) == "cancelled"; }, 10s));
    CHECK(state_of(a.port, id) == "cancelled");
    CHECK(
        origin.wait_until([](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
    CHECK(call(a.port, "DELETE", "/tasks/" + id).status == 409);

    // A job that finishes on A is read, result and all, through B.
    origin.release();
    auto next = call(a.port, "POST", "/work/fast");
    REQUIRE(next.status == 202);
    const std::string id2 = next.body.at("id");
    auto done = call(b.port, "GET", "/tasks/" + id2 + "?wait=10s");
    CHECK(done.status == 200);
    CHECK(done.body.at("state") == "succeeded");
    CHECK(done.body.at("result").at("body") == "ok\n");
    CHECK(call(b.port, "GET", "/tasks/" + std::string(32, 'b')).status == 404);

    a.proc->signal(SIGTERM);
    b.proc->signal(SIGTERM);
    CHECK(a.proc->wait_exit(10s) == 0);
    CHECK(b.proc->wait_exit(10s) == 0);
}

TEST_CASE(
    "redis: kill -9 of the replica running a job makes another report failed once its lease "
    "expires",
    "[e2e][jobs][redis]") {
    const auto redis_port = free_port();
    auto redis = start_redis(redis_port);
    sink_server origin;
    origin.hold(60s);
    auto a = start_edged("killed", redis_port, origin.port());
    auto b = start_edged("survivor", redis_port, origin.port());
    const std::string id = submit_held(a, origin);
    a.proc->signal(SIGKILL);
    a.proc->wait_exit(5s);
    CHECK(eventually([&] { return state_of(b.port, id) == "failed"; }, 10s));
    auto j = call(b.port, "GET", "/tasks/" + id).body;
    CHECK_THAT(j.at("error").get<std::string>(), Catch::Contains("lease"));
    b.proc->signal(SIGTERM);
    CHECK(b.proc->wait_exit(10s) == 0);
}

TEST_CASE("redis: while Redis is down submits and polls answer 503, then service resumes by itself",
          "[e2e][jobs][redis]") {
    const auto redis_port = free_port();
    auto redis = start_redis(redis_port);
    sink_server origin;
    auto a = start_edged("reconnect", redis_port, origin.port());
    auto first = call(a.port, "POST", "/work/x");
    REQUIRE(first.status == 202);
    const std::string id = first.body.at("id");

    redis->signal(SIGTERM);
    CHECK(redis->wait_exit(10s) == 0);
    CHECK(call(a.port, "POST", "/work/x").status == 503);
    CHECK(call(a.port, "GET", "/tasks/" + id).status == 503);  // never a wrong 404

    redis = start_redis(redis_port);  // empty: nothing was persisted
    CHECK(eventually([&] { return call(a.port, "POST", "/work/x").status == 202; }, 10s));
    // Each I/O thread reconnects on its own (at most once per reconnect_interval): a poll that
    // lands on another thread may see 503 a moment longer, never a wrong answer.
    CHECK(eventually(
        [&] {
            const auto status = call(a.port, "GET", "/tasks/" + id).status;
            REQUIRE((status == 404 || status == 503));
            return status == 404;
        },
        10s));
    a.proc->signal(SIGTERM);
    CHECK(a.proc->wait_exit(10s) == 0);
}

// Redis going away under running jobs (issue 13's fault list): each job still ends with exactly
// one counted outcome, though its result cannot be stored, and once Redis is back the process
// holds the descriptors and memory it held before.
TEST_CASE("redis: going away under running jobs, each job one counted outcome and nothing leaks",
          "[e2e][jobs][redis][faults]") {
    const auto redis_port = free_port();
    auto redis = start_redis(redis_port);
    sink_server origin;
    // One I/O thread, so one Redis connection (made on first use), and no idle upstream
    // connections kept: the descriptor count cannot depend on which thread a request landed on
    // or on how many origin connections the held jobs opened.
    auto a = start_edged("going-away", redis_port, origin.port(), "", ", idle_connections: 0", 1);
    const auto jobs = [&] { return admin_stats(a.admin).at("jobs"); };
    const auto settled = [&] {
        return eventually(
            [&] {
                auto j = jobs();
                return j.at("unfinished_here") == 0 && j.at("running") == 0 && j.at("pending") == 0;
            },
            15s);
    };
    const auto outcomes = [](const json& j) {
        return j.at("succeeded").get<std::uint64_t>() + j.at("failed").get<std::uint64_t>() +
               j.at("cancelled").get<std::uint64_t>();
    };
    // Warm-up: jobs end to end, so the Redis connection and the allocator's arenas exist.
    for (int i = 0; i < 4; ++i) {
        auto warm = call(a.port, "POST", "/work/warm");
        REQUIRE(warm.status == 202);
        const std::string id = warm.body.at("id");
        REQUIRE(eventually([&] { return state_of(a.port, id) == "succeeded"; }, 5s));
    }
    REQUIRE(settled());
    const int fds_before = open_fds(a.proc->pid());
    const long rss_before = rss_kib(a.proc->pid());

    origin.hold(60s);
    const std::size_t seen = origin.records().size();
    constexpr int held = 6;
    for (int i = 0; i < held; ++i) REQUIRE(call(a.port, "POST", "/work/held").status == 202);
    REQUIRE(origin.wait_for(seen + held));  // all running, none finished
    redis->signal(SIGTERM);
    CHECK(redis->wait_exit(10s) == 0);
    CHECK(call(a.port, "POST", "/work/x").status == 503);  // refused, never a job lost
    origin.release();
    REQUIRE(settled());
    auto j = jobs();
    CHECK(j.at("submitted") == 4 + held);
    CHECK(outcomes(j) == j.at("submitted").get<std::uint64_t>());  // one outcome each
    CHECK(j.at("store_errors").get<std::uint64_t>() >= static_cast<std::uint64_t>(held));

    redis = start_redis(redis_port);
    CHECK(eventually([&] { return call(a.port, "POST", "/work/x").status == 202; }, 10s));
    REQUIRE(settled());
    j = jobs();
    CHECK(outcomes(j) == j.at("submitted").get<std::uint64_t>());
    // Reconnected: the same descriptors as before the fault.
    CHECK(eventually([&] { return open_fds(a.proc->pid()) <= fds_before; }, 10s));
    CHECK(rss_kib(a.proc->pid()) < rss_before + 16 * 1024);
    a.proc->signal(SIGTERM);
    CHECK(a.proc->wait_exit(10s) == 0);
}

TEST_CASE("redis: a job cut off by a shutdown is recorded cancelled with reason shutdown",
          "[e2e][jobs][redis]") {
    const auto redis_port = free_port();
    auto redis = start_redis(redis_port);
    sink_server origin;
    origin.hold(60s);
    auto a = start_edged("stopping", redis_port, origin.port());
    auto b = start_edged("reader", redis_port, origin.port());
    const std::string id = submit_held(a, origin);
    a.proc->signal(SIGTERM);  // grace 1s: the job is cut off
    CHECK(a.proc->wait_exit(10s) == 0);
    auto j = call(b.port, "GET", "/tasks/" + id).body;
    CHECK(j.at("state") == "cancelled");
    CHECK(j.at("error") == "shutdown");
    b.proc->signal(SIGTERM);
    CHECK(b.proc->wait_exit(10s) == 0);
}

TEST_CASE("redis: AUTH with the configured password, a wrong one is 503 and never a 404",
          "[e2e][jobs][redis]") {
    const auto redis_port = free_port();
    auto redis = start_redis(redis_port, {"--requirepass", "s3cret"});
    sink_server origin;
    auto good = start_edged("auth-good", redis_port, origin.port(), ", password: s3cret");
    auto bad = start_edged("auth-bad", redis_port, origin.port(), ", password: wrong");
    auto submitted = call(good.port, "POST", "/work/x");
    REQUIRE(submitted.status == 202);
    const std::string id = submitted.body.at("id");
    CHECK(eventually([&] { return state_of(good.port, id) == "succeeded"; }, 5s));
    CHECK(call(bad.port, "POST", "/work/x").status == 503);
    CHECK(call(bad.port, "GET", "/tasks/" + id).status == 503);
    for (auto* r : {&good, &bad}) {
        r->proc->signal(SIGTERM);
        CHECK(r->proc->wait_exit(10s) == 0);
    }
}

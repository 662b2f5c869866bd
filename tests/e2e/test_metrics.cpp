// GET /metrics on the binary after a known mix of traffic, read through Debian's
// python3-prometheus-client: every counter equals the traffic sent, and /stats agrees.

#include <catch2/catch.hpp>

#include <signal.h>

#include "e2e/e2e.hpp"
#include "sink.hpp"

using namespace edged::test;

namespace {

std::string job_state(std::uint16_t port, const std::string& location) {
    std::string body;
    exchange_once(port, get_request(location + "?wait=10s"), &body);
    return nlohmann::json::parse(body).value("state", "");
}

}  // namespace

TEST_CASE("/metrics counts a known mix of traffic exactly", "[e2e][metrics]") {
    sink_server ok_sink;    // answers 200
    sink_server bad_sink;   // answers 500: after-actions to it fail
    sink_server slow_sink;  // holds: after-actions to it run out of wall budget
    bad_sink.answer_with(500);
    slow_sink.hold(20s);
    ok_sink.answer_body(std::string(4096, 'x'), "text/plain");  // big enough to compress

    const auto url = [](const sink_server& s) {
        return "\"http://127.0.0.1:" + std::to_string(s.port()) + "/\"";
    };
    const std::string cfg = R"(
server: { listen: ["127.0.0.1:0"], threads: 2 }
admin: { listen: "127.0.0.1:0" }
log: { level: info, access: false }
upstreams:
  ok: { url: )" + url(ok_sink) +
                            R"( }
  bad: { url: )" + url(bad_sink) +
                            R"( }
  slow: { url: )" + url(slow_sink) +
                            R"(, timeout: 30s }
  closed: { url: "http://127.0.0.1:1/", connect_timeout: 1s }
routes:
  - name: hello
    match: { path: /hello, methods: [GET] }
    handler: { static: { body: "hello" } }
  - name: done
    match: { path: /done }
    handler: { static: { body: "done" } }
    after:
      - http: { upstream: ok, path: /a }
  - name: fails
    match: { path: /fails }
    handler: { static: { body: "fails" } }
    after:
      - http: { upstream: bad, path: /b }
  - name: late
    match: { path: /late }
    handler: { static: { body: "late" } }
    lifecycle: { wall_budget: 200ms, max_wait_until: 1 }
    after:
      - http: { upstream: slow, path: /c }
      - http: { upstream: ok, path: /d }
  - name: broken
    match: { path: /broken }
    handler: { proxy: { upstream: closed } }
  - name: squeezed
    match: { path: /squeezed }
    handler: { proxy: { upstream: ok } }
    compress: { min_bytes: 100 }
  - name: work
    match: { prefix: /work/ }
    handler: { job: { upstream: ok } }
)";
    process edged({EDGED_BINARY, "--config", write_config("metrics.yaml", cfg)});
    const auto [port, admin_port] = wait_ports(edged);

    // The traffic, each on a connection of its own.
    for (int i = 0; i < 7; ++i) CHECK(exchange_once(port, get_request("/hello")) == 200);
    for (int i = 0; i < 3; ++i) CHECK(exchange_once(port, get_request("/nowhere")) == 404);
    for (int i = 0; i < 2; ++i)
        CHECK(exchange_once(port, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n") ==
              405);
    for (int i = 0; i < 4; ++i) CHECK(exchange_once(port, get_request("/done")) == 200);
    for (int i = 0; i < 2; ++i) CHECK(exchange_once(port, get_request("/fails")) == 200);
    CHECK(exchange_once(port, get_request("/late")) ==
          200);  // one task cut at 200 ms, one rejected
    for (int i = 0; i < 3; ++i) CHECK(exchange_once(port, get_request("/broken")) == 502);
    for (int i = 0; i < 2; ++i)
        CHECK(exchange_once(port, get_request("/squeezed", "Accept-Encoding: gzip\r\n")) == 200);
    std::vector<std::string> jobs;
    for (int i = 0; i < 2; ++i) {
        raw_client c(port);
        c.send("POST /work/" + std::to_string(i) +
               " HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
        auto res = c.read();
        CHECK(res.result_int() == 202);
        jobs.emplace_back(res[http::field::location]);
    }
    for (const auto& location : jobs) CHECK(job_state(port, location) == "succeeded");

    // Every background task has ended (the slow one by its budget).
    REQUIRE(eventually(
        [&] {
            const auto s = admin_stats(admin_port);
            return s["tasks"]["running"] == 0 && s["tasks"]["registered"] == 8;
        },
        10s));

    const auto m = scrape(admin_port);
    const auto requests = [&](const std::string& route, const std::string& code) {
        return metric(m, "edged_requests_total{code=" + code + ",route=" + route + "}");
    };
    CHECK(requests("hello", "200") == 7);
    CHECK(requests("(none)", "404") == 3);
    CHECK(requests("(none)", "405") == 2);
    CHECK(requests("done", "200") == 4);
    CHECK(requests("fails", "200") == 2);
    CHECK(requests("late", "200") == 1);
    CHECK(requests("broken", "502") == 3);
    CHECK(requests("squeezed", "200") == 2);
    CHECK(requests("work", "202") == 2);
    CHECK(requests("tasks", "200") == 2);  // the polls

    const auto tasks = [&](const std::string& route, const std::string& outcome) {
        return metric(m,
                      "edged_background_tasks_total{outcome=" + outcome + ",route=" + route + "}");
    };
    CHECK(tasks("done", "completed") == 4);
    CHECK(tasks("fails", "failed") == 2);
    CHECK(tasks("fails", "completed") == 0);
    CHECK(tasks("late", "cancelled:wall_budget") == 1);
    CHECK(tasks("late", "rejected:overflow") == 1);
    CHECK(tasks("hello", "completed") == 0);
    CHECK(metric(m, "edged_background_tasks_running{}") == 0);

    // Histograms: one observation per request; post-response and CPU only for requests with
    // background tasks.
    CHECK(metric(m, "edged_request_duration_seconds_count{route=hello}") == 7);
    CHECK(metric(m, "edged_request_duration_seconds_count{route=(none)}") == 5);
    CHECK(metric(m, "edged_post_response_seconds_count{route=done}") == 4);
    CHECK(metric(m, "edged_request_cpu_seconds_count{route=late}") == 1);
    CHECK(metric(m, "edged_post_response_seconds_count{route=hello}") == 0);
    CHECK(metric(m, "edged_request_duration_seconds_bucket{le=+Inf,route=hello}") == 7);

    const auto sub = [&](const std::string& upstream, const std::string& outcome) {
        return metric(m,
                      "edged_subrequests_total{outcome=" + outcome + ",upstream=" + upstream + "}");
    };
    CHECK(sub("ok", "ok") == 4 + 2 + 2);  // done's tasks, squeezed's proxying, the jobs
    CHECK(sub("bad", "ok") == 2);         // a 500 is a response: the task fails, not the call
    CHECK(sub("slow", "cancelled") == 1);
    CHECK(sub("closed", "connect_error") == 3);
    CHECK(metric(m, "edged_upstream_connections{state=active,upstream=ok}") == 0);

    CHECK(metric(m, "edged_worker_pool_items_total{outcome=completed}") == 2);  // two gzips
    CHECK(metric(m, "edged_jobs_total{result=succeeded}") == 2);
    CHECK(metric(m, "edged_jobs{state=pending}") == 0);
    CHECK(metric(m, "edged_jobs{state=running}") == 0);
    CHECK(metric(m, "edged_connections_total{result=rejected}") == 0);
    CHECK(metric(m, "edged_config_reloads_total{result=error}") == 0);
    CHECK(metric(m, "edged_build_info{version=" EDGED_VERSION "}") == 1);

    // /stats gives the same figures.
    const auto s = admin_stats(admin_port);
    CHECK(s["routes"]["hello"]["requests"] == 7);
    CHECK(s["routes"]["late"]["tasks"]["cancelled:wall_budget"] == 1);
    CHECK(s["upstreams"]["closed"]["connect_error"] == 3);
    CHECK(s["tasks"]["completed"] == 4);

    slow_sink.release();
    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

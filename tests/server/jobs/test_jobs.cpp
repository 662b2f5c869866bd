// Async jobs end to end through a running server and a local origin (the memory store): submit,
// poll, wait, cancel, expiry, limits, idempotency, Prefer: wait; and the pieces (ids, results).

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <set>

#include "harness.hpp"
#include "server/jobs/job.hpp"
#include "sink.hpp"

using namespace edged::test;
using nlohmann::json;
namespace jobs = edged::server::jobs;

namespace {

std::string jobs_config(std::uint16_t origin_port, const std::string& job_extra = "",
                        const std::string& top_extra = "") {
    return base_config() + top_extra +
           "upstreams:\n  origin: { url: \"http://127.0.0.1:" + std::to_string(origin_port) +
           "\", timeout: 30s }\n" + R"(
routes:
  - name: work
    match: { prefix: /work/ }
    handler: { job: { upstream: origin)" +
           job_extra + R"( } }
)";
}

struct answer {
    unsigned status;
    http::response<http::string_body> res;
    json body;
};

answer call(std::uint16_t port, const std::string& method, const std::string& target,
            const std::string& extra = "", const std::string& body = "") {
    raw_client c(port, 20s);
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra;
    if (!body.empty() || method == "POST")
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    c.send(req + "\r\n" + body);
    auto res = c.read();
    json j;
    if (res[http::field::content_type] == "application/json") j = json::parse(res.body());
    return {res.result_int(), res, j};
}

std::string submit(std::uint16_t port, const std::string& extra = "",
                   const std::string& body = "x") {
    auto a = call(port, "POST", "/work/do?n=1", extra, body);
    REQUIRE(a.status == 202);
    return a.body.at("id").get<std::string>();
}

json poll_until(std::uint16_t port, const std::string& id, const std::string& state) {
    json last;
    eventually(
        [&] {
            auto a = call(port, "GET", "/tasks/" + id);
            last = a.body;
            return a.status == 200 && last.at("state") == state;
        },
        10s);
    return last;
}

}  // namespace

TEST_CASE(
    "jobs: 202 with Location and Retry-After, then running, then succeeded with the origin's "
    "answer",
    "[jobs]") {
    sink_server origin;
    origin.hold(60s);
    origin.answer_body("{\"done\":true}", "application/json");
    running_server s(jobs_config(origin.port()));
    auto a = call(s.port(), "POST", "/work/do?n=1", "X-Custom: 7\r\nContent-Type: text/plain\r\n",
                  "payload");
    REQUIRE(a.status == 202);
    const std::string id = a.body.at("id");
    CHECK(jobs::valid_job_id(id));
    CHECK(a.res[http::field::location] == "/tasks/" + id);
    CHECK(a.body.at("status_url") == "/tasks/" + id);
    CHECK(a.res[http::field::retry_after] == "1");
    const std::string submit_request_id(a.res["X-Request-Id"]);

    // The origin gets the original request: method, path, query, end-to-end fields, body, and
    // the submitting request's X-Request-Id.
    REQUIRE(origin.wait_for(1));
    auto rec = origin.records()[0];
    CHECK(rec.method == "POST");
    CHECK(rec.target == "/work/do?n=1");
    CHECK(rec.body == "payload");
    CHECK(rec.headers["x-custom"] == "7");
    CHECK(rec.headers["x-request-id"] == submit_request_id);
    CHECK(rec.headers.count("traceparent") == 1);

    auto running = call(s.port(), "GET", "/tasks/" + id);
    CHECK(running.status == 200);
    CHECK(running.body.at("state") == "running");
    CHECK(!running.body.at("started_at").is_null());
    CHECK(running.body.at("finished_at").is_null());

    origin.release();
    auto done = poll_until(s.port(), id, "succeeded");
    REQUIRE(done.at("state") == "succeeded");
    CHECK(done.at("result").at("status") == 200);
    CHECK(done.at("result").at("body") == "{\"done\":true}");
    CHECK(done.at("result").at("body_encoding") == "utf-8");
    CHECK(done.at("result").at("truncated") == false);
    CHECK(!done.at("finished_at").is_null());
    CHECK(!done.at("created_at").is_null());
}

TEST_CASE("jobs: a poll at once after the 202 never sees 404", "[jobs]") {
    sink_server origin;
    running_server s(jobs_config(origin.port()));
    for (int i = 0; i < 50; ++i) {
        const auto id = submit(s.port());
        CHECK(call(s.port(), "GET", "/tasks/" + id).status == 200);
    }
}

TEST_CASE("jobs: failed when the origin is down or times out, with the reason", "[jobs]") {
    SECTION("down") {
        const refusing_port down;
        running_server s(jobs_config(down.port()));
        const auto id = submit(s.port());
        auto j = poll_until(s.port(), id, "failed");
        CHECK(j.at("state") == "failed");
        CHECK_THAT(j.at("error").get<std::string>(), Catch::Contains("cannot connect"));
    }
    SECTION("timeout: the job's own, not the upstream's") {
        sink_server origin;
        origin.hold(30s);
        running_server s(jobs_config(origin.port(), ", timeout: 300ms"));
        const auto id = submit(s.port());
        auto j = poll_until(s.port(), id, "failed");
        CHECK(j.at("state") == "failed");
        CHECK_THAT(j.at("error").get<std::string>(), Catch::Contains("timed out"));
    }
}

TEST_CASE("jobs: DELETE of a running job aborts its subrequest, of a pending one it never runs",
          "[jobs]") {
    sink_server origin;
    origin.hold(60s);
    // One job at a time: the second waits (pending).
    running_server s(jobs_config(origin.port(), "", "jobs: { concurrency: 1 }\n"));
    const auto first = submit(s.port());
    REQUIRE(origin.wait_for(1));
    const auto second = submit(s.port());
    CHECK(call(s.port(), "GET", "/tasks/" + second).body.at("state") == "pending");

    auto del = call(s.port(), "DELETE", "/tasks/" + second);
    CHECK(del.status == 200);
    CHECK(del.body.at("state") == "cancelled");

    del = call(s.port(), "DELETE", "/tasks/" + first);
    CHECK(del.status == 200);
    CHECK(del.body.at("state") == "cancelled");
    CHECK(del.body.at("started_at").is_string());
    // The origin saw the connection close, and never got the second job.
    CHECK(
        origin.wait_until([](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
    std::this_thread::sleep_for(100ms);
    CHECK(origin.records().size() == 1);
    // A finished job cannot be cancelled.
    CHECK(call(s.port(), "DELETE", "/tasks/" + first).status == 409);
}

TEST_CASE("jobs: unknown and malformed ids are 404, finished jobs expire after ttl", "[jobs]") {
    sink_server origin;
    running_server s(jobs_config(origin.port(), ", ttl: 1s"));
    CHECK(call(s.port(), "GET", "/tasks/" + std::string(32, 'a')).status == 404);
    CHECK(call(s.port(), "GET", "/tasks/nope").status == 404);
    CHECK(call(s.port(), "GET", "/tasks/" + std::string(32, 'A')).status == 404);
    CHECK(call(s.port(), "DELETE", "/tasks/" + std::string(31, 'a')).status == 404);
    const auto id = submit(s.port());
    poll_until(s.port(), id, "succeeded");
    CHECK(eventually([&] { return call(s.port(), "GET", "/tasks/" + id).status == 404; }, 5s));
}

TEST_CASE("jobs: at max_jobs unfinished jobs a submit gets 503 with Retry-After", "[jobs]") {
    sink_server origin;
    origin.hold(60s);
    running_server s(jobs_config(origin.port(), ", max_jobs: 2"));
    submit(s.port());
    submit(s.port());
    auto a = call(s.port(), "POST", "/work/x", "", "x");
    CHECK(a.status == 503);
    CHECK(!a.res[http::field::retry_after].empty());
    origin.release();
    int refused = 1;
    CHECK(eventually([&] {
        if (call(s.port(), "POST", "/work/x", "", "x").status == 202) return true;
        ++refused;
        return false;
    }));
    auto stats = json::parse(call(s.admin_port(), "GET", "/stats").res.body());
    CHECK(stats.at("jobs").at("rejected") == refused);
}

TEST_CASE("jobs: ?wait= answers when the job ends", "[jobs]") {
    sink_server origin;
    origin.hold(500ms);
    running_server s(jobs_config(origin.port()));
    const auto id = submit(s.port());
    auto a = call(s.port(), "GET", "/tasks/" + id + "?wait=10s");
    CHECK(a.status == 200);
    CHECK(a.body.at("state") == "succeeded");
    CHECK(call(s.port(), "GET", "/tasks/" + id + "?wait=soon").status == 400);
}

TEST_CASE("jobs: the same Idempotency-Key twice gives one job", "[jobs]") {
    sink_server origin;
    running_server s(jobs_config(origin.port()));
    const auto a = submit(s.port(), "Idempotency-Key: order-17\r\n");
    const auto b = submit(s.port(), "Idempotency-Key: order-17\r\n");
    const auto c = submit(s.port(), "Idempotency-Key: order-18\r\n");
    CHECK(a == b);
    CHECK(a != c);
    // Both jobs run at once: each has reached the origin when it has succeeded.
    poll_until(s.port(), a, "succeeded");
    poll_until(s.port(), c, "succeeded");
    CHECK(origin.records().size() == 2);
    CHECK(call(s.port(), "POST", "/work/x", "Idempotency-Key: \x01\r\n", "x").status == 400);
}

TEST_CASE("jobs: Prefer: wait= answers inline for a fast job and 202 for a slow one", "[jobs]") {
    SECTION("fast") {
        sink_server origin;
        origin.answer_body("fast result", "text/plain");
        running_server s(jobs_config(origin.port()));
        auto a = call(s.port(), "POST", "/work/x", "Prefer: respond-async, wait=5\r\n", "x");
        CHECK(a.status == 200);
        CHECK(a.res.body() == "fast result");
        CHECK(a.res[http::field::content_location].starts_with("/tasks/"));
    }
    SECTION("slow") {
        sink_server origin;
        origin.hold(30s);
        running_server s(jobs_config(origin.port(), "", "shutdown: { grace: 200ms }\n"));
        auto a = call(s.port(), "POST", "/work/x", "Prefer: respond-async, wait=1\r\n", "x");
        CHECK(a.status == 202);
        CHECK(a.res["Preference-Applied"] == "respond-async");
    }
}

TEST_CASE("jobs: a shutdown drains running jobs within the grace, the rest end cancelled",
          "[jobs][shutdown]") {
    sink_server origin;
    origin.hold(60s);
    running_server s(
        jobs_config(origin.port(), "", "shutdown: { drain_delay: 0s, grace: 300ms }\n"));
    submit(s.port());
    REQUIRE(origin.wait_for(1));
    s.stop();
    CHECK(
        origin.wait_until([](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
    auto stats = s.get().stats();
    CHECK(stats.at("jobs").at("cancelled") == 1);
    CHECK(stats.at("jobs").at("submitted") == 1);
}

TEST_CASE("jobs: ids are 128 random bits, 10,000 of them all distinct", "[jobs][unit]") {
    std::set<std::string> ids;
    for (int i = 0; i < 10000; ++i) {
        auto id = jobs::new_job_id();
        REQUIRE(jobs::valid_job_id(id));
        ids.insert(std::move(id));
    }
    CHECK(ids.size() == 10000);
}

TEST_CASE("jobs: results keep text as text, bytes as base64, and say when they were cut",
          "[jobs][unit]") {
    auto text = jobs::make_result(200, {}, "h\xc3\xa9llo", 100);
    CHECK(!text.body_base64);
    CHECK(text.body == "h\xc3\xa9llo");
    // A cut inside a UTF-8 sequence backs off to its start: still text.
    auto cut = jobs::make_result(200, {}, "h\xc3\xa9llo", 2);
    CHECK(cut.truncated);
    CHECK(!cut.body_base64);
    CHECK(cut.body == "h");
    const std::string bytes("\x00\xff\xfe\x01", 4);
    auto bin = jobs::make_result(200, {}, bytes, 100);
    CHECK(bin.body_base64);
    CHECK(bin.body == "AP/+AQ==");
    CHECK(jobs::base64_decode(bin.body) == bytes);
    // A record survives its JSON (how Redis keeps it).
    jobs::job_record r;
    r.id = jobs::new_job_id();
    r.route = "work";
    r.state = jobs::job_state::succeeded;
    r.created_at = jobs::wall_clock::now();
    r.finished_at = r.created_at + std::chrono::milliseconds(1500);
    r.result = bin;
    auto back = jobs::record_from_json(jobs::to_json(r));
    CHECK(jobs::to_json(back) == jobs::to_json(r));
    CHECK(!jobs::valid_utf8("\xed\xa0\x80"));  // a surrogate
    CHECK(!jobs::valid_utf8("\xc0\xaf"));      // overlong
}

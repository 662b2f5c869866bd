// Reload on SIGHUP, on the binary: a steady client stream across reloads, valid and invalid
// files, a route a reload adds, and a request in flight that keeps the budgets it began with.

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <thread>

#include "e2e/e2e.hpp"
#include "sink.hpp"

using namespace edged::test;

namespace {

// Config A or B (`b`), with the slow after-action's upstream on `port`. B answers /hello with
// "B", adds the route /added, and gives the /slow route's tasks a 300 ms wall budget (A: 30 s).
std::string reload_config(bool b, std::uint16_t port) {
    std::string s = R"(
server: { listen: ["127.0.0.1:0"], threads: 2 }
admin: { listen: "127.0.0.1:0" }
log: { level: info, access: false }
upstreams:
  collector: { url: "http://127.0.0.1:)" +
                    std::to_string(port) + R"(/", timeout: 30s }
routes:
  - name: hello
    match: { path: /hello }
    handler: { static: { body: ")" +
                    std::string(b ? "B" : "A") + R"(" } }
  - name: slow
    match: { path: /slow }
    handler: { static: { body: "slow" } }
    lifecycle: { wall_budget: )" +
                    std::string(b ? "300ms" : "30s") + R"( }
    after:
      - http: { upstream: collector, path: /task }
)";
    if (b)
        s += R"(
  - name: added
    match: { path: /added }
    handler: { static: { body: "added" } }
)";
    return s;
}

// Two errors the loader reports with their lines.
const std::string invalid_config = R"(
server: { listen: ["127.0.0.1:0"], threads: 2, bogus: 1 }
routes:
  - name: hello
    match: { path: /hello }
    handler: { static: { status: 999 } }
)";

unsigned status_of(std::uint16_t port, const std::string& target, std::string* body = nullptr) {
    return exchange_once(port, get_request(target), body);
}

}  // namespace

TEST_CASE("SIGHUP reloads: 20 reloads under a steady stream lose no request", "[e2e][reload]") {
    sink_server collector;
    const std::string path = write_config("reload.yaml", reload_config(false, collector.port()));
    process edged({EDGED_BINARY, "--config", path});
    const auto [port, admin_port] = wait_ports(edged);
    CHECK(status_of(port, "/added") == 404);

    // The steady stream: two clients, one on a keep-alive connection, one opening a
    // connection per request. Every request must get a 200 from A or B.
    std::atomic<bool> stop{false};
    std::atomic<unsigned> answered{0}, failed{0};
    auto keep_alive = std::thread([&] {
        try {
            raw_client c(port);
            while (!stop) {
                c.send(get_request("/hello"));
                auto res = c.read();
                const bool ok = res.result_int() == 200 && (res.body() == "A" || res.body() == "B");
                (ok ? answered : failed)++;
            }
        } catch (const std::exception&) {
            failed++;
        }
    });
    auto fresh = std::thread([&] {
        while (!stop) {
            try {
                std::string body;
                const bool ok = status_of(port, "/hello", &body) == 200;
                (ok ? answered : failed)++;
            } catch (const std::exception&) {
                failed++;
            }
        }
    });

    // 20 reloads: B, invalid, A, invalid, B, ... each waited for in the log.
    std::size_t ok_seen = 0, refused_seen = 0;
    for (int i = 0; i < 20; ++i) {
        const bool valid = i % 2 == 0;
        std::ofstream(path) << (valid ? reload_config(i % 4 == 0, collector.port())
                                      : invalid_config);
        edged.signal(SIGHUP);
        if (valid) {
            ++ok_seen;
            REQUIRE(edged.wait_count("\"msg\":\"config reloaded\"", ok_seen) == ok_seen);
        } else {
            ++refused_seen;
            REQUIRE(edged.wait_count("config reload refused", refused_seen) == refused_seen);
        }
        // Between reloads the stream goes on for a moment.
        const unsigned before = answered;
        REQUIRE(eventually([&] { return answered >= before + 20; }));
    }
    stop = true;
    keep_alive.join();
    fresh.join();
    CHECK(failed == 0);
    CHECK(answered > 400);

    // The last valid file was A (i = 18): /added is gone again; before that B had added it.
    CHECK(status_of(port, "/added") == 404);
    // Every refused reload logged its errors, each with its key path and line.
    const std::string out = edged.output();
    CHECK(out.find("server.bogus") != std::string::npos);
    CHECK(out.find("status") != std::string::npos);

    const auto m = scrape(admin_port);
    CHECK(metric(m, "edged_config_reloads_total{result=ok}") == 10);
    CHECK(metric(m, "edged_config_reloads_total{result=error}") == 10);
    CHECK(metric(m, "edged_config_generation{}") == 11);

    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

TEST_CASE("SIGHUP: a route added by a reload answers, an invalid file leaves it in place",
          "[e2e][reload]") {
    sink_server collector;
    const std::string path = write_config("reload2.yaml", reload_config(false, collector.port()));
    process edged({EDGED_BINARY, "--config", path});
    const auto port = wait_ports(edged).port;

    std::ofstream(path) << reload_config(true, collector.port());
    edged.signal(SIGHUP);
    REQUIRE(!edged.wait_line("\"msg\":\"config reloaded\"").empty());
    std::string body;
    CHECK(status_of(port, "/added", &body) == 200);
    CHECK(body == "added");
    CHECK(status_of(port, "/hello", &body) == 200);
    CHECK(body == "B");

    std::ofstream(path) << invalid_config;
    edged.signal(SIGHUP);
    const std::string refused = edged.wait_line("config reload refused");
    REQUIRE(!refused.empty());
    CHECK(status_of(port, "/added") == 200);  // the old (B) behaviour stays
    CHECK(status_of(port, "/hello", &body) == 200);
    CHECK(body == "B");

    // The first job route needs the job service, which only a start brings up.
    std::ofstream(path) << reload_config(true, collector.port()) + R"(
  - name: work
    match: { prefix: /work/ }
    handler: { job: { upstream: collector } }
)";
    edged.signal(SIGHUP);
    REQUIRE(edged.wait_count("config reload refused", 2) == 2);
    CHECK(edged.output().find("restart edged to add the first one") != std::string::npos);
    CHECK(status_of(port, "/added") == 200);

    // A file that cannot be read is refused too.
    ::unlink(path.c_str());
    edged.signal(SIGHUP);
    CHECK(edged.wait_count("config reload refused", 3) == 3);
    CHECK(status_of(port, "/added") == 200);

    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

TEST_CASE("SIGHUP: a request in flight keeps the budgets it began with, new ones get the new",
          "[e2e][reload]") {
    sink_server collector;
    collector.hold(20s);  // the after-action's call waits until released
    const std::string path = write_config("reload3.yaml", reload_config(false, collector.port()));
    process edged({EDGED_BINARY, "--config", path});
    const auto port = wait_ports(edged).port;

    // Begun under A (wall budget 30 s): its task waits on the collector.
    CHECK(status_of(port, "/slow") == 200);
    REQUIRE(collector.wait_for(1));

    // Reload to B (wall budget 300 ms), then hold the old task past 300 ms.
    std::ofstream(path) << reload_config(true, collector.port());
    edged.signal(SIGHUP);
    REQUIRE(!edged.wait_line("\"msg\":\"config reloaded\"").empty());

    // Begun under B: cancelled by its 300 ms budget while the collector still holds.
    CHECK(status_of(port, "/slow") == 200);
    REQUIRE(collector.wait_for(2));
    const std::string cancelled = edged.wait_line("cancelled:wall_budget", 10s);
    REQUIRE(!cancelled.empty());
    // The first task outlived B's budget: it is still running, and completes once released.
    CHECK(edged.wait_count("\"msg\":\"lifecycle closed\"", 2, 200ms) == 1);
    collector.release();
    REQUIRE(edged.wait_count("\"msg\":\"lifecycle closed\"", 2) == 2);
    const std::string out = edged.output();
    CHECK(out.find("\"completed\":1") != std::string::npos);

    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

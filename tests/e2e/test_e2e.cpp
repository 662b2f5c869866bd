// End-to-end tests against the built edged binary: a real config file, real signals, real
// sockets. The binary logs the ports it bound (config asks for port 0), so tests never guess.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <vector>

#include "e2e/e2e.hpp"
#include "harness.hpp"
#include "process.hpp"
#include "sink.hpp"

extern char** environ;

using namespace edged::test;

namespace {

const std::string e2e_config = R"(
server:
  listen: ["127.0.0.1:0"]
  threads: 2
admin: { listen: "127.0.0.1:0" }
shutdown: { drain_delay: 1s, grace: 10s }
log: { level: info, access: true }
routes:
  - name: hello
    match: { path: /hello, methods: [GET] }
    handler: { static: { status: 200, body: "hello, world\n" } }
  - name: upload
    match: { path: /upload, methods: [POST] }
    handler: { static: { status: 201, body: "stored\n" } }
)";

}  // namespace

TEST_CASE("SIGTERM: readyz 503, in-flight request completes, listeners close, exit 0", "[e2e]") {
    process edged({EDGED_BINARY, "--config", write_config("drain.yaml", e2e_config)});
    std::string listening = edged.wait_line("\"msg\":\"listening\"");
    std::string admin_line = edged.wait_line("\"msg\":\"admin listening\"");
    REQUIRE(!listening.empty());
    REQUIRE(!admin_line.empty());
    const auto port = port_from(listening);
    const auto admin_port = port_from(admin_line);

    // A real HTTP client (Beast) against the running daemon.
    {
        net::io_context ioc;
        beast::tcp_stream stream(ioc);
        stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
        http::request<http::empty_body> req{http::verb::get, "/hello", 11};
        req.set(http::field::host, "localhost");
        http::write(stream, req);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(stream, buf, res);
        CHECK(res.result_int() == 200);
        CHECK(res.body() == "hello, world\n");
        CHECK(!res["X-Request-Id"].empty());
    }
    auto readyz = [&] {
        raw_client c(admin_port);
        c.send(get_request("/readyz"));
        return c.read().result_int();
    };
    REQUIRE(readyz() == 200);

    // A slow request: its body is half sent when the signal arrives.
    raw_client slow(port, 15s);
    slow.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc");
    std::this_thread::sleep_for(100ms);

    edged.signal(SIGTERM);
    CHECK(eventually([&] { return readyz() == 503; }, 2s));
    // After the drain delay (1 s) the listeners are closed.
    CHECK(eventually([&] { return connect_refused(port); }, 5s));
    slow.send("def");
    auto res = slow.read();
    CHECK(res.result_int() == 201);
    CHECK(res[http::field::connection] == "close");

    CHECK(edged.wait_exit(15s) == 0);
    std::string summary = edged.wait_line("shutdown complete", 1s);
    INFO(edged.output());
    REQUIRE(!summary.empty());
    auto j = nlohmann::json::parse(summary);
    CHECK(j.at("graceful") == true);
    CHECK(j.at("requests").get<int>() == 2);
    CHECK(!edged.wait_line("\"msg\":\"access\"", 1s).empty());
}

TEST_CASE("a second signal ends the process at once with exit code 3", "[e2e]") {
    process edged({EDGED_BINARY, "--config", write_config("second.yaml", e2e_config)});
    std::string listening = edged.wait_line("\"msg\":\"listening\"");
    REQUIRE(!listening.empty());
    raw_client slow(port_from(listening), 15s);
    slow.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc");
    std::this_thread::sleep_for(100ms);
    edged.signal(SIGTERM);
    REQUIRE(!edged.wait_line("shutdown started").empty());
    edged.signal(SIGINT);
    CHECK(edged.wait_exit(5s) == 3);
}

TEST_CASE("CLI: check-config and version and help and bad arguments", "[e2e][cli]") {
    {
        process p({EDGED_BINARY, "--check-config", write_config("ok.yaml", e2e_config)});
        CHECK(p.wait_exit(10s) == 0);
        p.wait_line("}");
        auto out = p.output();
        auto j = nlohmann::json::parse(out);
        CHECK(j["server"]["limits"]["header_bytes"] == "16KiB");
        CHECK(j["routes"][0]["name"] == "hello");
    }
    {
        const std::string bad = R"(
server: { threads: 0, bogus: 1 }
routes:
  - name: a
    match: { path: /a }
    handler: { static: { status: 999 } }
)";
        process p({EDGED_BINARY, "--check-config", write_config("bad.yaml", bad)});
        CHECK(p.wait_exit(10s) == 2);
        p.wait_line("status");
        auto out = p.output();
        CHECK(out.find("server.bogus") != std::string::npos);
        CHECK(out.find("server.threads") != std::string::npos);
        CHECK(out.find("routes[0].handler.static.status") != std::string::npos);
        CHECK(out.find("line ") != std::string::npos);
    }
    {
        // What only building the routes finds (an after-action's unknown template variable)
        // is a config error for the check and for a start alike: exit 2, naming the route.
        const std::string unbuildable = R"(
upstreams: { sink: { url: "http://127.0.0.1:9" } }
routes:
  - name: tell
    match: { path: /t }
    handler: { static: { status: 200 } }
    after: [ { http: { upstream: sink, body: "${request.nope}" } } ]
)";
        const auto file = write_config("unbuildable.yaml", unbuildable);
        process check({EDGED_BINARY, "--check-config", file});
        CHECK(check.wait_exit(10s) == 2);
        check.wait_line("nope");
        CHECK(check.output().find("routes.tell") != std::string::npos);
        process start({EDGED_BINARY, "--config", file});
        CHECK(start.wait_exit(10s) == 2);
    }
    {
        // An invalid config refuses to start the daemon.
        process p({EDGED_BINARY, "--config", write_config("bad2.yaml", "server: { port: 1 }\n")});
        CHECK(p.wait_exit(10s) == 2);
    }
    {
        process p({EDGED_BINARY, "--version"});
        CHECK(p.wait_exit(10s) == 0);
        CHECK(!p.wait_line("edged ").empty());
    }
    {
        process p({EDGED_BINARY, "--help"});
        CHECK(p.wait_exit(10s) == 0);
    }
    {
        process p({EDGED_BINARY, "--frobnicate"});
        CHECK(p.wait_exit(10s) == 2);
    }
    {
        // A listener that cannot bind: exit 1 with the address in the message.
        net::io_context ioc;
        tcp::acceptor taken(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        auto port = taken.local_endpoint().port();
        std::string cfg = "server: { listen: [\"127.0.0.1:" + std::to_string(port) +
                          "\"] }\nadmin: { listen: \"127.0.0.1:0\" }\n";
        process p({EDGED_BINARY, "--config", write_config("taken.yaml", cfg)});
        CHECK(p.wait_exit(10s) == 1);
        CHECK(!p.wait_line("cannot listen on 127.0.0.1:" + std::to_string(port)).empty());
    }
}

TEST_CASE(
    "SIGTERM with background tasks: drained ones complete, the rest are cancelled and counted",
    "[e2e][lifecycle]") {
    sink_server quick, stuck;
    quick.hold(300ms);
    stuck.hold(60s);
    const std::string cfg = R"(
server: { listen: ["127.0.0.1:0"], threads: 1 }
admin: { listen: "127.0.0.1:0" }
shutdown: { drain_delay: 0s, grace: 2s }
upstreams:
  quick: { url: "http://127.0.0.1:)" +
                            std::to_string(quick.port()) + R"(" }
  stuck: { url: "http://127.0.0.1:)" +
                            std::to_string(stuck.port()) + R"(", timeout: 60s }
routes:
  - name: api
    match: { prefix: /api }
    handler: { static: { status: 200, body: "ok\n" } }
    after:
      - http: { upstream: quick, path: /q }
      - http: { upstream: stuck, path: /s }
)";
    process edged({EDGED_BINARY, "--config", write_config("tasks.yaml", cfg)});
    std::string listening = edged.wait_line("\"msg\":\"listening\"");
    REQUIRE(!listening.empty());
    {
        raw_client c(port_from(listening));
        c.send(get_request("/api"));
        CHECK(c.read().result_int() == 200);
    }
    REQUIRE(quick.wait_for(1));
    REQUIRE(stuck.wait_for(1));
    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
    std::string summary = edged.wait_line("shutdown complete", 1s);
    INFO(edged.output());
    REQUIRE(!summary.empty());
    auto j = nlohmann::json::parse(summary);
    CHECK(j.at("tasks_pending") == 2);
    CHECK(j.at("tasks_drained") == 1);
    CHECK(j.at("tasks_cancelled") == 1);
    CHECK(quick.records()[0].answered);
    CHECK(
        stuck.wait_until([](const auto& r) { return !r.empty() && r[0].peer_closed_while_held; }));
    // One summary line for the request that had background work.
    std::string closed = edged.wait_line("\"msg\":\"lifecycle closed\"", 1s);
    REQUIRE(!closed.empty());
    auto lc = nlohmann::json::parse(closed);
    CHECK(lc.at("tasks") == 2);
    CHECK(lc.at("completed") == 1);
    CHECK(lc.at("cancelled:shutdown") == 1);
}

namespace {

// A JSON document of about `size` bytes that compresses the way real API answers do.
std::string json_body(std::size_t size) {
    std::string doc = "[";
    for (unsigned i = 0; doc.size() < size; ++i) {
        if (i) doc += ',';
        doc.append("{\"id\":").append(std::to_string(i));
        doc.append(",\"name\":\"item-").append(std::to_string(i * 7919 % 10007));
        doc.append("\",\"score\":").append(std::to_string(i * 31 % 997)).append("}");
    }
    return doc + "]";
}

}  // namespace

TEST_CASE("curl --compressed against compressing routes gets the original bytes back",
          "[e2e][compress]") {
    const char* curl = "/usr/bin/curl";
    REQUIRE(::access(curl, X_OK) == 0);  // the deps script installs it
    const std::string doc = json_body(300 * 1024);
    sink_server origin;
    origin.answer_body(doc, "application/json");
    const std::string doc_path = write_config("doc.json", doc);
    const std::string cfg = R"(
server: { listen: ["127.0.0.1:0"], threads: 1 }
admin: { listen: "127.0.0.1:0" }
upstreams:
  origin: { url: "http://127.0.0.1:)" +
                            std::to_string(origin.port()) +
                            R"(" }
routes:
  - name: file
    match: { path: /file }
    handler: { static: { file: )" +
                            doc_path +
                            R"(, headers: { Content-Type: application/json } } }
    compress: {}
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin } }
    compress: { encodings: [gzip, br] }
)";
    process edged({EDGED_BINARY, "--config", write_config("compress.yaml", cfg)});
    std::string listening = edged.wait_line("\"msg\":\"listening\"");
    REQUIRE(!listening.empty());
    const std::string base = "http://127.0.0.1:" + std::to_string(port_from(listening));
    for (const std::string path : {"/file", "/api/doc"}) {
        INFO(path);
        const std::string headers = write_config("curl.headers", "");
        const std::string body = write_config("curl.body", "");
        process client({curl, "-sS", "--compressed", "-D", headers, "-o", body, base + path});
        REQUIRE(client.wait_exit(20s) == 0);
        std::string head = slurp(headers);
        for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        INFO(head);
        CHECK(head.find("http/1.1 200") == 0);
        // curl asks for what it can decode (gzip and, as Debian builds it, br).
        CHECK(std::regex_search(head, std::regex("\r\ncontent-encoding: (gzip|br)\r\n")));
        CHECK(head.find("\r\nvary: accept-encoding\r\n") != std::string::npos);
        CHECK(slurp(body) == doc);  // curl decoded it
    }
    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

TEST_CASE("SIGTERM with queued and running offloaded work exits 0 with the items counted",
          "[e2e][pool]") {
    // One pool thread and Brotli's slowest quality on a few MiB: the first response's compression
    // runs for a long while, and the others wait in the queue behind it.
    sink_server origin;
    origin.answer_body(json_body(3 * 1024 * 1024), "application/json");
    const std::string cfg = R"(
server: { listen: ["127.0.0.1:0"], threads: 1, timeouts: { handler: 60s } }
admin: { listen: "127.0.0.1:0" }
shutdown: { drain_delay: 0s, grace: 200ms }
worker_pool: { min_threads: 1, max_threads: 1, queue: 8, queue_timeout: 60s, run_timeout: 60s }
upstreams:
  origin: { url: "http://127.0.0.1:)" +
                            std::to_string(origin.port()) +
                            R"(" }
lifecycle: { cpu_budget: 60s }
routes:
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin } }
    compress: { encodings: [br], br_level: 11 }
)";
    process edged({EDGED_BINARY, "--config", write_config("offload.yaml", cfg)});
    std::string listening = edged.wait_line("\"msg\":\"listening\"");
    std::string admin_line = edged.wait_line("\"msg\":\"admin listening\"");
    REQUIRE(!listening.empty());
    REQUIRE(!admin_line.empty());
    const auto port = port_from(listening);
    const auto admin_port = port_from(admin_line);

    std::vector<std::unique_ptr<raw_client>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<raw_client>(port, 30s));
        clients.back()->send("GET /api/" + std::to_string(i) +
                             " HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n\r\n");
    }
    REQUIRE(eventually(
        [&] {
            auto pool = admin_stats(admin_port).at("worker_pool");
            return pool.at("busy") == 1 && pool.at("queued") == 2;
        },
        20s));

    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(30s) == 0);
    std::string summary = edged.wait_line("shutdown complete", 1s);
    INFO(edged.output());
    REQUIRE(!summary.empty());
    auto j = nlohmann::json::parse(summary);
    CHECK(j.at("offload_running") == 1);
    CHECK(j.at("offload_queued") == 2);
    // The body is compressed block by block as it streams, each block an item on the pool. How
    // many blocks end before the grace, and whether the one running at the grace returns or is
    // stopped at its next 64 KiB, is the scheduler's choice; that each item in flight at the
    // signal or submitted since ends exactly once is not.
    CHECK(j.at("offload_queued").get<int>() + j.at("offload_running").get<int>() +
              j.at("offload_submitted").get<int>() ==
          j.at("offload_completed").get<int>() + j.at("offload_failed").get<int>() +
              j.at("offload_cancelled").get<int>());
    CHECK(j.at("offload_failed") == 0);
    CHECK(j.at("connections_closed_at_grace") == 3);
    for (auto& c : clients) {
        // The head had left; whatever of the body had too, the connection ends in a close, the
        // body cut.
        auto bytes = c->read_all();
        CHECK(bytes.starts_with("HTTP/1.1 200 "));
        CHECK(bytes.find("\r\n0\r\n\r\n") == std::string::npos);
    }
    // The access log says what the clients saw: the status that left, and why the body was cut
    // (not the error the close left in the pending write or wait).
    int cut = 0;
    std::istringstream lines(edged.output());
    for (std::string line; std::getline(lines, line);) {
        if (line.find("\"msg\":\"access\"") == std::string::npos) continue;
        auto a = nlohmann::json::parse(line);
        CHECK(a.at("status") == 200);
        CHECK(a.value("error", "") == "closed at the shutdown grace");
        CHECK(a.at("duration_us") == -1);  // never wholly handed to the kernel
        ++cut;
    }
    CHECK(cut == 3);
}

TEST_CASE("the access log's duration lies inside what the client saw, first requests included",
          "[e2e][timing]") {
    // edged's interval (end of the request head -> response handed to the kernel) is inside the
    // client's (connect -> last byte), so it can never be longer. It was, by up to a millisecond,
    // on a connection's first request: the clock was read after the write, and the write's
    // system call can be preempted by the client it wakes.
    const char* curl = "/usr/bin/curl";
    REQUIRE(::access(curl, X_OK) == 0);
    process edged({EDGED_BINARY, "--config", write_config("timing.yaml", e2e_config)});
    std::string listening = edged.wait_line("\"msg\":\"listening\"");
    REQUIRE(!listening.empty());
    const std::string url = "http://127.0.0.1:" + std::to_string(port_from(listening)) + "/hello";
    std::vector<double> client_us;
    for (int i = 0; i < 10; ++i) {
        process c({curl, "-s", "-o", "/dev/null", "-w", "%{time_total}\\n", url});
        REQUIRE(c.wait_exit(10s) == 0);
        std::string total = c.wait_line(".");
        REQUIRE(!total.empty());
        client_us.push_back(std::stod(total) * 1e6);
    }
    edged.signal(SIGTERM);
    REQUIRE(edged.wait_exit(15s) == 0);
    std::vector<std::int64_t> logged;
    std::istringstream lines(edged.output());
    for (std::string line; std::getline(lines, line);)
        if (line.find("\"msg\":\"access\"") != std::string::npos)
            logged.push_back(nlohmann::json::parse(line).at("duration_us").get<std::int64_t>());
    REQUIRE(logged.size() == client_us.size());
    for (std::size_t i = 0; i < logged.size(); ++i) {
        INFO("request " << i << ": logged " << logged[i] << " us, client saw " << client_us[i]
                        << " us");
        CHECK(logged[i] >= 0);
        CHECK(static_cast<double>(logged[i]) <= client_us[i]);
    }
}

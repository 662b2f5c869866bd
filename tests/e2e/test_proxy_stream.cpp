// The streaming proxy on the binary: bodies streamed with bounded memory and back-pressure,
// event streams one event at a time, disconnects reaching the origin, bodiless answers, uploads,
// and an upstream name with two addresses (load spread, ejection, return, DNS changes).

#include <sys/socket.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "e2e.hpp"
#include "stream_origin.hpp"

using namespace edged::test;

namespace {

// A value from /proc/<pid>/status in KiB (VmRSS: now, VmHWM: the peak).
long status_kib(pid_t pid, const std::string& key) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    return -1;
}

std::string stream_config(std::uint16_t origin_port, const std::string& upstream_extra = "",
                          const std::string& proxy_extra = "", const std::string& server_extra = "",
                          const std::string& host = "127.0.0.1") {
    return "server: { listen: [\"127.0.0.1:0\"], threads: 1" + server_extra +
           " }\nadmin: { listen: \"127.0.0.1:0\" }\nlog: { level: info, access: false }\n"
           "upstreams:\n  origin: { url: \"http://" +
           host + ":" + std::to_string(origin_port) + "\"" + upstream_extra +
           " }\nroutes:\n  - name: api\n    match: { prefix: /api/ }\n"
           "    handler: { proxy: { upstream: origin" +
           proxy_extra + " } }\n";
}

// Reads a response head from `c`; the bytes after it stay in `rest`.
std::string read_head(raw_client& c, std::string& rest) {
    char buf[16384];
    for (;;) {
        auto at = rest.find("\r\n\r\n");
        if (at != std::string::npos) {
            std::string head = rest.substr(0, at + 4);
            rest.erase(0, at + 4);
            return head;
        }
        boost::system::error_code ec;
        std::size_t n = c.socket().read_some(net::buffer(buf), ec);
        if (ec) return {};
        rest.append(buf, n);
    }
}

// Reads until `needle` is in `got` (or the client's timeout / a close).
bool read_until(raw_client& c, std::string& got, const std::string& needle) {
    char buf[4096];
    while (got.find(needle) == std::string::npos) {
        boost::system::error_code ec;
        std::size_t n = c.socket().read_some(net::buffer(buf), ec);
        if (ec) return false;
        got.append(buf, n);
    }
    return true;
}

// Adds "address name" lines to /etc/hosts for the test's length (the name resolves to every
// address listed); the lines go when it ends. Needs write access to /etc/hosts (root, as CI).
class hosts_entry {
public:
    explicit hosts_entry(std::string name) : name_(std::move(name)) {}
    ~hosts_entry() { set({}); }
    bool set(const std::vector<std::string>& addresses) {
        std::ifstream in("/etc/hosts");
        std::stringstream kept;
        std::string line;
        while (std::getline(in, line)) {
            const std::string tail = " " + name_;
            if (line.size() >= tail.size() &&
                line.compare(line.size() - tail.size(), tail.size(), tail) == 0)
                continue;
            kept << line << "\n";
        }
        for (const auto& a : addresses) kept << a << " " << name_ << "\n";
        std::ofstream out("/etc/hosts", std::ios::trunc);
        out << kept.str();
        return static_cast<bool>(out.flush());
    }

private:
    std::string name_;
};

nlohmann::json addresses_of(std::uint16_t admin) {
    return admin_stats(admin).at("upstreams").at("origin").at("addresses");
}

}  // namespace

TEST_CASE("streaming proxy: 64 MiB arrives intact with bounded memory", "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged({EDGED_BINARY, "--config",
                   write_config("stream-big.yaml",
                                stream_config(origin.port(), "", ", buffer_bytes: 64KiB"))});
    auto ports = wait_ports(edged);
    // Warm up (threads, pools, buffers), then take the baseline.
    REQUIRE(exchange_once(ports.port, get_request("/api/big?n=1024")) == 200);
    const long before = status_kib(edged.pid(), "VmRSS");
    REQUIRE(before > 0);

    const std::uint64_t size = 64ull * 1024 * 1024;
    raw_client c(ports.port, 30s);
    c.send("GET /api/big?n=" + std::to_string(size) +
           " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    std::string rest;
    const std::string head = read_head(c, rest);
    REQUIRE(head.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(head.find("Content-Length: " + std::to_string(size)) != std::string::npos);
    std::uint64_t got = rest.size();
    std::uint64_t h = fnv1a(fnv_basis, rest);
    char buf[65536];
    for (;;) {
        boost::system::error_code ec;
        std::size_t n = c.socket().read_some(net::buffer(buf), ec);
        if (ec) break;
        h = fnv1a(h, std::string_view(buf, n));
        got += n;
    }
    CHECK(got == size);
    CHECK(h == fnv1a(fnv_basis, pattern(0, size)));
    const long peak = status_kib(edged.pid(), "VmHWM");
    INFO("RSS before " << before << " KiB, peak " << peak << " KiB");
    // A generous bound: buffered whole, the body alone would be 64 MiB more.
    CHECK(peak - before < 32 * 1024);
}

TEST_CASE("streaming proxy: server-sent events reach the client one by one",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged(
        {EDGED_BINARY, "--config", write_config("stream-sse.yaml", stream_config(origin.port()))});
    auto ports = wait_ports(edged);
    raw_client c(ports.port, 10s);
    c.send(get_request("/api/events"));
    std::string got;
    // The origin sends event k only when released: each must reach the client before the next
    // is released, so nothing waits for the end of the stream.
    for (int k = 0; k < 3; ++k) {
        origin.release_event();
        REQUIRE(read_until(c, got, "data: event " + std::to_string(k) + "\n\n"));
        CHECK(got.find("data: event " + std::to_string(k + 1)) == std::string::npos);
    }
    REQUIRE(read_until(c, got, "\r\n0\r\n\r\n"));  // the chunked body ends
    CHECK(got.find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(got.find("Content-Type: text/event-stream") != std::string::npos);
    // The connection is still usable.
    c.send(get_request("/api/who"));
    auto next = c.read();
    CHECK(next.result_int() == 200);
    CHECK(next.body() == "127.0.0.1");
}

TEST_CASE("streaming proxy: a client that stops reading stops the upstream read",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged({EDGED_BINARY, "--config",
                   write_config("stream-stop.yaml", stream_config(origin.port(), "", "",
                                                                  ", timeouts: { write: 60s }"))});
    auto ports = wait_ports(edged);
    const std::uint64_t size = 1024ull * 1024 * 1024;  // far more than any buffer on the way
    {
        raw_client c(ports.port, 10s);
        int small = 4096;
        ::setsockopt(c.socket().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        c.send("GET /api/big?n=" + std::to_string(size) + " HTTP/1.1\r\nHost: t\r\n\r\n");
        // Never read: edged's socket buffer fills, it stops reading the upstream, and the
        // origin's send blocks.
        REQUIRE(eventually([&] { return origin.send_blocked.load(); }, 20s));
        const auto sent = origin.sent.load();
        INFO("origin sent " << sent << " bytes before its send blocked");
        CHECK(sent < 64ull * 1024 * 1024);
        CHECK(origin.peer_closed == 0);
    }
    // The client goes away: edged closes the upstream connection and the origin sees it.
    CHECK(eventually([&] { return origin.peer_closed.load() >= 1; }, 10s));
}

TEST_CASE("streaming proxy: a client that disconnects makes the origin see a close",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged(
        {EDGED_BINARY, "--config", write_config("stream-gone.yaml", stream_config(origin.port()))});
    auto ports = wait_ports(edged);
    {
        raw_client c(ports.port, 10s);
        c.send(get_request("/api/endless"));
        std::string got;
        REQUIRE(read_until(c, got, std::string(1000, 'x')));
    }
    CHECK(eventually([&] { return origin.peer_closed.load() >= 1; }, 10s));
    // Counted as a cancelled subrequest, and the connection was not pooled.
    CHECK(eventually([&] {
        auto u = admin_stats(ports.admin).at("upstreams").at("origin");
        return u.at("cancelled") == 1 && u.at("connections_idle") == 0;
    }));
}

TEST_CASE("streaming proxy: HEAD, 204 and 304 end at the head on a reusable connection",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    // An upstream timeout far past the client's: an answer that waited for a body would fail.
    process edged(
        {EDGED_BINARY, "--config",
         write_config("stream-head.yaml", stream_config(origin.port(), ", timeout: 60s"))});
    auto ports = wait_ports(edged);
    raw_client c(ports.port, 5s);
    c.send("HEAD /api/head HTTP/1.1\r\nHost: t\r\n\r\n");
    auto head = c.read(true);
    CHECK(head.result_int() == 200);
    CHECK(head[http::field::content_length] == "1234");
    c.send(get_request("/api/nocontent"));
    CHECK(c.read().result_int() == 204);
    c.send(get_request("/api/notmodified"));
    auto nm = c.read(true);
    CHECK(nm.result_int() == 304);
    CHECK(nm[http::field::etag] == "\"v1\"");
    c.send(get_request("/api/head"));
    auto full = c.read();
    CHECK(full.result_int() == 200);
    CHECK(full.body() == std::string(1234, 'h'));
    // An interim 103 is skipped: the client gets the final answer.
    c.send(get_request("/api/hints", "Expect: 100-continue\r\n"));
    auto hinted = c.read();
    CHECK(hinted.result_int() == 200);
    CHECK(hinted.body() == "hinted");
    // One client connection, one upstream connection: each answer left it intact for the next.
    CHECK(origin.connections == 1);
    CHECK(origin.requests == 5);
}

// "<bytes> <fnv1a64 hex>", as /api/upload answers for `body`.
std::string upload_digest(const std::string& body) {
    char want[40];
    std::snprintf(want, sizeof want, "%zu %016llx", body.size(),
                  static_cast<unsigned long long>(fnv1a(fnv_basis, body)));
    return want;
}

// `body` as chunks of at most `size` bytes, with the last chunk.
std::string chunked(const std::string& body, std::size_t size) {
    std::string out;
    char line[24];
    for (std::size_t at = 0; at < body.size(); at += size) {
        const std::size_t n = std::min(size, body.size() - at);
        std::snprintf(line, sizeof line, "%zx\r\n", n);
        out += line;
        out.append(body, at, n);
        out += "\r\n";
    }
    return out + "0\r\n\r\n";
}

TEST_CASE("streaming proxy: a request body streams to the origin as it arrives, intact",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged(
        {EDGED_BINARY, "--config",
         write_config("stream-upload.yaml",
                      stream_config(origin.port(), "", "", ", limits: { body_bytes: 8MiB }"))});
    auto ports = wait_ports(edged);
    const std::string body = pattern(0, 6 * 1024 * 1024);
    raw_client c(ports.port, 20s);
    // With a length: the origin reads the first part while the client still holds the rest.
    c.send("POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n");
    c.send(std::string_view(body).substr(0, 2 * 1024 * 1024));
    CHECK(eventually([&] { return origin.body_received.load() >= 1024 * 1024; }, 10s));
    c.send(std::string_view(body).substr(2 * 1024 * 1024));
    auto r = c.read();
    CHECK(r.result_int() == 200);
    CHECK(r.body() == upload_digest(body));
    // Chunked, on the same connection (it stays usable after a streamed body).
    const std::string second = pattern(7, 3 * 1024 * 1024 + 5);
    c.send("POST /api/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunked(second, 50000));
    r = c.read();
    CHECK(r.result_int() == 200);
    CHECK(r.body() == upload_digest(second));
    // Pipelined behind a GET and followed by one: answered in order.
    const std::string small = pattern(3, 1000);
    c.send(get_request("/api/who") + "POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
           std::to_string(small.size()) + "\r\n\r\n" + small + get_request("/api/head"));
    CHECK(c.read().body() == "127.0.0.1");
    CHECK(c.read().body() == upload_digest(small));
    CHECK(c.read().body().size() == 1234);
    // Expect: 100-continue: the body is asked for, then sent.
    c.send("POST /api/upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
           std::to_string(small.size()) + "\r\n\r\n");
    CHECK(c.read().result_int() == 100);
    c.send(small);
    r = c.read();
    CHECK(r.result_int() == 200);
    CHECK(r.body() == upload_digest(small));
    CHECK(origin.connections.load() == 1);  // every body went over one pooled connection
}

TEST_CASE("streaming proxy: a request body over body_bytes is cut with 413, upstream closed",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged(
        {EDGED_BINARY, "--config",
         write_config("stream-upload-limit.yaml",
                      stream_config(origin.port(), "", "", ", limits: { body_bytes: 1MiB }"))});
    auto ports = wait_ports(edged);
    {
        // A Content-Length over the limit is refused before anything goes upstream.
        raw_client c(ports.port, 20s);
        c.send("POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
               std::to_string(2 * 1024 * 1024) + "\r\n\r\n");
        auto r = c.read();
        CHECK(r.result_int() == 413);
        CHECK(r[http::field::connection] == "close");
        CHECK(origin.requests.load() == 0);
        CHECK(origin.connections.load() == 0);
    }
    // A chunked body that grows past it has partly gone upstream: cut there, and that
    // connection is closed (the origin sees its body end early), never pooled.
    raw_client c(ports.port, 20s);
    c.send("POST /api/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string big = chunked(pattern(0, 1024 * 1024 + 64 * 1024), 16 * 1024);
    c.send(std::string_view(big).substr(0, big.size() - 5));  // without the last chunk
    auto r = c.read();
    CHECK(r.result_int() == 413);
    CHECK(r[http::field::connection] == "close");
    CHECK(eventually([&] { return origin.cut_bodies.load() == 1; }, 10s));
    CHECK(origin.body_received.load() > 0);
    CHECK(origin.requests.load() == 0);
    CHECK(eventually([&] {
        auto u = admin_stats(ports.admin).at("upstreams").at("origin");
        return u.at("cancelled") == 1 && u.at("connections_idle") == 0 &&
               u.at("connections_active") == 0;
    }));
}

// Sends `bytes` on `fd` from a thread of its own until done or the peer is gone (a proxy that
// answered early stops reading); joined by its destructor.
class background_send {
public:
    background_send(int fd, std::string bytes)
        : bytes_(std::move(bytes)), thread_([this, fd] {
              std::string_view rest = bytes_;
              while (!rest.empty()) {
                  const ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
                  if (n <= 0) return;
                  rest.remove_prefix(static_cast<std::size_t>(n));
              }
          }) {}
    ~background_send() { thread_.join(); }

private:
    std::string bytes_;
    std::thread thread_;
};

TEST_CASE("streaming proxy: an origin that answers before the body's end is answered through",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged({EDGED_BINARY, "--config",
                   write_config("stream-early.yaml",
                                stream_config(origin.port(), "", "",
                                              ", limits: { body_bytes: 64MiB }, timeouts: "
                                              "{ body_read: 120s }"))});
    auto ports = wait_ports(edged);
    const auto post = [](const std::string& path, std::size_t length) {
        return "POST " + path +
               " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
    };
    SECTION("the origin reads on and drops the body: its 413 comes with the next block") {
        raw_client c(ports.port, 20s);
        // The client sends 128 KiB of 8 MiB and waits: the origin's answer comes through instead
        // of the proxy waiting for the rest. (No more than edged's lingering close discards,
        // 256 KiB, so that it closes with a FIN: past that, bytes left unread make the close a
        // reset, which can fail the client's send, or destroy the answer, whenever the proxy
        // answered before it had read them. Under load that happened with 1 MiB here.)
        c.send(post("/api/reject", 8 * 1024 * 1024) + pattern(0, 128 * 1024));
        auto r = c.read();
        CHECK(origin.early_answers.load() == 1);
        CHECK(r.result_int() == 413);
        CHECK(r.body() == "too large");
        CHECK(r[http::field::connection] == "close");
        // The upstream connection, its request cut, is closed rather than pooled.
        CHECK(eventually([&] { return origin.early_closed.load() == 1; }, 10s));
    }
    SECTION("the origin stops reading, or resets: its 413 comes while the client uploads") {
        // 48 MiB from a thread of the client's own: more than the sockets between can hold, so
        // the proxy's writes are held up (or fail) while the origin's answer waits.
        for (const std::string path : {"/api/reject-hold", "/api/reject-close"}) {
            INFO(path);
            raw_client c(ports.port, 20s);
            c.send(post(path, 48 * 1024 * 1024));
            background_send upload(c.socket().native_handle(), pattern(0, 48 * 1024 * 1024));
            auto r = c.read();
            CHECK(r.result_int() == 413);
            CHECK(r.body() == "too large");
            boost::system::error_code ignored;
            c.socket().shutdown(tcp::socket::shutdown_both, ignored);  // ends the upload's sends
        }
        CHECK(origin.early_answers.load() == 2);
        origin.release_hold();
    }
    SECTION("an unasked 100 Continue while the body goes out: the body is sent on, intact") {
        raw_client c(ports.port, 20s);
        const std::string body = pattern(5, 3 * 1024 * 1024);
        c.send(post("/api/continue", body.size()) + body);
        auto r = c.read();
        CHECK(r.result_int() == 200);
        CHECK(r.body() == upload_digest(body));
        c.send(get_request("/api/who"));  // and the connection goes on
        CHECK(c.read().body() == "127.0.0.1");
    }
    CHECK(eventually([&] {
        auto u = admin_stats(ports.admin).at("upstreams").at("origin");
        return u.at("connections_active") == 0;
    }));
}

TEST_CASE("streaming proxy: broken chunk framing mid-body gets 400 at once, upstream closed",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged(
        {EDGED_BINARY, "--config",
         write_config("stream-upload-badchunk.yaml",
                      stream_config(origin.port(), "", "", ", timeouts: { body_read: 120s }"))});
    auto ports = wait_ports(edged);
    raw_client c(ports.port, 20s);
    c.send("POST /api/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
           std::string("5\r\nhelloX"));
    auto r = c.read();
    CHECK(r.result_int() == 400);
    CHECK(r[http::field::connection] == "close");
    CHECK(eventually([&] { return origin.cut_bodies.load() == 1; }, 10s));
    CHECK(origin.body_received.load() == 5);
}

TEST_CASE("streaming proxy: an origin's unasked 101 is a 502, its connection closed",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged({EDGED_BINARY, "--config",
                   write_config("stream-upgrade.yaml", stream_config(origin.port()))});
    auto ports = wait_ports(edged);
    raw_client c(ports.port, 10s);
    c.send(
        "GET /api/upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\n\r\n");
    auto r = c.read();
    CHECK(r.result_int() == 502);
    c.send(get_request("/api/who"));  // the client's connection is still plain HTTP
    CHECK(c.read().body() == "127.0.0.1");
    CHECK(origin.connections.load() == 2);  // the 101's connection was not reused
}

TEST_CASE("streaming proxy: a request body slower than body_read gets 408, upstream closed",
          "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged(
        {EDGED_BINARY, "--config",
         write_config("stream-upload-slow.yaml",
                      stream_config(origin.port(), "", "", ", timeouts: { body_read: 1s }"))});
    auto ports = wait_ports(edged);
    raw_client c(ports.port, 20s);
    c.send("POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
           std::string(10, 'a'));
    CHECK(eventually([&] { return origin.body_received.load() == 10; }, 10s));
    auto r = c.read();  // the client sends nothing more
    CHECK(r.result_int() == 408);
    CHECK(r[http::field::connection] == "close");
    CHECK(eventually([&] { return origin.cut_bodies.load() == 1; }, 10s));
    CHECK(origin.requests.load() == 0);
}

TEST_CASE("upstream with two addresses: spread, ejection without failures, return, DNS changes",
          "[e2e][proxy][upstream]") {
    hosts_entry hosts("edged-two-origins.test");
    if (!hosts.set({"127.0.0.1", "127.0.0.2"})) {
        WARN("/etc/hosts is not writable here: skipped");
        return;
    }
    auto one = std::make_unique<stream_origin>("127.0.0.1");
    const auto port = one->port();
    auto two = std::make_unique<stream_origin>("127.0.0.2", port);
    process edged(
        {EDGED_BINARY, "--config",
         write_config("two-addresses.yaml",
                      stream_config(port,
                                    ", resolve_interval: 200ms, outlier: { consecutive_failures: "
                                    "1, ejection_time: 1s, max_ejection_time: 1s }",
                                    ", retries: 1", "", "edged-two-origins.test"))});
    auto ports = wait_ports(edged);
    auto who = [&](int n) {
        std::map<std::string, int> seen;
        for (int i = 0; i < n; ++i) {
            raw_client c(ports.port, 10s);
            c.send(get_request("/api/who"));
            auto r = c.try_read();
            seen[r ? (r->result_int() == 200 ? std::string(r->body())
                                             : std::to_string(r->result_int()))
                   : "none"]++;
        }
        return seen;
    };
    // Both addresses get requests (round robin).
    auto seen = who(10);
    CHECK(seen["127.0.0.1"] == 5);
    CHECK(seen["127.0.0.2"] == 5);
    REQUIRE(addresses_of(ports.admin).size() == 2);

    // One goes away: the request that finds it dead is retried on the other, the address is
    // ejected, and no idempotent request fails.
    two->stop();
    two.reset();
    seen = who(10);
    CHECK(seen["127.0.0.1"] == 10);
    CHECK(seen.size() == 1);
    bool ejected = false;
    for (const auto& a : addresses_of(ports.admin))
        if (a.at("address") == "127.0.0.2:" + std::to_string(port))
            ejected = a.at("ejections") >= 1;
    CHECK(ejected);
    // The metrics say the same.
    auto m = scrape(ports.admin);
    CHECK(metric(m, "edged_upstream_address_healthy{address=127.0.0.1:" + std::to_string(port) +
                        ",upstream=origin}") == 1);
    CHECK(metric(m, "edged_upstream_address_ejections_total{address=127.0.0.2:" +
                        std::to_string(port) + ",upstream=origin}") == 1);

    // Back on its port: after the backoff it is in rotation again.
    two = std::make_unique<stream_origin>("127.0.0.2", port);
    CHECK(eventually([&] { return who(2)["127.0.0.2"] >= 1; }, 10s));

    // The name changes: only 127.0.0.1 left, then both again. The lookup follows.
    hosts.set({"127.0.0.1"});
    // (Lookups happen on the way of requests: an upstream nobody calls is not looked up.)
    CHECK(eventually(
        [&] {
            who(1);
            return addresses_of(ports.admin).size() == 1;
        },
        10s));
    CHECK(who(6)["127.0.0.1"] == 6);
    hosts.set({"127.0.0.1", "127.0.0.2"});
    CHECK(eventually(
        [&] {
            who(1);
            return addresses_of(ports.admin).size() == 2;
        },
        10s));
    CHECK(eventually([&] { return who(2)["127.0.0.2"] >= 1; }, 10s));
}

TEST_CASE("upstream: with every address ejected the proxy answers 503", "[e2e][proxy][upstream]") {
    const refusing_port down;
    const auto dead = down.port();
    process edged({EDGED_BINARY, "--config",
                   write_config("none-healthy.yaml",
                                stream_config(dead,
                                              ", outlier: { consecutive_failures: 2, "
                                              "ejection_time: 60s, max_ejected_percent: 100 }"))});
    auto ports = wait_ports(edged);
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);  // connect refused
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);  // ... and now ejected
    raw_client c(ports.port);
    c.send(get_request("/api/x"));
    auto r = c.read();
    CHECK(r.result_int() == 503);
    CHECK(r.body() == "no healthy upstream\n");
    CHECK(!edged.wait_line("no healthy upstream address", 5s).empty());
    auto a = addresses_of(ports.admin);
    REQUIRE(a.size() == 1);
    CHECK(a[0].at("state") == "ejected");
    CHECK(admin_stats(ports.admin).at("upstreams").at("origin").at("unavailable") == 1);
}

TEST_CASE("upstream: a reload keeps an address's health, a changed upstream starts afresh",
          "[e2e][proxy][upstream][reload]") {
    const refusing_port down, other;
    const std::string ejecting =
        ", outlier: { consecutive_failures: 2, ejection_time: 60s, max_ejected_percent: 100 }";
    const std::string path =
        write_config("reload-health.yaml", stream_config(down.port(), ejecting));
    process edged({EDGED_BINARY, "--config", path});
    auto ports = wait_ports(edged);
    std::size_t reloads = 0;
    const auto reload = [&](const std::string& cfg) {
        std::ofstream(path) << cfg;
        edged.signal(SIGHUP);
        ++reloads;
        REQUIRE(edged.wait_count("\"msg\":\"config reloaded\"", reloads) == reloads);
    };
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);  // ... and now ejected
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 503);

    // The same upstream, another route setting: still out, its count kept.
    reload(stream_config(down.port(), ejecting, ", retries: 0"));
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 503);
    auto a = addresses_of(ports.admin);
    REQUIRE(a.size() == 1);
    CHECK(a[0].at("state") == "ejected");
    CHECK(a[0].at("ejections") == 1);

    // Outlier detection turned off: nothing keeps it out (the count stays).
    reload(stream_config(down.port(), ", outlier: { consecutive_failures: 0 }"));
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);
    a = addresses_of(ports.admin);
    CHECK(a.at(0).at("state") == "healthy");
    CHECK(a.at(0).at("ejections") == 1);

    // Ejected again, then the upstream moves to another port: a new upstream, from nothing.
    reload(stream_config(down.port(), ejecting));
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 503);
    reload(stream_config(other.port(), ejecting));
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);
    a = addresses_of(ports.admin);
    CHECK(a.at(0).at("ejections") == 0);
}

TEST_CASE("upstream: active health checks take an address out and bring it back",
          "[e2e][proxy][upstream]") {
    auto origin = std::make_unique<stream_origin>();
    const auto port = origin->port();
    process edged({EDGED_BINARY, "--config",
                   write_config("health-check.yaml",
                                stream_config(port,
                                              ", health_check: { path: /api/who, interval: 100ms, "
                                              "timeout: 500ms, healthy_threshold: 2, "
                                              "unhealthy_threshold: 2 }"))});
    auto ports = wait_ports(edged);
    auto state = [&] { return std::string(addresses_of(ports.admin).at(0).at("state")); };
    // The checks run without any traffic (they look the name up themselves).
    REQUIRE(eventually([&] { return origin->requests >= 2; }, 10s));
    CHECK(state() == "healthy");
    CHECK(exchange_once(ports.port, get_request("/api/who")) == 200);

    origin->stop();
    origin.reset();
    REQUIRE(eventually([&] { return state() == "unhealthy"; }, 10s));
    CHECK(!edged.wait_line("upstream address unhealthy", 5s).empty());
    raw_client c(ports.port);
    c.send(get_request("/api/who"));
    auto r = c.read();
    CHECK(r.result_int() == 503);
    CHECK(r.body() == "no healthy upstream\n");

    origin = std::make_unique<stream_origin>("127.0.0.1", port);
    REQUIRE(eventually([&] { return state() == "healthy"; }, 10s));
    CHECK(exchange_once(ports.port, get_request("/api/who")) == 200);
    auto m = scrape(ports.admin);
    CHECK(metric(m, "edged_upstream_address_healthy{address=127.0.0.1:" + std::to_string(port) +
                        ",upstream=origin}") == 1);
}

TEST_CASE("streaming proxy: a stream idle past read_timeout is cut", "[e2e][proxy][stream]") {
    stream_origin origin;
    process edged(
        {EDGED_BINARY, "--config",
         write_config("stream-idle.yaml", stream_config(origin.port(), ", read_timeout: 300ms"))});
    auto ports = wait_ports(edged);
    raw_client c(ports.port, 10s);
    c.send(get_request("/api/events"));
    origin.release_event();  // one event, then silence
    std::string got;
    REQUIRE(read_until(c, got, "data: event 0\n\n"));
    // Past read_timeout without a byte: the body ends without its last chunk and the client's
    // connection closes, so it can tell the body was cut.
    got += c.read_all();
    CHECK(got.find("\r\n0\r\n\r\n") == std::string::npos);
    CHECK(eventually(
        [&] { return admin_stats(ports.admin).at("upstreams").at("origin").at("timeout") == 1; }));
    origin.release_event(10);
}

TEST_CASE("proxy retries: idempotent requests only, each a failed attempt at the address",
          "[e2e][proxy][upstream]") {
    const refusing_port down;
    const auto dead = down.port();
    process edged(
        {EDGED_BINARY, "--config",
         write_config("retries.yaml", stream_config(dead, ", outlier: { consecutive_failures: 0 }",
                                                    ", retries: 3"))});
    auto ports = wait_ports(edged);
    auto failures = [&] { return addresses_of(ports.admin).at(0).at("failures").get<int>(); };
    // A POST is never sent twice: one attempt.
    CHECK(exchange_once(ports.port,
                        "POST /api/x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi") == 502);
    CHECK(failures() == 1);
    // A GET gets its three retries: four attempts, then 502.
    CHECK(exchange_once(ports.port, get_request("/api/x")) == 502);
    CHECK(failures() == 5);
    auto u = admin_stats(ports.admin).at("upstreams").at("origin");
    CHECK(u.at("connect_error") == 2);  // one outcome per request, however many attempts
}

namespace {

// The data of the complete chunks at the start of `wire` (a chunked body).
std::string dechunk(const std::string& wire) {
    std::string out;
    std::size_t at = 0;
    for (;;) {
        const auto eol = wire.find("\r\n", at);
        if (eol == std::string::npos) break;
        const std::size_t size = std::stoul(wire.substr(at, eol - at), nullptr, 16);
        if (size == 0 || eol + 2 + size + 2 > wire.size()) break;
        out += wire.substr(eol + 2, size);
        at = eol + 2 + size + 2;
    }
    return out;
}

// What a gzip stream decodes to so far (zlib; a stream cut after a sync flush decodes whole).
std::string gunzip_so_far(const std::string& data) {
    z_stream zs{};
    inflateInit2(&zs, 15 + 16);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    std::string out;
    char buf[4096];
    for (;;) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        const int rc = inflate(&zs, Z_SYNC_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
        if (rc != Z_OK || zs.avail_in == 0) break;
    }
    inflateEnd(&zs);
    return out;
}

}  // namespace

TEST_CASE("streaming proxy: a compressed event stream still arrives event by event",
          "[e2e][proxy][stream][compress]") {
    stream_origin origin;
    process edged({EDGED_BINARY, "--config",
                   write_config("stream-gzip.yaml",
                                stream_config(origin.port()) +
                                    "    compress: { encodings: [gzip], types: [text/event-stream] "
                                    "}\n")});
    auto ports = wait_ports(edged);
    raw_client c(ports.port, 10s);
    c.send(get_request("/api/events", "Accept-Encoding: gzip\r\n"));
    std::string rest;
    const std::string head = read_head(c, rest);
    REQUIRE(head.find("Content-Encoding: gzip") != std::string::npos);
    CHECK(head.find("Transfer-Encoding: chunked") != std::string::npos);
    // Each event, compressed on the pool and flushed, decodes before the next is released.
    char buf[4096];
    for (int k = 0; k < 3; ++k) {
        origin.release_event();
        const std::string want = "data: event " + std::to_string(k) + "\n\n";
        while (gunzip_so_far(dechunk(rest)).find(want) == std::string::npos) {
            boost::system::error_code ec;
            std::size_t n = c.socket().read_some(net::buffer(buf), ec);
            INFO("k=" << k << " got " << rest.size() << " bytes: " << gunzip_so_far(dechunk(rest))
                      << " ec=" << ec.message());
            REQUIRE(!ec);
            rest.append(buf, n);
        }
        CHECK(gunzip_so_far(dechunk(rest)).find(std::to_string(k + 1)) == std::string::npos);
    }
    REQUIRE(read_until(c, rest, "\r\n0\r\n\r\n"));
    CHECK(gunzip_so_far(dechunk(rest)) == "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
}

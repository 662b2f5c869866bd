// Slow and hostile clients all at once, on the binary: connections trickling headers past
// max_connections, a client that never reads its response, a body sent a byte at a time and a
// flood of connections opened and dropped. Each is cut off by its own limit while a well-behaved
// client, opening a new connection for every request, gets every answer throughout.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "e2e.hpp"

using namespace edged::test;

namespace {

// A blocking loopback connection, or -1.
int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// True when the server has closed `fd` (EOF or reset) within `limit`; what it sent is appended.
bool closed_within(int fd, std::chrono::milliseconds limit, std::string* got = nullptr) {
    timeval tv{static_cast<time_t>(limit.count() / 1000),
               static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
        if (got) got->append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace

TEST_CASE("hostile clients: each is cut off by its limit, a well-behaved client is always answered",
          "[e2e][slow-clients]") {
    const std::string big = write_config("hostile-big.bin", std::string(8 << 20, 'b'));
    const std::string cfg = R"(
server:
  listen: ["127.0.0.1:0"]
  threads: 1
  limits: { max_connections: 100 }
  timeouts: { header_read: 2s, body_read: 1s, write: 1s, idle: 2s }
admin: { listen: "127.0.0.1:0" }
log: { level: info, access: false }
routes:
  - name: hello
    match: { path: /hello }
    handler: { static: { status: 200, body: "hello\n" } }
  - name: big
    match: { path: /big }
    handler: { static: { status: 200, file: )" +
                            big + R"( } }
  - name: upload
    match: { path: /upload, methods: [POST] }
    handler: { static: { status: 201 } }
)";
    process edged({EDGED_BINARY, "--config", write_config("hostile.yaml", cfg)});
    auto ports = wait_ports(edged);
    std::atomic<bool> stop{false};

    // 300 connections that trickle their head a byte at a time, three times max_connections.
    std::vector<int> slow;
    for (int i = 0; i < 300; ++i) {
        const int fd = connect_to(ports.port);
        if (fd < 0) continue;
        ::send(fd, "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: ", 35, MSG_NOSIGNAL);
        slow.push_back(fd);
    }
    std::thread trickle([&] {
        while (!stop) {
            for (int fd : slow) ::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    });
    // A client that asks for 8 MiB and never reads, with a tiny receive buffer.
    const int sink = connect_to(ports.port);
    REQUIRE(sink >= 0);
    int tiny = 4096;
    ::setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny);
    ::send(sink, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n", 30, MSG_NOSIGNAL);
    // A body sent one byte every 200 ms.
    const int dribble = connect_to(ports.port);
    REQUIRE(dribble >= 0);
    ::send(dribble, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n", 56,
           MSG_NOSIGNAL);
    std::thread drip([&] {
        for (int i = 0; i < 50 && !stop; ++i) {
            if (::send(dribble, "x", 1, MSG_NOSIGNAL) < 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    });
    // A flood: connections opened and dropped at once.
    std::thread flood([&] {
        for (int i = 0; i < 2000 && !stop; ++i) {
            const int fd = connect_to(ports.port);
            if (fd >= 0) ::close(fd);
        }
    });

    // Meanwhile a well-behaved client, a new connection for every request.
    int answered = 0;
    for (int i = 0; i < 100; ++i) {
        raw_client c(ports.port, 5s);
        c.send(get_request("/hello"));
        auto res = c.try_read();
        if (res && res->result_int() == 200) ++answered;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(answered == 100);

    std::string dribble_answer;
    CHECK(closed_within(dribble, 5s, &dribble_answer));  // body_read: 408, then closed
    CHECK(dribble_answer.rfind("HTTP/1.1 408 ", 0) == 0);
    stop = true;
    trickle.join();
    drip.join();
    flood.join();
    int slow_closed = 0;
    for (int fd : slow) slow_closed += closed_within(fd, 5s) ? 1 : 0;
    CHECK(slow_closed == static_cast<int>(slow.size()));  // evicted, or 408 at header_read
    for (int fd : slow) ::close(fd);
    ::close(dribble);
    // The client that never reads still holds its end (with megabytes queued for it, which it
    // would take minutes to read through a 4 KiB window): edged closed its own at the write
    // timeout, so nothing is open on edged's side.
    CHECK(eventually([&] { return admin_stats(ports.admin).at("open_connections") == 0; }, 10s));
    ::close(sink);
    auto stats = admin_stats(ports.admin);
    CHECK(stats.at("connections_evicted").get<int>() > 0);
    edged.signal(SIGTERM);
    CHECK(edged.wait_exit(15s) == 0);
}

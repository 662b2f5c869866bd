// Unit tests for server/http/ pieces that need no sockets: target parsing, serialisation,
// connection buffers, read pacing.

#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "server/http/buffer_pool.hpp"
#include "server/http/header_text.hpp"
#include "server/http/read_pacing.hpp"
#include "server/http/request_target.hpp"
#include "server/http/response_writer.hpp"

using namespace edged;
using namespace edged::server;

TEST_CASE("iequals: ASCII case-insensitive, never reading past either end", "[header-text]") {
    using edged::server::iequals;
    // Exact-size heap copies: under ASan a read one past the end (Boost 1.81's beast::iequals
    // when only the last character's case differs) is a heap-buffer-overflow.
    const auto heap = [](std::string_view s) {
        auto p = std::make_unique<char[]>(s.size());
        std::copy(s.begin(), s.end(), p.get());
        return p;
    };
    auto a = heap("bR"), b = heap("br"), c = heap("gZip"), d = heap("GZIQ");
    CHECK(iequals(std::string_view(a.get(), 2), std::string_view(b.get(), 2)));
    CHECK(iequals(std::string_view(c.get(), 4), "GZIP"));
    CHECK_FALSE(iequals(std::string_view(c.get(), 4), std::string_view(d.get(), 4)));
    CHECK_FALSE(iequals("gzip", "gzi"));
    CHECK(iequals("", ""));
    CHECK_FALSE(iequals("[", "{"));  // 0x5b and 0x7b: only letters fold
}

TEST_CASE("request targets: forms, query, dot segments", "[target]") {
    std::string storage;
    request_target t;
    REQUIRE(parse_target("/a/b?x=1", t, storage));
    CHECK(t.path == "/a/b");
    CHECK(t.query == "x=1");
    REQUIRE(parse_target("/a/./b/../c", t, storage));
    CHECK(t.path == "/a/c");
    REQUIRE(parse_target("/a/%2E%2e/c/", t, storage));
    CHECK(t.path == "/c/");
    REQUIRE(parse_target("/a/..", t, storage));
    CHECK(t.path == "/");
    CHECK_FALSE(parse_target("/..", t, storage));
    CHECK_FALSE(parse_target("/a/../../b", t, storage));
    CHECK_FALSE(parse_target("a/b", t, storage));
    CHECK_FALSE(parse_target("", t, storage));
    REQUIRE(parse_target("HTTP://Example.com:81/p?q", t, storage));
    CHECK(t.authority == "Example.com:81");
    CHECK(t.path == "/p");
    CHECK(t.query == "q");
    REQUIRE(parse_target("http://h", t, storage));
    CHECK(t.path == "/");
    REQUIRE(parse_target("*", t, storage));
    CHECK(t.path == "*");
    // ".hidden" and "..." are ordinary names.
    REQUIRE(parse_target("/.hidden/.../x", t, storage));
    CHECK(t.path == "/.hidden/.../x");
}

TEST_CASE("hosts are lower-cased without port", "[target]") {
    std::string s;
    CHECK(normalise_host("Example.COM:8080", s) == "example.com");
    CHECK(normalise_host("[::1]:80", s) == "[::1]");
    CHECK(normalise_host("plain", s) == "plain");
}

TEST_CASE("response serialisation", "[writer]") {
    lifecycle::response res;
    res.status = 200;
    res.fixed_headers = "Content-Type: text/plain\r\n";
    res.body_ref = "hi";
    res.headers.emplace_back("X-Ok", "1");
    res.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: x");
    res.headers.emplace_back("Bad Name", "v");
    std::string out;
    response_meta meta;
    meta.date = "Sun, 06 Nov 1994 08:49:37 GMT";
    meta.request_id = "rid";
    CHECK(append_response(out, res, meta) == 2);
    CHECK(out ==
          "HTTP/1.1 200 OK\r\nServer: edged\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
          "Content-Length: 2\r\nX-Request-Id: rid\r\nContent-Type: text/plain\r\nX-Ok: 1\r\n"
          "\r\nhi");

    out.clear();
    meta.head = true;
    meta.close = true;
    CHECK(append_response(out, res, meta) == 0);
    CHECK(out.find("Content-Length: 2\r\n") != std::string::npos);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    CHECK(out.ends_with("\r\n\r\n"));

    out.clear();
    lifecycle::response empty;
    empty.status = 204;
    append_response(out, empty, response_meta{});
    CHECK(out.find("Content-Length") == std::string::npos);
}

TEST_CASE("buffer pool: buffers come back empty with their capacity, within bounds", "[buffers]") {
    using edged::server::buffer_pool;
    using edged::server::connection_buffers;
    buffer_pool pool(2, 64 * 1024);
    auto fresh = pool.take();
    CHECK(fresh.in.capacity() == 0);
    CHECK(fresh.out.capacity() <= 15);  // no heap storage yet

    connection_buffers used;
    used.in.commit(boost::asio::buffer_copy(used.in.prepare(16 * 1024),
                                            boost::asio::buffer(std::string(100, 'x'))));
    used.out.assign(8 * 1024, 'y');
    const auto in_capacity = used.in.capacity();
    pool.give(std::move(used));
    CHECK(pool.idle() == 1);
    auto again = pool.take();
    CHECK(pool.idle() == 0);
    CHECK(again.in.size() == 0);
    CHECK(again.in.capacity() == in_capacity);
    CHECK(again.out.empty());
    CHECK(again.out.capacity() >= 8 * 1024);

    // A buffer grown past the keep limit is released; the pool holds at most max_idle pairs.
    connection_buffers big;
    big.out.assign(100 * 1024, 'z');
    pool.give(std::move(big));
    CHECK(pool.take().out.capacity() < 100 * 1024);
    for (int i = 0; i < 5; ++i) pool.give(connection_buffers{});
    CHECK(pool.idle() == 2);
}

TEST_CASE("read pacing: defer only after a draining read, back off on quiet deferrals",
          "[pacing]") {
    read_pacing p;
    constexpr std::size_t room = 16 * 1024;
    // A new connection, or one whose last read filled its buffer, reads at once.
    CHECK_FALSE(p.defer());
    p.read(room, room);
    CHECK_FALSE(p.defer());

    // After a short read it defers, and keeps deferring while other connections are served.
    p.read(40, room);
    for (int i = 0; i < 100; ++i) {
        REQUIRE(p.defer());
        p.deferred(true);
    }

    // Quiet deferrals back off: 0, 1, 3, 7, ... reads at once between attempts, at most max_skip.
    auto reads_at_once = [&p] {
        int n = 0;
        while (!p.defer()) ++n;
        return n;
    };
    std::vector<int> gaps;
    p.deferred(false);  // first quiet deferral: no skip yet
    for (int i = 0; i < 8; ++i) {
        gaps.push_back(reads_at_once());
        p.deferred(false);
    }
    CHECK(gaps == std::vector<int>{0, 1, 3, 7, 15, 31, 63, 63});

    // One busy deferral ends the back-off.
    gaps.clear();
    (void)reads_at_once();
    p.deferred(true);
    CHECK(p.defer());
    p.deferred(false);
    CHECK(p.defer());  // a lone quiet deferral on a busy connection skips nothing
    p.deferred(false);
    CHECK_FALSE(p.defer());
    CHECK(p.defer());

    // A read that fills its buffer means more is waiting: read at once, whatever the back-off.
    p.read(room, room);
    CHECK_FALSE(p.defer());
}

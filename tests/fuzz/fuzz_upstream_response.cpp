// libFuzzer target: the upstream response parser, as the proxy and ctx.fetch use it
// (server/upstream/upstream_pool.*): an origin on loopback answers each request with the input's
// bytes and closes. The first byte picks the call: a streamed open() pulled to its end (GET or
// HEAD) or a whole-response fetch. A body that completes is never longer than its limit nor,
// with a Content-Length, of another length; nothing may crash, hang (timeouts are short), leak
// or trip ASan or UBSan.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "server/net.hpp"
#include "server/upstream/address_table.hpp"
#include "server/upstream/upstream_set.hpp"

namespace {

using namespace edged;
using namespace edged::server;

constexpr std::size_t max_body = 4096;

struct harness {
    harness() : acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0}) {
        const auto port = std::to_string(acceptor.local_endpoint().port());
        cfg = config::load_string(
            "upstreams:\n  origin: { url: \"http://127.0.0.1:" + port +
                "\", timeout: 300ms, read_timeout: 300ms, idle_connections: 0 }\n"
                "routes:\n  - name: r\n    match: { prefix: / }\n"
                "    handler: { proxy: { upstream: origin } }\n",
            config::format::yaml);
        directory = std::make_unique<address_directory>(cfg);
        set = std::make_unique<upstream_set>(ioc, *directory);
    }
    net::io_context ioc;
    tcp::acceptor acceptor;
    config::config cfg;
    std::unique_ptr<address_directory> directory;
    std::unique_ptr<upstream_set> set;
};

// Accepts one connection, sends `answer`, closes its sending side and reads the request away.
net::awaitable<void> origin(harness& h, std::string answer) {
    auto [aec, s] = co_await h.acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (aec) co_return;
    co_await net::async_write(s, net::buffer(answer), net::as_tuple(net::use_awaitable));
    error_code ec;
    s.shutdown(tcp::socket::shutdown_send, ec);
    char sink[4096];
    for (;;) {
        auto [rec, n] =
            co_await s.async_read_some(net::buffer(sink), net::as_tuple(net::use_awaitable));
        if (rec) break;
    }
}

net::awaitable<void> call(harness& h, std::uint8_t mode) {
    lifecycle::request req;
    req.method(mode & 1 ? http::verb::head : http::verb::get);
    req.target("/fuzz");
    if (mode & 2) {
        auto r = co_await h.set->fetch("origin", req, max_body);
        if (!r.ec && r.response.body().size() > max_body) __builtin_trap();
        co_return;
    }
    lifecycle::stream_options opts;
    opts.max_body = max_body;
    opts.block = 1024;
    auto r = co_await h.set->open("origin", req, opts);
    if (r.ec || !r.body) co_return;
    std::uint64_t got = 0;
    for (;;) {
        auto [ec, block] = co_await r.body->next();
        if (ec) co_return;
        if (block.empty()) break;
        got += block.size();
        if (got > max_body) __builtin_trap();
    }
    const bool bodyless = (mode & 1) || lifecycle::bodyless_status(r.head.result_int());
    if (auto len = r.body->length(); len && !bodyless && got != *len) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static harness* h = new harness;
    if (size == 0) return 0;
    net::co_spawn(h->ioc,
                  origin(*h, std::string(reinterpret_cast<const char*>(data) + 1, size - 1)),
                  net::detached);
    net::co_spawn(h->ioc, call(*h, data[0]), net::detached);
    h->ioc.restart();
    h->ioc.run();
    return 0;
}

// libFuzzer target: the request path, bytes in -> one HTTP/1.1 session (server/http/session.*)
// -> response bytes out. The session runs as in the daemon, on a socketpair instead of a TCP
// connection (no network, no listener), in front of a stand-in dispatcher: targets under
// /stream take their body streamed (as a proxy route does), /async ones answer asynchronously,
// the rest at once. Every answer of the stand-in has an empty body and says what it saw in
// headers, so the output must parse as a sequence of complete HTTP/1.1 responses, nothing after
// one that closes the connection: a framing bug (response splitting, a short body, bytes after
// the close) is a crash, like an ASan or UBSan report or a leak. The answer to a HEAD request
// has a head only: the stand-in notes, in order, which requests it began were HEADs, and each
// answer to a request it began carries the X-Request-Id it set (the session's own rejections of
// a malformed head carry none, and always have their body).

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "lifecycle/gate.hpp"
#include "server/http/dispatcher.hpp"
#include "server/http/session.hpp"
#include "server/http/session_host.hpp"

namespace {

using namespace edged;
using namespace edged::server;

class stand_in final : public dispatcher {
public:
    bool streams_body(std::string_view, std::string_view path, std::string_view) const override {
        return path.starts_with("/stream");
    }
    std::optional<lifecycle::response> begin(exchange& ex, const inbound& in) override {
        ex.request_id = "fuzz";
        heads.push_back(in.req.method() == http::verb::head);
        body_ = in.body;
        if (!in.target) {
            ex.close = true;  // (an empty body: right for HEAD too)
            return answer(0);
        }
        if (in.target->path.starts_with("/stream") || in.target->path.starts_with("/async"))
            return std::nullopt;
        return answer(in.req.body().size());
    }
    net::awaitable<lifecycle::response> respond_async(exchange&,
                                                      const lifecycle::request& req) override {
        std::size_t n = req.body().size();
        if (auto body = std::move(body_)) {
            for (;;) {
                auto [ec, block] = co_await body->next();
                if (ec || block.empty()) break;
                n += block.size();
            }
        }
        co_return answer(n);
    }
    void flushed(std::span<exchange>, error_code, std::string_view,
                 std::chrono::steady_clock::time_point) override {}
    void cancel(exchange&) override {}

    std::deque<bool> heads;  // per request begun, in order: was it a HEAD

private:
    static lifecycle::response answer(std::size_t body_bytes) {
        lifecycle::response r;
        r.headers.emplace_back("X-Body-Bytes", std::to_string(body_bytes));
        return r;
    }
    std::shared_ptr<lifecycle::body_source> body_;
};

struct harness {
    harness() {
        cfg.limits.header_bytes = 4096;
        cfg.limits.body_bytes = 16 * 1024;
        cfg.limits.pipeline_depth = 4;
    }
    net::io_context ioc;
    config::server_config cfg;
    stand_in dispatch;
    lifecycle::gate gate;
    std::atomic<std::uint64_t> open_sessions{1u << 30};
    session_host host{ioc, cfg, dispatch, gate, open_sessions};
};

// The output must be whole responses; after one with Connection: close, nothing. `heads` says,
// for each request the stand-in began, whether it was a HEAD (its answer has no body).
void check_responses(std::string_view out, std::deque<bool>& heads) {
    while (!out.empty()) {
        // The head alone first: is this the answer to a request the stand-in began, a HEAD?
        bool head = false;
        {
            http::response_parser<http::empty_body> peek;
            peek.eager(false);
            error_code ec;
            peek.put(net::buffer(out.data(), out.size()), ec);
            if (!peek.is_header_done()) __builtin_trap();  // a cut or malformed head
            if (peek.get().count("X-Request-Id") != 0) {
                if (heads.empty()) __builtin_trap();  // an answer to nothing begun
                head = heads.front();
                heads.pop_front();
            }
        }
        http::response_parser<http::string_body> p;
        p.eager(true);
        p.skip(head);
        p.body_limit(boost::none);
        error_code ec;
        const std::size_t used = p.put(net::buffer(out.data(), out.size()), ec);
        if (ec || !p.is_done()) __builtin_trap();
        out.remove_prefix(used);
        if (!p.keep_alive() && !out.empty()) __builtin_trap();
    }
}

net::awaitable<void> read_all(tcp::socket& peer, std::string& out) {
    char buf[16384];
    for (;;) {
        auto [ec, n] =
            co_await peer.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
        out.append(buf, n);
        if (ec) break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static harness* h = new harness;  // one for the process, as one I/O thread
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
    // The whole input, then EOF: the session sees a client that sent it and half-closed.
    for (std::size_t off = 0; off < size;) {
        const ssize_t n = ::write(sv[1], data + off, size - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
    }
    ::shutdown(sv[1], SHUT_WR);
    tcp::socket mine(h->ioc), peer(h->ioc);
    mine.assign(tcp::v4(), sv[0]);
    peer.assign(tcp::v4(), sv[1]);
    std::make_shared<session>(h->host, std::move(mine),
                              tcp::endpoint(net::ip::make_address("127.0.0.1"), 40000))
        ->start();
    std::string out;
    h->dispatch.heads.clear();
    net::co_spawn(h->ioc, read_all(peer, out), net::detached);
    h->ioc.restart();
    h->ioc.run();
    check_responses(out, h->dispatch.heads);
    return 0;
}

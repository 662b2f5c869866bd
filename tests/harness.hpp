#pragma once
// Test support: an in-process edged on 127.0.0.1:0 and raw-socket / Beast clients with bounded
// waits, so a broken server fails a test instead of hanging it.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "config/config.hpp"
#include "lifecycle/log.hpp"
#include "server/server.hpp"

namespace edged::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// The server section every test config starts with: loopback, free ports, quiet logs.
inline std::string base_config(const std::string& server_extra = "", int threads = 1) {
    return "server:\n  listen: [\"127.0.0.1:0\"]\n  threads: " + std::to_string(threads) + "\n" +
           server_extra +
           "admin: { listen: \"127.0.0.1:0\" }\nlog: { level: warn, access: false }\n";
}

// Routes several server tests share: static, redirect, a host match.
inline const std::string routes = R"(
routes:
  - name: hello
    match: { path: /hello, methods: [GET] }
    handler: { static: { status: 200, body: "hello, world\n", headers: { content-type: text/plain } } }
  - name: upload
    match: { path: /upload, methods: [POST, PUT] }
    handler: { static: { status: 201, body: "stored\n" } }
  - name: old
    match: { prefix: /old/ }
    handler: { redirect: { status: 301, location: "https://example.com/new/", keep_path: true, keep_query: true } }
  - name: moved
    match: { path: /moved }
    handler: { redirect: { status: 308, location: "/hello" } }
  - name: only-example
    match: { prefix: /, host: example.org }
    handler: { static: { status: 200, body: "example.org\n" } }
)";

inline std::string config_with(const std::string& server_extra = "", int threads = 1) {
    return base_config(server_extra, threads) + routes;
}

// A route /api/ proxied to an origin on 127.0.0.1:`origin_port`.
inline std::string proxy_config(std::uint16_t origin_port, const std::string& upstream_extra = "",
                                const std::string& server_extra = "",
                                const std::string& route_extra = "") {
    return base_config(server_extra) +
           "upstreams:\n  origin: { url: \"http://127.0.0.1:" + std::to_string(origin_port) + "\"" +
           upstream_extra + " }\n" + R"(
routes:
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin, max_response_bytes: 1KiB } }
)" + route_extra;
}

// A loopback port free a moment ago (bound and released), for a server the test starts on it.
// Another test running beside may take it meanwhile: for a port that must refuse, use
// refusing_port.
inline std::uint16_t free_port() {
    net::io_context ioc;
    tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

// A loopback port that refuses connections for as long as this lives: bound, never listening,
// and without SO_REUSEADDR, so no other socket (another test's origin) can be given it meanwhile.
class refusing_port {
public:
    refusing_port() : socket_(ioc_) {
        socket_.open(tcp::v4());
        socket_.bind({net::ip::make_address("127.0.0.1"), 0});
    }
    std::uint16_t port() const { return socket_.local_endpoint().port(); }

private:
    net::io_context ioc_;
    tcp::socket socket_;
};

// Runs edged's control loop on a thread; shuts down and joins on destruction.
class running_server {
public:
    // `before_start` may install C++ handlers (server::set_handler) before the listeners open.
    explicit running_server(const std::string& yaml,
                            const std::function<void(server::server&)>& before_start = {}) {
        lifecycle::log::init("warn");
        auto cfg = config::load_string(yaml, config::format::yaml);
        srv_ = std::make_unique<server::server>(std::move(cfg));
        if (before_start) before_start(*srv_);
        srv_->start();
        thread_ = std::thread([this] { srv_->run(); });
    }
    ~running_server() { stop(); }

    void shutdown() { srv_->shutdown(); }
    // Waits for the control loop to end (after shutdown()).
    void stop() {
        if (!thread_.joinable()) return;
        srv_->shutdown();
        thread_.join();
    }
    bool stopped() const { return !thread_.joinable(); }
    void join() {
        if (thread_.joinable()) thread_.join();
    }

    std::uint16_t port() const { return srv_->endpoints().at(0).port(); }
    std::uint16_t admin_port() const { return srv_->admin_endpoint().port(); }
    server::server& get() { return *srv_; }

private:
    std::unique_ptr<server::server> srv_;
    std::thread thread_;
};

// A blocking TCP client with a receive timeout (so reads cannot hang a test).
class raw_client {
public:
    explicit raw_client(std::uint16_t port, std::chrono::milliseconds timeout = 5s)
        : socket_(ioc_) {
        socket_.connect({net::ip::make_address("127.0.0.1"), port});
        set_timeout(timeout);
    }

    void set_timeout(std::chrono::milliseconds timeout) {
        timeval tv{};
        tv.tv_sec = timeout.count() / 1000;
        tv.tv_usec = (timeout.count() % 1000) * 1000;
        ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    void send(std::string_view bytes) {
        net::write(socket_, net::buffer(bytes.data(), bytes.size()));
    }

    // Reads one response. For a response to HEAD pass head = true (no body follows).
    http::response<http::string_body> read(bool head = false) {
        http::response_parser<http::string_body> parser;
        parser.skip(head);
        parser.body_limit(64 * 1024 * 1024);
        http::read(socket_, buffer_, parser);
        return parser.release();
    }
    std::optional<http::response<http::string_body>> try_read(bool head = false) {
        try {
            return read(head);
        } catch (const boost::system::system_error&) {
            return std::nullopt;
        }
    }

    // Reads everything until the peer closes (or the timeout); returns the bytes.
    std::string read_all() {
        std::string out(static_cast<const char*>(buffer_.data().data()), buffer_.size());
        buffer_.consume(buffer_.size());
        char chunk[4096];
        for (;;) {
            boost::system::error_code ec;
            std::size_t n = socket_.read_some(net::buffer(chunk), ec);
            if (ec) break;
            out.append(chunk, n);
        }
        return out;
    }

    // True when the server has closed the connection: the next read ends with EOF or a reset
    // (not with the receive timeout).
    bool closed_by_peer() {
        if (buffer_.size() > 0) return false;
        char c;
        boost::system::error_code ec;
        socket_.read_some(net::buffer(&c, 1), ec);
        return ec == net::error::eof || ec == net::error::connection_reset;
    }

    tcp::socket& socket() { return socket_; }

private:
    net::io_context ioc_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
};

inline std::string get_request(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

// Polls `pred` every 10 ms for up to `limit`; returns its last value.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

// Leaves the process without a free file descriptor while it lives, so accept(2) fails with
// EMFILE: the soft RLIMIT_NOFILE is lowered to just above the highest descriptor in use and the
// free numbers below it are filled. Open the sockets a test needs before making one, and let no
// other thread try an accept (or open anything) while it is made: an accept holds a number for
// a moment even when it finds no connection, the fill stops at that moment's EMFILE, and the
// number is free again afterwards, for the test's own accept to succeed.
class descriptors_exhausted {
public:
    descriptors_exhausted() {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        long highest = 0;
        for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
            highest = std::max(highest, std::stol(e.path().filename().string()));
        rlimit low = saved_;
        low.rlim_cur = static_cast<rlim_t>(highest + 1);
        ::setrlimit(RLIMIT_NOFILE, &low);
        for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers_.push_back(fd);
    }
    ~descriptors_exhausted() {
        for (int fd : fillers_) ::close(fd);
        ::setrlimit(RLIMIT_NOFILE, &saved_);
    }
    descriptors_exhausted(const descriptors_exhausted&) = delete;
    descriptors_exhausted& operator=(const descriptors_exhausted&) = delete;

private:
    rlimit saved_{};
    std::vector<int> fillers_;
};

}  // namespace edged::test

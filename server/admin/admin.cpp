#include "server/admin/admin.hpp"

#include <nlohmann/json.hpp>

#include "lifecycle/log.hpp"

namespace edged::server {
namespace {
using namespace std::chrono_literals;
constexpr auto token = net::as_tuple(net::use_awaitable);
constexpr auto admin_timeout = 10s;
}  // namespace

admin::admin(net::io_context& ioc, server_state& state)
    : ioc_(ioc), state_(state), acceptor_(ioc) {}

tcp::endpoint admin::listen(const tcp::endpoint& ep) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    return acceptor_.local_endpoint();
}

void admin::start() {
    net::co_spawn(ioc_, accept_loop(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            lifecycle::log::event("admin listener failed").str("error", ex.what()).error();
        }
    });
}

void admin::stop() {
    error_code ec;
    acceptor_.close(ec);
}

net::awaitable<void> admin::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(token);
        if (ec) {
            if (!acceptor_.is_open()) co_return;
            continue;
        }
        net::co_spawn(ioc_, serve(std::move(socket)), [](std::exception_ptr) {});
    }
}

net::awaitable<void> admin::serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(8 * 1024);
        parser.body_limit(64 * 1024);
        stream.expires_after(admin_timeout);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, token);
        if (ec) break;
        auto res = answer(parser.get());
        res.keep_alive(parser.get().keep_alive());
        stream.expires_after(admin_timeout);
        auto [wec, wn] = co_await http::async_write(stream, res, token);
        if (wec || !res.keep_alive()) break;
    }
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

http::response<http::string_body> admin::answer(const http::request<http::string_body>& req) const {
    http::response<http::string_body> res;
    res.version(11);
    res.set(http::field::server, "edged");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    auto target = req.target();
    target = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET, HEAD");
        res.body() = "method not allowed\n";
    } else if (target == "/healthz") {
        res.result(http::status::ok);
        res.body() = "ok\n";
    } else if (target == "/readyz") {
        bool ready = state_.ready.load();
        res.result(ready ? http::status::ok : http::status::service_unavailable);
        res.body() = ready ? "ready\n" : "draining\n";
    } else if (target == "/stats") {
        nlohmann::json j = {
            {"ready", state_.ready.load()},
            {"open_connections", state_.open_connections.load()},
            {"connections_accepted", state_.connections_accepted.load()},
            {"connections_rejected", state_.connections_rejected.load()},
            {"requests", state_.requests.load()},
        };
        auto& tasks = j["tasks"];
        tasks["registered"] = state_.tasks.registered.load();
        tasks["running"] = state_.tasks.running.load();
        for (std::size_t i = 0; i < lifecycle::outcome_count; ++i) {
            auto o = static_cast<lifecycle::outcome>(i);
            tasks[std::string(lifecycle::to_string(o))] = state_.tasks.get(o);
        }
        res.result(http::status::ok);
        res.set(http::field::content_type, "application/json");
        res.body() = j.dump() + "\n";
    } else {
        res.result(http::status::not_found);
        res.body() = "not found\n";
    }
    if (req.method() == http::verb::head) {
        res.content_length(res.body().size());
        res.body().clear();
        // keep Content-Length of the GET answer
        return res;
    }
    res.prepare_payload();
    return res;
}

}  // namespace edged::server

#include "server/admin/admin.hpp"

#include "lifecycle/log.hpp"

namespace edged::server {
namespace {
using namespace std::chrono_literals;
constexpr auto admin_timeout = 10s;
}  // namespace

admin::admin(net::io_context& ioc, const std::atomic<bool>& ready,
             std::function<figures()> snapshot)
    : ioc_(ioc), ready_(ready), snapshot_(std::move(snapshot)) {}

void admin::serve(tcp::socket socket) {
    net::co_spawn(ioc_, connection(std::move(socket)),
                  lifecycle::log::on_failure("admin connection failed"));
}

net::awaitable<void> admin::connection(tcp::socket socket) {
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
        bool ready = ready_.load();
        res.result(ready ? http::status::ok : http::status::service_unavailable);
        res.body() = ready ? "ready\n" : "draining\n";
    } else if (target == "/stats") {
        const nlohmann::json j = to_json(snapshot_());
        res.result(http::status::ok);
        res.set(http::field::content_type, "application/json");
        res.body() = j.dump() + "\n";
    } else if (target == "/metrics") {
        // The Prometheus text format, version 0.0.4: what prometheus-cpp serialises (it has no
        // OpenMetrics writer), and what every Prometheus accepts whatever it asks for.
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = to_prometheus(snapshot_());
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

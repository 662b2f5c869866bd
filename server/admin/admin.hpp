#pragma once
// The admin listener (default 127.0.0.1:9901): GET /healthz (200 while the process runs),
// GET /readyz (200 while serving, 503 once draining), GET /stats (JSON counters).
// It runs on the control thread, apart from the I/O threads, so it answers even when they are
// saturated. Low traffic: plain Beast reads and writes with a timeout per connection.

#include <functional>
#include <string>

#include "server/net.hpp"
#include "server/server_state.hpp"

namespace edged::server {

class admin {
public:
    admin(net::io_context& ioc, server_state& state);
    tcp::endpoint listen(const tcp::endpoint& ep);
    void start();
    void stop();

private:
    net::awaitable<void> accept_loop();
    net::awaitable<void> serve(tcp::socket socket);
    http::response<http::string_body> answer(const http::request<http::string_body>& req) const;

    net::io_context& ioc_;
    server_state& state_;
    tcp::acceptor acceptor_;
};

}  // namespace edged::server

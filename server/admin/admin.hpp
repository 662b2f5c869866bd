#pragma once
// The admin answers (default listener 127.0.0.1:9901): GET /healthz (200 while the process
// runs), GET /readyz (200 while serving, 503 once shutdown began), GET /stats (JSON counters),
// GET /metrics (the same figures for Prometheus).
// It runs on the control thread, apart from the I/O threads, so it answers even when they are
// saturated; the process accepts its connections (server/listener.*) and hands them here. Low
// traffic: plain Beast reads and writes with a timeout per connection.

#include <atomic>
#include <functional>

#include <nlohmann/json.hpp>

#include "server/admin/figures.hpp"
#include "server/net.hpp"

namespace edged::server {

class admin {
public:
    // `ready` answers /readyz; `snapshot` takes the figures /stats and /metrics show.
    admin(net::io_context& ioc, const std::atomic<bool>& ready, std::function<figures()> snapshot);
    // Serves one admin connection until it closes (a coroutine on `ioc`, failures logged).
    void serve(tcp::socket socket);

private:
    net::awaitable<void> connection(tcp::socket socket);
    http::response<http::string_body> answer(const http::request<http::string_body>& req) const;

    net::io_context& ioc_;
    const std::atomic<bool>& ready_;
    std::function<figures()> snapshot_;
};

}  // namespace edged::server

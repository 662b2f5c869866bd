#pragma once
// The dispatch of one I/O thread: where a parsed request meets the route table and the lifecycle.
//
// Responsibilities: route each request the session hands over (404, 405 and 400 answered here);
// begin its lifecycle with everything the request brings; have the lifecycle respond (handler,
// handler timeout, after-actions); once the session reports the flush, tell the lifecycle and
// write the access log line. It never touches a socket, and it leaves budgets, tasks and
// outcomes to the lifecycle.

#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "config/config.hpp"
#include "lifecycle/limits.hpp"
#include "lifecycle/runtime.hpp"
#include "server/http/dispatcher.hpp"
#include "server/router.hpp"
#include "server/server_state.hpp"

namespace edged::server {

class route_dispatcher final : public dispatcher {
public:
    route_dispatcher(const config::config& cfg, std::shared_ptr<const router> routes,
                     lifecycle::runtime& rt, server_state& state);

    std::optional<lifecycle::response> begin(exchange& ex, const inbound& in) override;
    net::awaitable<lifecycle::response> respond_async(exchange& ex,
                                                      const lifecycle::request& req) override;
    void flushed(std::span<exchange> batch, error_code ec, std::string_view peer,
                 std::chrono::steady_clock::time_point handed) override;

private:
    std::shared_ptr<const router> routes_;
    lifecycle::runtime& runtime_;
    server_state& state_;
    lifecycle::lifecycle_limits defaults_;  // for requests no route answers
    bool access_log_;
};

}  // namespace edged::server

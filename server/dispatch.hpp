#pragma once
// The dispatch of one I/O thread: where a parsed request meets the route table and the lifecycle.
//
// Responsibilities: route each request the session hands over (404, 405 and 400 answered here);
// begin its lifecycle with everything the request brings (and the config generation it is
// served under, which it pins); have the lifecycle respond (handler,
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
#include "server/generation.hpp"
#include "server/http/dispatcher.hpp"
#include "server/router.hpp"
#include "server/server_state.hpp"

namespace edged::server {

class route_dispatcher final : public dispatcher {
public:
    route_dispatcher(lifecycle::runtime& rt, server_state& state);

    // From the next request on, route with `g` (a start, a reload); requests already begun keep
    // the generation they pinned.
    void use(thread_generation_ptr g) { gen_ = std::move(g); }
    const thread_generation_ptr& current() const { return gen_; }

    bool streams_body(std::string_view host, std::string_view path,
                      std::string_view method) const override;
    std::optional<lifecycle::response> begin(exchange& ex, const inbound& in) override;
    net::awaitable<lifecycle::response> respond_async(exchange& ex,
                                                      const lifecycle::request& req) override;
    void flushed(std::span<exchange> batch, error_code ec, std::string_view peer,
                 std::chrono::steady_clock::time_point handed) override;
    void cancel(exchange& ex) override;

private:
    void access_line(exchange& ex, error_code ec, std::string_view peer);

    lifecycle::runtime& runtime_;
    server_state& state_;
    thread_generation_ptr gen_;
};

}  // namespace edged::server

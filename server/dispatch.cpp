#include "server/dispatch.hpp"

#include "lifecycle/log.hpp"
#include "server/http/response_writer.hpp"

namespace edged::server {

route_dispatcher::route_dispatcher(const config::config& cfg, std::shared_ptr<const router> routes,
                                   lifecycle::runtime& rt, server_state& state)
    : routes_(std::move(routes)),
      runtime_(rt),
      state_(state),
      defaults_(lifecycle::lifecycle_limits::of(cfg)),
      access_log_(cfg.log.access) {}

std::optional<lifecycle::response> route_dispatcher::begin(exchange& ex, const inbound& in) {
    const auto method = in.req.method_string();
    router::result match;
    if (in.target) match = routes_->match(in.host, in.target->path, method);

    lifecycle::request_start start;
    start.received = in.received;
    start.incoming_id = in.request_id;
    start.traceparent = in.traceparent;
    start.method = method;
    start.peer = in.peer;
    if (in.target) {
        start.path = in.target->path;
        start.query = in.target->query;
        start.host = in.host;
    }
    start.route = match.matched ? &match.matched->binding : nullptr;
    start.limits = &defaults_;
    ex.lc = runtime_.pool().acquire();
    ex.lc->begin(start);
    ex.matched = match.matched;
    ex.request_id = ex.lc->ctx().id();
    // Once shutdown has begun (readiness is 503), every response asks the client to reconnect,
    // so keep-alive clients move to another instance during the drain delay.
    ex.close = !state_.ready.load(std::memory_order_relaxed);
    if (access_log_) {
        ex.method.assign(method);
        ex.path.assign(in.req.target().substr(0, in.req.target().find('?')));
    }
    state_.requests.fetch_add(1, std::memory_order_relaxed);

    if (!in.target) {
        ex.close = true;  // a target we cannot read: the framing may be off too
        return error_response(400);
    }
    if (!match.matched) {
        if (match.allow.empty()) return error_response(404);
        auto res = error_response(405);
        res.headers.emplace_back("Allow", std::move(match.allow));
        return res;
    }
    if (match.matched->handler->is_async()) return std::nullopt;
    return ex.lc->respond(in.req);
}

net::awaitable<lifecycle::response> route_dispatcher::respond_async(exchange& ex,
                                                                    const lifecycle::request& req) {
    co_return co_await ex.lc->respond_async(req);
}

void route_dispatcher::flushed(std::span<exchange> batch, error_code ec, std::string_view peer,
                               std::chrono::steady_clock::time_point handed) {
    // Every request's time to flush runs from the end of its head to `handed`, the moment its
    // response went to the kernel: the access log, and background budgets, read the same points.
    for (exchange& ex : batch) {
        if (!ec) ex.lc->flushed(handed);
        if (access_log_) {
            lifecycle::log::event e("access");
            e.request_id(ex.request_id)
                .str("method", ex.method)
                .str("path", ex.path)
                .unum("status", ex.status)
                .unum("bytes", ex.bytes)
                .num("duration_us",
                     ec ? -1 : static_cast<std::int64_t>(ex.lc->time_to_flush().count()))
                .str("route", ex.matched ? std::string_view(ex.matched->name()) : "")
                .str("remote", peer);
            if (ec) e.str("error", ec.message());
            e.emit_to(lifecycle::log::access(), spdlog::level::info);
        }
        ex.lc.reset();  // back to the pool, or on to its background tasks
    }
}

}  // namespace edged::server

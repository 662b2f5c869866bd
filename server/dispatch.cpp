#include "server/dispatch.hpp"

#include "lifecycle/log.hpp"
#include "server/http/response_writer.hpp"

namespace edged::server {

route_dispatcher::route_dispatcher(lifecycle::runtime& rt, server_state& state)
    : runtime_(rt), state_(state) {}

std::optional<lifecycle::response> route_dispatcher::begin(exchange& ex, const inbound& in) {
    const auto method = in.req.method_string();
    router::result match;
    const generation& g = *gen_->shared;
    if (in.target) match = g.routes.match(in.host, in.target->path, method);

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
    start.limits = &gen_->defaults;
    start.unrouted = state_.unrouted;
    start.pin = gen_;
    start.via = &gen_->upstreams;
    ex.lc = runtime_.pool().acquire();
    ex.lc->begin(start);
    ex.matched = match.matched;
    ex.request_id = ex.lc->ctx().id();
    // Once shutdown has begun (readiness is 503), every response asks the client to reconnect,
    // so keep-alive clients move to another instance during the drain delay.
    ex.close = !state_.ready.load(std::memory_order_relaxed);
    ex.logged = g.cfg.log.access;
    if (ex.logged) {
        ex.method.assign(method);
        ex.path.assign(in.req.target().substr(0, in.req.target().find('?')));
    }

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
        ex.lc->stats().count_status(ex.status);
        if (!ec) ex.lc->flushed(handed);
        if (ex.logged) {
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

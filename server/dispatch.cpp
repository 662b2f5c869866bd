#include "server/dispatch.hpp"

#include "lifecycle/log.hpp"
#include "server/http/response_writer.hpp"

namespace edged::server {

route_dispatcher::route_dispatcher(lifecycle::runtime& rt, server_state& state)
    : runtime_(rt), state_(state) {}

bool route_dispatcher::streams_body(std::string_view host, std::string_view path,
                                    std::string_view method) const {
    const auto match = gen_->shared->routes.match(host, path, method);
    return match.matched && match.matched->streams_body();
}

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
    start.body = in.body;
    if (in.target) {
        start.path = in.target->path;
        start.query = in.target->query;
        start.host = in.host;
    }
    // Behind a trusted load balancer the client is the one its X-Forwarded-For names.
    thread_local std::string client;
    client.clear();
    if (!g.trusted.empty() && g.trusted.trusts(in.peer_ip)) {
        start.peer_trusted = true;
        g.trusted.client_of(in.req, in.peer_ip, client);
        start.client = client;
    }
    start.route = match.matched ? &match.matched->binding : nullptr;
    start.limits = &gen_->defaults;
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
        ex.fields = g.access_fields;
        const auto target = in.req.target();
        const auto q = target.find('?');
        if (has(ex.fields, access_field::method)) ex.method.assign(method);
        if (has(ex.fields, access_field::path)) ex.path.assign(target.substr(0, q));
        if (has(ex.fields, access_field::query))
            ex.query.assign(q == target.npos ? std::string_view()
                                             : std::string_view(target.substr(q + 1)));
        const auto field = [&](http::field f, std::string& out) {
            auto it = in.req.find(f);
            out.assign(it == in.req.end() ? std::string_view() : std::string_view(it->value()));
        };
        if (has(ex.fields, access_field::host)) field(http::field::host, ex.host);
        if (has(ex.fields, access_field::user_agent)) field(http::field::user_agent, ex.user_agent);
        if (has(ex.fields, access_field::referer)) field(http::field::referer, ex.referer);
        ex.bytes_received = in.req.body().size();
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
        if (ex.logged) access_line(ex, ec, peer);
        ex.lc.reset();  // back to the pool, or on to its background tasks
    }
}

void route_dispatcher::cancel(exchange& ex) {
    if (ex.lc) ex.lc->cancel_handler();
}

void route_dispatcher::access_line(exchange& ex, error_code ec, std::string_view peer) {
    const std::uint32_t f = ex.fields;
    const auto& ctx = ex.lc->ctx();
    lifecycle::log::event e("access");
    if (has(f, access_field::request_id)) e.request_id(ex.request_id);
    if (has(f, access_field::method)) e.str("method", ex.method);
    if (has(f, access_field::path)) e.str("path", ex.path);
    if (has(f, access_field::query)) e.str("query", ex.query);
    if (has(f, access_field::status)) e.unum("status", ex.status);
    if (has(f, access_field::bytes)) e.unum("bytes", ex.bytes);
    if (has(f, access_field::duration_us))
        e.num("duration_us", ec ? -1 : static_cast<std::int64_t>(ex.lc->time_to_flush().count()));
    if (has(f, access_field::route))
        e.str("route", ex.matched ? std::string_view(ex.matched->name()) : "");
    if (has(f, access_field::remote)) e.str("remote", ctx.client());
    if (has(f, access_field::peer)) e.str("peer", peer);
    if (has(f, access_field::host)) e.str("host", ex.host);
    if (has(f, access_field::user_agent)) e.str("user_agent", ex.user_agent);
    if (has(f, access_field::referer)) e.str("referer", ex.referer);
    if (has(f, access_field::bytes_received)) e.unum("bytes_received", ex.bytes_received);
    if (has(f, access_field::upstream)) e.str("upstream", ctx.last_upstream());
    if (has(f, access_field::upstream_us))
        e.num("upstream_us",
              std::chrono::duration_cast<std::chrono::microseconds>(ctx.upstream_time()).count());
    if (ec) e.str("error", ec.message());
    e.emit_to(lifecycle::log::access(), spdlog::level::info);
}

}  // namespace edged::server

#include "server/handlers/proxy_handler.hpp"

#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "server/handlers/forward.hpp"
#include "server/net.hpp"
#include "server/upstream/hop_by_hop.hpp"

namespace edged::server {

proxy_handler::proxy_handler(const config::proxy_handler& cfg) : cfg_(cfg) {}

net::awaitable<lifecycle::response> proxy_handler::handle_async(const lifecycle::request& in,
                                                                lifecycle::context& ctx) {
    const lifecycle::request out = forwarded_request(in, ctx);
    lifecycle::stream_options opts;
    if (cfg_.max_response_bytes > 0) opts.max_body = cfg_.max_response_bytes;
    opts.block = cfg_.buffer_bytes;
    opts.retries = cfg_.retries;
    opts.body = ctx.body_stream();
    auto result = co_await ctx.open(cfg_.upstream, out, opts);
    if (result.body_failed) {
        // The client's body failed (over body_bytes, malformed, too slow, gone): the session
        // answers for it; nothing the origin did.
        lifecycle::log::event("proxy request body failed")
            .str("upstream", cfg_.upstream)
            .str("error", result.ec.message())
            .debug();
        co_return lifecycle::text_response(400, "bad request body\n");
    }
    if (result.ec) {
        unsigned status = 502;
        if (result.timed_out)
            status = 504;
        else if (result.unavailable || result.ec == lifecycle::errc::subrequest_overflow)
            status = 503;
        lifecycle::log::event("proxy failed")
            .str("upstream", cfg_.upstream)
            .str("error", result.ec.message())
            .unum("status", status)
            .warn();
        std::string_view text = "bad gateway\n";
        if (status == 504)
            text = "upstream timed out\n";
        else if (result.unavailable)
            text = "no healthy upstream\n";
        else if (status == 503)
            text = "too many subrequests\n";
        co_return lifecycle::text_response(status, text);
    }
    if (result.head.result_int() == 101) {
        // edged does not pass upgrades on (Upgrade is hop-by-hop and never forwarded), so a 101
        // is an origin that switched protocols unasked: what follows is not HTTP. Its
        // connection is closed (never pooled); the client gets a plain 502.
        lifecycle::log::event("proxy failed")
            .str("upstream", cfg_.upstream)
            .str("error", "the origin switched protocols (101) unasked")
            .unum("status", 502)
            .warn();
        co_return lifecycle::text_response(502, "bad gateway\n");
    }
    lifecycle::response res;
    res.status = result.head.result_int();
    for (const auto& f : result.head) {
        auto name = f.name_string();
        if (is_hop_by_hop(name) || server_owned_field(name)) continue;
        res.headers.emplace_back(std::string(name), std::string(f.value()));
    }
    res.stream = std::move(result.body);  // the body follows as it arrives
    co_return res;
}

}  // namespace edged::server

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
    lifecycle::request out = forwarded_request(in, ctx);
    auto result = co_await ctx.fetch(cfg_.upstream, std::move(out), cfg_.max_response_bytes);
    if (result.ec) {
        unsigned status = result.timed_out                                    ? 504
                          : result.ec == lifecycle::errc::subrequest_overflow ? 503
                                                                              : 502;
        lifecycle::log::event("proxy failed")
            .str("upstream", cfg_.upstream)
            .str("error", result.ec.message())
            .unum("status", status)
            .warn();
        co_return lifecycle::text_response(status, status == 504   ? "upstream timed out\n"
                                                   : status == 503 ? "too many subrequests\n"
                                                                   : "bad gateway\n");
    }
    lifecycle::response res;
    res.status = result.response.result_int();
    for (const auto& f : result.response) {
        auto name = f.name_string();
        if (is_hop_by_hop(name) || server_owned_field(name)) continue;
        res.headers.emplace_back(std::string(name), std::string(f.value()));
    }
    res.body = std::move(result.response.body());
    co_return res;
}

}  // namespace edged::server

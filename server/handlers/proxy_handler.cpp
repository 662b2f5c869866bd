#include "server/handlers/proxy_handler.hpp"

#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "server/net.hpp"
#include "server/upstream/hop_by_hop.hpp"

namespace edged::server {

namespace {

// Fields the Connection header names are hop-by-hop too.
bool named_by_connection(const lifecycle::request& req, std::string_view name) {
    for (auto it = req.find(http::field::connection);
         it != req.end() && it->name() == http::field::connection; ++it) {
        for (auto token : http::token_list(it->value()))
            if (beast::iequals(token, name)) return true;
    }
    return false;
}

bool server_owned(std::string_view name) {
    return beast::iequals(name, "server") || beast::iequals(name, "date") ||
           beast::iequals(name, "x-request-id");
}

}  // namespace

proxy_handler::proxy_handler(const config::proxy_handler& cfg) : cfg_(cfg) {}

net::awaitable<lifecycle::response> proxy_handler::handle_async(const lifecycle::request& in,
                                                                lifecycle::context& ctx) {
    lifecycle::request out;
    out.method_string(in.method_string());
    std::string target(ctx.path());
    if (!ctx.query().empty()) {
        target += '?';
        target += ctx.query();
    }
    out.target(target);
    std::string forwarded_for;
    // The upstream client drops hop-by-hop fields and those it writes itself (Host, ...); the
    // fields this Connection header names are hop-by-hop too, but only the proxy knows them.
    for (const auto& f : in) {
        auto name = f.name_string();
        if (named_by_connection(in, name)) continue;
        if (beast::iequals(name, "x-forwarded-for")) {
            forwarded_for = std::string(f.value());
            continue;
        }
        out.insert(name, f.value());
    }
    if (!forwarded_for.empty()) forwarded_for += ", ";
    forwarded_for += ctx.peer();
    out.set("X-Forwarded-For", forwarded_for);
    out.set("X-Forwarded-Proto", "http");
    if (auto h = in.find(http::field::host); h != in.end()) out.set("X-Forwarded-Host", h->value());
    out.body() = in.body();

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
        if (is_hop_by_hop(name) || server_owned(name)) continue;
        res.headers.emplace_back(std::string(name), std::string(f.value()));
    }
    res.body = std::move(result.response.body());
    co_return res;
}

}  // namespace edged::server

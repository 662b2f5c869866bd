#pragma once
// Built-in `proxy` handler: forwards the request (method, path, query, headers minus hop-by-hop,
// body) to an upstream through ctx.fetch, adding X-Forwarded-For, X-Forwarded-Proto and (via the
// upstream client) X-Request-Id and traceparent. Connect failure or an unusable answer -> 502,
// upstream timeout -> 504, a response body over max_response_bytes -> 502.

#include <string>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"

namespace edged::server {

class proxy_handler final : public lifecycle::async_handler {
public:
    explicit proxy_handler(const config::proxy_handler& cfg);
    boost::asio::awaitable<lifecycle::response> handle_async(const lifecycle::request& req,
                                                             lifecycle::context& ctx) override;

private:
    config::proxy_handler cfg_;
};

}  // namespace edged::server

#pragma once
// Built-in `proxy` handler: forwards the request (method, path, query, headers minus hop-by-hop,
// body) to an upstream through ctx.open (the request body streamed as the client sends it, one
// block at a time: ctx.body_stream()), adding X-Forwarded-For, X-Forwarded-Proto and (via the
// upstream client) X-Request-Id and traceparent, and answers with the origin's head at once and
// its body streamed as it arrives (upstream_body: one block of buffer_bytes at a time, each read
// under the upstream's read_timeout). Connect failure or an unusable answer -> 502, upstream
// timeout (to the head) -> 504, no healthy address -> 503, a Content-Length over
// max_response_bytes -> 502 (a longer body without one is cut).

#include <string>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"

namespace edged::server {

class proxy_handler final : public lifecycle::async_handler {
public:
    explicit proxy_handler(const config::proxy_handler& cfg);
    boost::asio::awaitable<lifecycle::response> handle_async(const lifecycle::request& req,
                                                             lifecycle::context& ctx) override;
    bool streams_request_body() const override { return true; }

private:
    config::proxy_handler cfg_;
};

}  // namespace edged::server

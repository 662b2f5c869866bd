#pragma once
// Compression of responses made at run time (a proxied answer): wraps a route's asynchronous
// handler and compresses what it answers on the worker pool (ctx.offload), so the I/O thread
// keeps serving other connections meanwhile. When the pool cannot take the work (queue full,
// queue or run timeout) the response goes out uncompressed; when the request is cancelled, so
// is the compression.

#include <memory>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"
#include "server/compress/compression.hpp"

namespace edged::server {

class compressing_handler final : public lifecycle::async_handler {
public:
    compressing_handler(std::unique_ptr<lifecycle::handler> inner,
                        const config::compress_config& cfg);
    boost::asio::awaitable<lifecycle::response> handle_async(const lifecycle::request& req,
                                                             lifecycle::context& ctx) override;
    bool streams_request_body() const override { return inner_->streams_request_body(); }

private:
    std::unique_ptr<lifecycle::handler> inner_;
    compression compression_;
};

}  // namespace edged::server

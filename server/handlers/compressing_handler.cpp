#include "server/handlers/compressing_handler.hpp"

#include <memory>
#include <string>
#include <system_error>

#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "server/compress/codec.hpp"

namespace edged::server {

compressing_handler::compressing_handler(std::unique_ptr<lifecycle::handler> inner,
                                         const config::compress_config& cfg)
    : inner_(std::move(inner)), compression_(cfg) {}

boost::asio::awaitable<lifecycle::response> compressing_handler::handle_async(
    const lifecycle::request& req, lifecycle::context& ctx) {
    lifecycle::response res = co_await inner_->handle_async(req, ctx);
    res.headers.emplace_back("Vary", "Accept-Encoding");
    if (!compression_.eligible(req, res)) co_return res;
    const std::string_view coding = compression_.choose(req);
    if (coding.empty()) co_return res;

    // Shared with the pool item: it may outlive this frame when the request is cancelled.
    // (if/else, not ?: — GCC 12 destroys a conditional temporary in a coroutine twice)
    auto body = std::make_shared<std::string>();
    if (res.body.empty())
        body->assign(res.body_ref);
    else
        *body = std::move(res.body);
    const int level = compression_.level(coding);
    std::error_code skipped;
    try {
        // Honours its stop token between 64 KiB blocks: a cancelled request stops its work.
        auto job = [body, coding, level](std::stop_token stop) {
            return encode(coding, *body, level, stop);
        };
        res.body = co_await ctx.offload(std::move(job));
        res.body_ref = {};
        res.headers.emplace_back("Content-Encoding", std::string(coding));
        co_return res;
    } catch (const std::system_error& e) {
        if (e.code() == lifecycle::errc::offload_cancelled) throw;
        skipped = e.code();  // the pool could not take it: send the body as it is
    }
    lifecycle::log::event("compression skipped").str("reason", skipped.message()).warn();
    res.body = *body;
    res.body_ref = {};
    co_return res;
}

}  // namespace edged::server

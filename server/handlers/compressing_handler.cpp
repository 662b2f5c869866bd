#include "server/handlers/compressing_handler.hpp"

#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "server/compress/codec.hpp"
#include "server/net.hpp"

namespace edged::server {
namespace {

// A streamed body compressed block by block on the worker pool: each block the inner source
// gives is fed to one stream_encoder (flushed, so the client can decode it at once). When the
// pool cannot take a block (queue full, or it was not started in time) that block is compressed
// here on the I/O thread — one block of buffer_bytes, bounded — since the client has already been
// told the coding; a block cancelled or past run_timeout ends the body with an error.
class compressing_source final : public lifecycle::body_source {
public:
    compressing_source(std::shared_ptr<lifecycle::body_source> inner, std::string_view coding,
                       int level, lifecycle::context& ctx)
        : inner_(std::move(inner)),
          encoder_(std::make_shared<stream_encoder>(coding, level)),
          ctx_(ctx) {}

    std::optional<std::uint64_t> length() const override { return std::nullopt; }
    bool at_end() const override { return finished_; }
    void cancel() noexcept override {
        inner_->cancel();
        cancelled_ = true;
        if (stop_) stop_->cancel();  // a block on the pool is cancelled too (its token fires)
    }

    boost::asio::awaitable<std::pair<std::error_code, std::string_view>> next() override {
        std::pair<std::error_code, std::string_view> out;
        if (!stop_)
            stop_.emplace(co_await net::this_coro::executor, net::steady_timer::time_point::max());
        while (!finished_) {
            if (cancelled_) {
                out.first = lifecycle::errc::offload_cancelled;
                co_return out;
            }
            auto [ec, block] = co_await inner_->next();
            if (ec) {
                out.first = ec;
                co_return out;
            }
            // The last block and the end of the stream in one feed when the source can tell.
            const bool last = block.empty() || inner_->at_end();
            // Copied: the pool thread reads it, and it may outlive this call (a cancellation).
            auto input = std::make_shared<std::string>(block);
            std::error_code skipped;
            try {
                auto job = [encoder = encoder_, input, last] {
                    return encoder->feed(*input, last);
                };
                using namespace boost::asio::experimental::awaitable_operators;
                auto done = co_await (ctx_.offload(std::move(job)) ||
                                      stop_->async_wait(net::as_tuple(net::use_awaitable)));
                if (done.index() == 1) {
                    out.first = lifecycle::errc::offload_cancelled;
                    co_return out;
                }
                made_ = std::move(std::get<0>(done));
            } catch (const std::system_error& e) {
                if (e.code() != lifecycle::errc::offload_rejected &&
                    e.code() != lifecycle::errc::offload_queue_timeout) {
                    out.first = e.code();
                    co_return out;
                }
                skipped = e.code();  // never started: nothing else touches the encoder
            }
            if (skipped) made_ = encoder_->feed(*input, last);
            finished_ = last;
            if (!made_.empty()) {
                out.second = made_;
                co_return out;
            }
        }
        co_return out;
    }

private:
    std::shared_ptr<lifecycle::body_source> inner_;
    std::shared_ptr<stream_encoder> encoder_;
    lifecycle::context& ctx_;
    std::optional<net::steady_timer> stop_;  // never expires: cancel() ends its wait
    bool cancelled_ = false;
    std::string made_;
    bool finished_ = false;
};

}  // namespace

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
    if (res.stream) {
        res.stream =
            std::make_shared<compressing_source>(std::move(res.stream), coding, level, ctx);
        res.headers.emplace_back("Content-Encoding", std::string(coding));
        co_return res;
    }
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

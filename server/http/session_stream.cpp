// A response whose body is a stream (a proxied or compressed body, a handler's source): the head
// leaves first, then each block as the source gives it, under the write timeout, while a client
// that goes away stops the source. The rest of the session is in session.cpp.

#include "server/http/chunk_frame.hpp"
#include "server/http/session.hpp"

namespace edged::server {

void session::watch_for_close() {
    // Readable while we only write: either the client closed (EOF, a reset: nothing to read) or
    // it sent its next request early (bytes waiting: it is still there, and the watch ends).
    watch_ = std::make_shared<net::cancellation_signal>();
    auto slot = watch_->slot();
    socket_.async_wait(
        tcp::socket::wait_read,
        net::bind_cancellation_slot(
            slot, [self = shared_from_this(), signal = watch_,
                   source = std::weak_ptr<lifecycle::body_source>(stream_)](error_code ec) {
                if (ec) return;
                error_code aec;
                const std::size_t waiting = self->socket_.available(aec);
                if (!aec && waiting > 0) return;
                self->client_gone_ = true;
                if (auto s = source.lock()) s->cancel();
            }));
}

net::awaitable<error_code> session::write_block(std::string_view block) {
    set_phase(phase::writing, host_.cfg.timeouts.write);
    handed_ = clock::now();
    const chunk_frame frame(block, stream_chunked_);
    auto [ec, n] = co_await net::async_write(socket_, frame.buffers(), token);
    co_return ec;
}

net::awaitable<bool> session::stream_body() {
    // The head goes out first, with the responses before it in this batch: those are flushed
    // now, the streamed one when its body has left.
    error_code ec;
    if (auto done = write_now())
        ec = *done;
    else
        ec = co_await write_out();
    out_.clear();
    complete_flush(ec, batch_ - 1);
    std::uint64_t sent = 0;
    if (!ec) {
        client_gone_ = false;
        watch_for_close();
        for (;;) {
            set_phase(phase::streaming, {});  // the source's own timeout governs the wait
            auto [sec, block] = co_await stream_->next();
            if (client_gone_) sec = std::make_error_code(std::errc::connection_reset);
            if (sec) {
                ec = sec;
                break;
            }
            if (block.empty()) {
                if (stream_chunked_) ec = co_await write_block({});
                break;
            }
            ec = co_await write_block(block);
            if (ec) break;
            sent += block.size();
        }
        watch_->emit(net::cancellation_type::all);
        watch_.reset();
    }
    // Dropped here, before the flush lets go of the exchange's lifecycle (and its generation,
    // whose pools the source's connection belongs to): a body not read to its end closes it.
    stream_.reset();
    exchanges_[0].bytes = sent;
    if (ec) close_after_write_ = true;  // a body cut short: the client must see the close
    co_return complete_flush(ec, 1);
}

}  // namespace edged::server

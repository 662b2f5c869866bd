#include "server/upstream/upstream_conn.hpp"

namespace edged::server {

upstream_body::upstream_body(upstream_pool& pool, std::shared_ptr<upstream_conn> conn,
                             std::size_t block)
    : pool_(pool), conn_(std::move(conn)), block_bytes_(std::max<std::size_t>(block, 1)) {}

upstream_body::~upstream_body() {
    // Dropped before its end (the client went away, an error): the connection closes.
    if (conn_) {
        pool_.release(std::move(conn_), false);
        pool_.count(subrequest_outcome::cancelled);
    }
}

void upstream_body::cancel() noexcept {
    // Closing the socket ends a read in progress (operation_aborted); the connection itself is
    // released by next() or the destructor, never under a pending read.
    if (conn_) {
        error_code ignored;
        conn_->socket.close(ignored);
    }
}

void upstream_body::finish(bool reusable) {
    pool_.release(std::move(conn_), reusable && !early_);
    conn_ = nullptr;
    pool_.count(subrequest_outcome::ok);
}

net::awaitable<std::pair<std::error_code, std::string_view>> upstream_body::next() {
    // (Named results, not braced temporaries in co_return: GCC 12 mishandles those.)
    std::pair<std::error_code, std::string_view> out;
    if (done_) co_return out;
    if (!conn_ || pending_error_) {
        out.first = pending_error_ ? std::error_code(pending_error_)
                                   : std::make_error_code(std::errc::operation_canceled);
        if (conn_) {
            auto conn = std::move(conn_);
            pool_.release(std::move(conn), false);
            pool_.count(outcome_of(pending_error_));
        }
        co_return out;
    }
    const auto read_timeout = pool_.cfg().read_timeout;
    if (!block_) {
        block_size_ = block_bytes_;
        if (auto len = parser_.content_length(); len && *len < block_size_)
            block_size_ = std::max<std::size_t>(static_cast<std::size_t>(*len), 1);
        block_.reset(new char[block_size_]);
    }
    auto& b = parser_.get().body();
    for (;;) {
        b.data = block_.get();
        b.size = block_size_;
        b.more = true;
        auto conn = conn_;  // the deadline's handler holds it too
        auto at = clock::now() + read_timeout;
        if (until_) at = std::min(at, *until_);
        arm(conn, at);
        auto [ec, n] = co_await http::async_read_some(conn->socket, conn->buffer, parser_, token);
        disarm(*conn);
        if (ec == http::error::need_buffer) ec = {};
        if (ec && conn->timed_out) ec = net::error::timed_out;
        if (!ec && !conn->socket.is_open()) ec = net::error::operation_aborted;  // cancel()
        if (ec) {
            conn_ = nullptr;
            pool_.release(std::move(conn), false);
            pool_.count(outcome_of(ec));
            out.first = ec;
            co_return out;
        }
        // While more is already here, fill the block without waiting (the socket is
        // non-blocking for synchronous reads): fewer, larger writes, and fewer pool items when
        // compressing; a trickle (an event stream) still goes out as it comes. Waiting here
        // could hold back bytes already read until the origin sends more.
        while (!parser_.is_done() && b.size > 0) {
            error_code aec;
            if (conn->socket.available(aec) == 0 || aec) break;
            error_code rec;
            http::read_some(conn->socket, conn->buffer, parser_, rec);
            if (rec == http::error::need_buffer) continue;
            if (rec == net::error::would_block || rec == net::error::try_again) break;
            if (rec) {
                pending_error_ = rec;  // after the bytes this call already has
                break;
            }
        }
        const std::size_t got = block_size_ - b.size;
        if (parser_.is_done()) {
            done_ = true;
            finish(parser_.keep_alive());
        }
        if (got > 0) {
            out.second = std::string_view(block_.get(), got);
            co_return out;
        }
        if (done_) co_return out;
        if (pending_error_) {
            out.first = pending_error_;
            auto c = std::move(conn_);
            pool_.release(std::move(c), false);
            pool_.count(outcome_of(pending_error_));
            co_return out;
        }
    }
}

}  // namespace edged::server

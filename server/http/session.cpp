#include "server/http/session.hpp"

#include <algorithm>
#include <tuple>

#include "lifecycle/log.hpp"
#include "server/http/connection_error.hpp"
#include "server/http/response_writer.hpp"

namespace edged::server {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr std::size_t read_chunk = 16 * 1024;
// How long a closing connection keeps reading (and discarding) so that the client sees our
// error response rather than a reset. Bounded in time and bytes.
constexpr auto linger_time = 2s;
constexpr std::size_t linger_bytes = 256 * 1024;
// The most a first write may carry and still go out at once with Nagle's algorithm on: one
// segment on any path edged is likely to serve (IPv6 minimum MTU 1280 less headers).
constexpr std::size_t one_segment = 1200;
}  // namespace

// The streamed request body as the handler sees it: each next() parses the next block out of
// what the connection has buffered, reading the socket only when that holds none. Valid while
// the handler runs; once its response is back (detach) a pull fails.
class session::body_reader final : public lifecycle::body_source {
public:
    body_reader(session& s, std::optional<std::uint64_t> length)
        : session_(&s), length_(length), block_(read_chunk, '\0') {}
    std::optional<std::uint64_t> length() const override { return length_; }
    net::awaitable<std::pair<std::error_code, std::string_view>> next() override {
        if (!session_ || cancelled_) {
            const std::pair<std::error_code, std::string_view> gone{
                make_error_code(std::errc::operation_canceled), {}};
            co_return gone;
        }
        auto got = co_await session_->pull_body(block_);
        received_ += got.second.size();
        co_return got;
    }
    bool ready() override { return session_ && !cancelled_ && session_->body_ready(); }
    void cancel() noexcept override {
        cancelled_ = true;
        if (!session_) return;
        error_code ignored;
        session_->socket_.cancel(ignored);  // a read in progress ends
    }
    void detach() { session_ = nullptr; }
    std::uint64_t received() const { return received_; }

private:
    session* session_;
    std::optional<std::uint64_t> length_;
    std::string block_;
    std::uint64_t received_ = 0;
    bool cancelled_ = false;
};

session::session(session_host& host, tcp::socket socket, tcp::endpoint remote)
    : host_(host),
      socket_(std::move(socket)),
      reader_(host.cfg.limits, host.dispatch),
      remote_(remote) {
    host_.gate.enter();
    error_code ec;
    // Synchronous writes must fail with would_block rather than wait (see write_now()); the
    // descriptor needs O_NONBLOCK for the asynchronous operations anyway.
    socket_.non_blocking(true, ec);
    // Buffers (and their capacity) from the thread's pool, back to it when the session ends.
    connection_buffers b = host_.buffers.take();
    in_ = std::move(b.in);
    out_ = std::move(b.out);
    if (out_.capacity() < 4096) out_.reserve(4096);
}

session::~session() {
    if (body_source_) body_source_->detach();
    stream_.reset();  // holds an upstream connection of the generation its exchange pins
    // Exchanges never flushed end their lifecycles first (tasks they registered go to the
    // background, holding the gate themselves), then the session lets go of the gate.
    exchanges_.clear();
    host_.buffers.give({std::move(in_), std::move(out_)});
    host_.open_sessions.fetch_sub(1, std::memory_order_relaxed);
    host_.gate.leave();
}

void session::start() {
    net::co_spawn(host_.ioc, run(), [self = shared_from_this()](std::exception_ptr e) {
        lifecycle::log::failure("session failed", e);
    });
}

void session::set_phase(phase p, std::chrono::milliseconds timeout) {
    phase_ = p;
    // Waiting for a head: a request's head has begun to arrive, or none has come yet.
    const bool waiting = p == phase::header || (p == phase::idle && !head_seen_);
    if (waiting != head_waiter::is_linked()) {
        if (waiting)
            host_.head_waiters.push_back(*this);
        else
            head_waiter::unlink();
    }
    // The thread's coarse clock (refreshed by each sweep) saves a clock read per phase change;
    // adding one sweep interval makes a timeout fire late by at most two intervals, never early.
    deadline_ = timeout.count() > 0 ? host_.coarse_now + timeout + session_host::sweep_interval
                                    : clock::time_point::max();
}

void session::on_tick(clock::time_point now) {
    if (now < deadline_) return;
    deadline_ = clock::time_point::max();
    switch (phase_) {
        case phase::header:
        case phase::body:
            // Wake the pending read; run() answers 408.
            timed_out_ = true;
            {
                error_code ec;
                socket_.cancel(ec);
            }
            break;
        case phase::writing:
            close_cause_ = connection_error::write_timeout;
            close_socket();
            break;
        case phase::idle:
        case phase::lingering:
            close_socket();
            break;
        default:
            break;
    }
}

void session::shut_down() {
    if (phase_ == phase::idle && !request_waiting()) close_socket();
}

bool session::request_waiting() {
    if (in_.size() > 0) return true;
    error_code ec;
    auto n = socket_.available(ec);
    return !ec && n > 0;
}

void session::close_now() {
    close_cause_ = connection_error::shutdown_grace;
    close_socket();
    if (stream_) stream_->cancel();  // a streamed body stops pulling from its upstream
    // A handler still running for this connection (a proxy waiting on its upstream, work on
    // the pool) is cancelled: nobody will read its answer.
    // (The one awaiting respond_async sits at exchanges_[batch_], not yet counted in the batch.)
    for (auto& ex : exchanges_) host_.dispatch.cancel(ex);
}

bool session::evict_one(session_host& host) {
    if (host.head_waiters.empty()) return false;
    head_waiter& w = host.head_waiters.front();
    w.unlink();
    w.give_way();
    return true;
}

void session::give_way() {
    lifecycle::log::event("connection evicted")
        .str("remote", remote_address())
        .str("reason", "waiting for a request head at max_connections")
        .debug();
    close_socket();
}

void session::close_socket() {
    head_waiter::unlink();
    phase_ = phase::closed;
    deadline_ = clock::time_point::max();
    error_code ec;
    socket_.close(ec);  // the last descriptor: close sends the FIN, no shutdown needed
}

request_reader::verdict session::read_request() {
    const auto st = reader_.parse(in_, remote_address());
    if (reader_.header_done()) {
        head_seen_ = true;
        head_waiter::unlink();  // (until the next request's head begins)
    }
    // A streamed body's 100 Continue goes out when the handler first asks for the body; a
    // whole body's with the responses before it, ahead of the read.
    if (st == verdict::streamed)
        continue_due_ = reader_.continue_owed();
    else if (reader_.continue_owed())
        out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    return st;
}

void session::begin_streamed_body() {
    body_status_ = 0;
    body_source_ = std::make_shared<body_reader>(*this, reader_.begin_streamed_body());
}

net::awaitable<std::pair<std::error_code, std::string_view>> session::pull_body(
    std::string& block) {
    using result = std::pair<std::error_code, std::string_view>;
    for (;;) {
        const auto got = reader_.pull(in_, block);
        if (got.ended) {
            set_phase(phase::handling, {});  // body_read no longer applies
            const result end{};
            co_return end;
        }
        if (got.status != 0) {
            body_status_ = got.status;
            const result failed{got.ec, {}};
            co_return failed;
        }
        if (got.bytes > 0) {
            const result some{{}, std::string_view(block.data(), got.bytes)};
            co_return some;
        }
        // Nothing buffered holds body bytes: read, after the 100 Continue the client awaits.
        if (continue_due_) {
            continue_due_ = false;
            static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
            auto [wec, wn] = co_await net::async_write(socket_, net::buffer(go_on), token);
            if (wec) {
                const result failed{wec, {}};
                co_return failed;
            }
        }
        error_code rec;
        std::size_t n = 0;
        if (!timed_out_)
            std::tie(rec, n) = co_await socket_.async_read_some(in_.prepare(read_chunk), token);
        if (timed_out_) {
            body_status_ = 408;
            const result late{error_code(net::error::timed_out), {}};
            co_return late;
        }
        if (rec) {
            // The client went away, or the handler was cancelled (its timeout, shutdown).
            if (rec != net::error::operation_aborted) body_status_ = 400;
            const result failed{rec, {}};
            co_return failed;
        }
        ++host_.reads;
        in_.commit(n);
    }
}

bool session::body_ready() {
    if (reader_.body_done() || in_.size() > 0) return true;
    if (continue_due_ || timed_out_) return false;  // the pull has more to do than read
    error_code ec;
    const std::size_t n = socket_.read_some(in_.prepare(read_chunk), ec);
    if (ec) return false;  // would block; or an error, which the pull's own read reports
    ++host_.reads;
    in_.commit(n);
    return true;
}

void session::settle_streamed_body(lifecycle::response& res) {
    if (!body_source_) return;
    body_source_->detach();
    exchanges_[batch_].bytes_received = body_source_->received();
    body_source_.reset();
    // A body that failed answers for itself (the handler's answer, and any upstream stream it
    // holds, is dropped); a body not read to its end leaves no way to find the next request.
    if (body_status_ != 0) res = error_response(body_status_);
    if (!reader_.body_done()) {
        res.close = true;
        linger_after_write_ = true;
    }
}

bool session::dispatch() {
    const bool target_ok = reader_.target_ok();
    if (batch_ == exchanges_.size()) exchanges_.emplace_back();
    exchange& ex = exchanges_[batch_];
    const inbound in{reader_.request(),
                     target_ok ? &reader_.target() : nullptr,
                     target_ok ? reader_.host() : std::string_view(),
                     reader_.request_id(),
                     reader_.traceparent(),
                     remote_address(),
                     remote_.address(),
                     reader_.head_complete_at(),
                     body_source_};
    auto res = host_.dispatch.begin(ex, in);
    if (!res) return true;  // run() awaits respond_async()
    settle_streamed_body(*res);
    append(*res);
    return false;
}

net::awaitable<void> session::respond_async() {
    if (!body_source_)
        set_phase(phase::handling, {});  // a streamed body keeps body_read until its end
    auto res = co_await host_.dispatch.respond_async(exchanges_[batch_], reader_.request());
    settle_streamed_body(res);
    append(res);
}

void session::append(const lifecycle::response& res) {
    auto& req = reader_.request();
    exchange& ex = exchanges_[batch_++];
    // (The parser's keep_alive() is what req.keep_alive() would say, without a field lookup.)
    const bool keep_alive = reader_.keep_alive();
    const bool close = ex.close || res.close || !keep_alive || host_.shutting_down;
    response_meta meta;
    meta.head = req.method() == http::verb::head;
    meta.close = close;
    meta.keep_alive_10 = !close && req.version() == 10;
    meta.request_id = ex.request_id;
    meta.date = host_.date.now();
    const bool streamed = res.stream && !meta.head && !lifecycle::bodyless_status(res.status);
    if (streamed) {
        // Without a length, an HTTP/1.1 body goes chunked and an HTTP/1.0 one ends at the close.
        meta.chunked = req.version() >= 11;
        if (!res.stream->length() && !meta.chunked) {
            meta.close = true;
            meta.keep_alive_10 = false;
        }
        stream_ = res.stream;
        stream_chunked_ = meta.chunked && !res.stream->length();
    }
    ex.bytes = append_response(out_, res, meta);
    ex.status = res.status;
    if (meta.close) close_after_write_ = true;

    reader_.next_request();
}

std::string_view session::remote_address() {
    if (remote_text_.empty()) remote_text_ = remote_.address().to_string();
    return remote_text_;
}

std::optional<error_code> session::write_now() {
    error_code ec;
    // TCP_NODELAY, like nginx, only once it can matter: Nagle never holds a connection's first
    // write of at most one segment (nothing is in flight yet), so a one-request connection
    // (Connection: close) saves the system call; a later write, or a larger first batch, could
    // wait for a delayed ACK without it.
    if (!nodelay_ && (wrote_ || out_.size() > one_segment)) {
        socket_.set_option(tcp::no_delay(true), ec);
        nodelay_ = true;
    }
    wrote_ = true;
    handed_ = clock::now();  // before the call: see dispatcher::flushed
    const std::size_t n = socket_.write_some(net::buffer(out_), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) return std::nullopt;
    if (!ec && n < out_.size()) {
        out_.erase(0, n);
        return std::nullopt;
    }
    return ec;
}

net::awaitable<bool> session::flush() {
    if (auto done = write_now()) co_return complete_flush(*done);
    co_return co_await write_rest();
}

net::awaitable<bool> session::write_rest() {
    const error_code ec = co_await write_out();
    co_return complete_flush(ec);
}

net::awaitable<error_code> session::write_out() {
    // The socket buffer is full: wait for the client to read, under the write timeout.
    set_phase(phase::writing, host_.cfg.timeouts.write);
    error_code ec;
    for (std::size_t sent = 0; sent < out_.size();) {
        handed_ = clock::now();  // the last write's start is the batch's hand-over
        auto [wec, n] = co_await socket_.async_write_some(
            net::buffer(out_.data() + sent, out_.size() - sent), token);
        if (wec) {
            ec = wec;
            break;
        }
        sent += n;
    }
    co_return ec;
}

bool session::complete_flush(error_code ec, std::size_t count) {
    if (count == batch_) out_.clear();
    // A response the session cut itself failed for that reason, not for what the close did to
    // the pending write or wait.
    if (ec && close_cause_) ec = close_cause_;
    host_.dispatch.flushed(std::span<exchange>(exchanges_.data(), count), ec, remote_address(),
                           handed_);
    std::rotate(exchanges_.begin(), exchanges_.begin() + static_cast<std::ptrdiff_t>(count),
                exchanges_.begin() + static_cast<std::ptrdiff_t>(batch_));
    batch_ -= count;
    return !ec;
}

net::awaitable<void> session::linger() {
    // Half-close: the client sees EOF after our response, and we read what it still sends so the
    // kernel does not answer it with a reset that could destroy the response in flight.
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    set_phase(phase::lingering, std::chrono::duration_cast<std::chrono::milliseconds>(linger_time));
    std::size_t discarded = 0;
    char sink[4096];
    while (discarded < linger_bytes && phase_ == phase::lingering) {
        auto [rec, n] = co_await socket_.async_read_some(net::buffer(sink), token);
        if (rec) break;
        discarded += n;
    }
}

net::awaitable<void> session::reject_and_close(unsigned status) {
    reader_.next_request();
    response_meta meta;
    meta.close = true;
    meta.date = host_.date.now();
    append_response(out_, error_response(status), meta);
    lifecycle::log::event("request rejected")
        .unum("status", status)
        .str("remote", remote_address())
        .debug();
    if (co_await flush()) co_await linger();
}

template <class Token>
auto session::async_read_paced(Token&& token) {
    // The read starts once the thread's queued work has run and the reactor has polled again
    // (see read_pacing.hpp). Only the start is deferred: no coroutine hop of its own.
    return net::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler) {
            net::post(host_.ioc, [this, before = host_.reads, h = std::move(handler)]() mutable {
                start_paced_read(std::move(h), before);
            });
        },
        token);
}

template <class Handler>
void session::start_paced_read(Handler handler, std::uint64_t reads_before) {
    pacing_.deferred(host_.reads != reads_before);
    if (timed_out_) {
        // The header or body timeout fired meanwhile and found no read to cancel.
        std::move(handler)(net::error::operation_aborted, std::size_t{0});
        return;
    }
    socket_.async_read_some(in_.prepare(read_chunk), std::move(handler));
}

net::awaitable<void> session::run() {
    const auto& cfg = host_.cfg;
    const std::size_t max_batch = cfg.limits.pipeline_depth;
    bool first = true;
    for (;;) {
        const auto st = read_request();
        if (st == verdict::failed) {
            // The framing can no longer be trusted: answer, then close.
            co_await reject_and_close(reader_.status());
            break;
        }
        if (st == verdict::complete || st == verdict::streamed) {
            if (st == verdict::streamed) {
                // The responses before it leave first: the 100 Continue and the body's reads
                // go straight to the socket. The body must arrive within body_read.
                if (!out_.empty() && !co_await flush()) break;
                begin_streamed_body();
                set_phase(phase::body, cfg.timeouts.body_read);
            }
            if (dispatch()) co_await respond_async();
            if (stream_) {
                if (!co_await stream_body() || close_after_write_) {
                    if (linger_after_write_) co_await linger();
                    break;
                }
                continue;
            }
            // Pipelined requests already here join the batch, up to pipeline_depth.
            if (!close_after_write_ && batch_ < max_batch) continue;
        }
        // A full batch, a closing response, or need_more: send what is ready before reading.
        if (!out_.empty()) {
            // Most batches go out in one non-blocking write, without a suspension.
            // (if/else, not ?: — GCC 12 mishandles co_await inside a conditional expression)
            bool written;
            if (auto done = write_now())
                written = complete_flush(*done);
            else
                written = co_await write_rest();
            if (!written) break;
            if (close_after_write_) {
                // Linger only where the client may still be sending (pipelined bytes we
                // will not answer); a clean Connection: close just closes.
                if (in_.size() > 0 || linger_after_write_) co_await linger();
                break;
            }
            continue;
        }
        if (phase_ == phase::closed) break;
        if (in_.size() == 0 && !reader_.header_done()) {
            if (host_.shutting_down && !request_waiting()) break;
            // A new connection gets header_read to send its first request; a kept-alive one idle.
            set_phase(phase::idle, first ? cfg.timeouts.header_read : cfg.timeouts.idle);
        } else if (phase wanted = reader_.header_done() ? phase::body : phase::header;
                   phase_ != wanted) {
            // The deadline runs from the first byte of the header (or from the end of the
            // header for the body), not from each read.
            set_phase(wanted,
                      wanted == phase::body ? cfg.timeouts.body_read : cfg.timeouts.header_read);
        }
        first = false;
        // (if/else, not ?: — GCC 12 mishandles co_await inside a conditional expression)
        error_code ec;
        std::size_t n = 0;
        if (pacing_.defer())
            std::tie(ec, n) = co_await async_read_paced(token);
        else
            std::tie(ec, n) = co_await socket_.async_read_some(in_.prepare(read_chunk), token);
        if (timed_out_) {
            timed_out_ = false;
            co_await reject_and_close(408);
            break;
        }
        if (ec) break;  // EOF, reset, or closed by the sweep / shutdown
        ++host_.reads;
        pacing_.read(n, read_chunk);
        in_.commit(n);
    }
    // Responses never flushed: their lifecycles end without a flush.
    for (std::size_t i = 0; i < batch_; ++i) exchanges_[i].lc.reset();
    batch_ = 0;
    close_socket();
}

}  // namespace edged::server

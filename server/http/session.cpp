#include "server/http/session.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <tuple>

#include "lifecycle/log.hpp"
#include "server/http/connection_error.hpp"
#include "server/http/header_text.hpp"
#include "server/http/request_target.hpp"
#include "server/http/response_writer.hpp"

namespace edged::server {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr auto token = net::as_tuple(net::use_awaitable);
constexpr std::size_t read_chunk = 16 * 1024;
// How long a closing connection keeps reading (and discarding) so that the client sees our
// error response rather than a reset. Bounded in time and bytes.
constexpr auto linger_time = 2s;
constexpr std::size_t linger_bytes = 256 * 1024;
// The most a first write may carry and still go out at once with Nagle's algorithm on: one
// segment on any path edged is likely to serve (IPv6 minimum MTU 1280 less headers).
constexpr std::size_t one_segment = 1200;
// Empty lines skipped before a request line (RFC 9112 §2.2 asks for at least one).
constexpr unsigned max_blank_lines = 8;

// Where a request header ends, and whether a line in it is folded.
struct header_scan {
    std::size_t length = 0;  // including the blank line; 0: the end is not here yet
    bool folded = false;     // obsolete line folding before the end
};

// One pass over the line ends. Beast itself rejects a bare CR or LF, NUL and other control
// characters, but accepts obsolete line folding (a line that starts with SP or HTAB continues the
// previous one) and joins the lines; a smuggling-safe server must refuse it (RFC 9112 §5.2).
header_scan scan_header(std::string_view data) {
    header_scan r;
    for (std::size_t lf = data.find('\n'); lf != std::string_view::npos && lf + 1 < data.size();
         lf = data.find('\n', lf + 1)) {
        const char next = data[lf + 1];
        if (next == ' ' || next == '\t') {
            r.folded = true;
        } else if (next == '\r' && lf + 2 < data.size() && data[lf + 2] == '\n') {
            r.length = lf + 3;
            break;
        }
    }
    return r;
}

// Beast accepts only HTTP/1.0 and 1.1 and reports any other version as malformed; a request
// line that ends in a well-formed "HTTP/d.d" deserves 505 rather than 400.
bool well_formed_version(const beast::flat_buffer& in) {
    std::string_view data(static_cast<const char*>(in.data().data()), in.size());
    std::string_view line = data.substr(0, data.find("\r\n"));
    if (line.size() < 9) return false;
    std::string_view v = line.substr(line.size() - 8);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return line[line.size() - 9] == ' ' && v.starts_with("HTTP/") && digit(v[5]) && v[6] == '.' &&
           digit(v[7]);
}

// A field name of letters, digits and '-' only. Others (an underscore, a dot) are valid tokens,
// but a backend that maps '-' and '_' to one (CGI, PHP, many frameworks) could read
// "Content_Length" or "Transfer_Encoding" as a framing header the proxy never saw as one.
bool plain_name(std::string_view name) {
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    return true;
}

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
    : host_(host), socket_(std::move(socket)), remote_(remote) {
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
    if (reader_) reader_->detach();
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

// Marks the current request as failed with `status`; the caller answers and closes.
void session::fail(unsigned status) {
    error_status_ = status;
}

bool session::parse_header(std::size_t header_len) {
    const auto& limits = host_.cfg.limits;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    parser_->body_limit(limits.body_bytes);
    parser_->eager(true);

    error_code ec;
    parser_->put(net::buffer(in_.data().data(), header_len), ec);
    if (ec == http::error::need_more && parser_->is_header_done()) ec = {};
    if (ec) {
        if (ec == http::error::header_limit)
            fail(431);
        else if (ec == http::error::body_limit)
            fail(413);
        else if (ec == http::error::bad_version && well_formed_version(in_))
            fail(505);
        else
            fail(400);
        return false;
    }
    in_.consume(header_len);
    header_done_ = true;
    head_seen_ = true;
    head_waiter::unlink();  // (until the next request's head begins)

    auto& req = parser_->get();
    // HTTP/1.x only: 1.0 and 1.1 as themselves, a higher 1.x minor as 1.1 (RFC 9110 §6.2).
    if (req.version() / 10 != 1) {
        fail(505);
        return false;
    }
    index_fields(req);
    // Exactly one Host in HTTP/1.1 (RFC 9112 §3.2); at most one in 1.0.
    if ((req.version() >= 11 && fields_.hosts != 1) || fields_.hosts > 1) {
        fail(400);
        return false;
    }
    // One Content-Length with one value. RFC 9112 §6.3 lets a recipient accept a list of equal
    // values ("5, 5") or repeated equal fields; a proxy that passes them on, or a backend that
    // reads only the first or last, is where request smuggling starts: refused (Beast itself
    // refuses differing values).
    if (fields_.content_lengths > 1 || fields_.content_length_list) {
        fail(400);
        return false;
    }
    // Field names with an underscore or another character outside [A-Za-z0-9-] are dropped,
    // as nginx does (ignore_invalid_headers): no handler, after-action or upstream sees them.
    if (fields_.odd_names > 0) drop_odd_fields(req);
    // Transfer-Encoding: only a single "chunked" is accepted; anything else cannot be framed
    // safely (RFC 9112 §6.1). Beast already refuses it together with Content-Length.
    if (fields_.transfer_encodings > 0 &&
        (fields_.transfer_encodings > 1 ||
         !iequals(trim_ows(fields_.transfer_encoding), "chunked") || req.version() < 11)) {
        fail(400);
        return false;
    }
    return true;
}

void session::index_fields(const http::request<http::string_body>& req) {
    fields_ = {};
    for (const auto& f : req) {
        switch (f.name()) {
            case http::field::host:
                if (fields_.hosts++ == 0) fields_.host = f.value();
                break;
            case http::field::transfer_encoding:
                if (fields_.transfer_encodings++ == 0) fields_.transfer_encoding = f.value();
                break;
            case http::field::expect:
                if (!fields_.expect) fields_.expect = f.value();
                break;
            case http::field::content_length:
                ++fields_.content_lengths;
                if (f.value().find(',') != std::string_view::npos)
                    fields_.content_length_list = true;
                break;
            case http::field::unknown:
                if (!plain_name(f.name_string())) {
                    ++fields_.odd_names;
                } else if (iequals(f.name_string(), "x-request-id")) {
                    if (fields_.request_ids++ == 0) fields_.request_id = f.value();
                } else if (iequals(f.name_string(), "traceparent")) {
                    if (fields_.traceparent.empty()) fields_.traceparent = f.value();
                }
                break;
            default:
                break;
        }
    }
}

void session::drop_odd_fields(http::request<http::string_body>& req) {
    for (auto it = req.begin(); it != req.end();) {
        if (it->name() == http::field::unknown && !plain_name(it->name_string())) {
            lifecycle::log::event("header field dropped")
                .str("name", it->name_string())
                .str("remote", remote_address())
                .debug();
            it = req.erase(it);
        } else {
            ++it;
        }
    }
    fields_.odd_names = 0;
}

session::parse_status session::try_parse() {
    const auto& limits = host_.cfg.limits;
    if (!header_done_) {
        // Skip empty lines before a request line (RFC 9112 §2.2), a few: a client that sends
        // nothing else would otherwise keep the connection open past every timeout.
        while (in_.size() >= 2 && std::memcmp(in_.data().data(), "\r\n", 2) == 0) {
            if (++blank_lines_ > max_blank_lines) {
                fail(400);
                return parse_status::failed;
            }
            in_.consume(2);
        }
        if (in_.size() == 0) return parse_status::need_more;
        std::string_view data(static_cast<const char*>(in_.data().data()),
                              std::min(in_.size(), limits.header_bytes + 4));
        const header_scan scan = scan_header(data);
        const std::size_t header_len = scan.length;
        if (header_len == 0) {
            if (in_.size() >= limits.header_bytes) {
                fail(431);
                return parse_status::failed;
            }
            return parse_status::need_more;
        }
        if (scan.folded) {
            fail(400);
            return parse_status::failed;
        }
        if (header_len > limits.header_bytes) {
            fail(431);
            return parse_status::failed;
        }
        request_started_ = clock::now();
        if (!parse_header(header_len)) return parse_status::failed;

        auto& req = parser_->get();
        bool continue_wanted = false;
        if (fields_.expect) {
            if (!iequals(trim_ows(*fields_.expect), "100-continue")) {
                fail(417);
                return parse_status::failed;
            }
            // Ask for the body only if it is not here yet and the client still waits for it.
            continue_wanted = !parser_->is_done() && in_.size() == 0 && req.version() >= 11;
        }
        if (!parser_->is_done() && wants_streamed_body()) {
            continue_due_ = continue_wanted;  // sent when the handler first asks for the body
            return parse_status::streamed;
        }
        if (continue_wanted) out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    }
    if (parser_->is_done()) return parse_status::complete;
    if (in_.size() == 0) return parse_status::need_more;

    error_code ec;
    std::size_t used = parser_->put(in_.data(), ec);
    in_.consume(used);
    if (ec == http::error::need_more) {
        if (chunk_framing_broken(!parser_->get().body().empty())) {
            fail(400);
            return parse_status::failed;
        }
        return parse_status::need_more;
    }
    if (ec) {
        fail(ec == http::error::body_limit ? 413 : 400);
        return parse_status::failed;
    }
    return parser_->is_done() ? parse_status::complete : parse_status::need_more;
}

bool session::chunk_framing_broken(bool had_data) const {
    if (fields_.transfer_encodings == 0 || in_.size() == 0) return false;
    // What the parser left unconsumed is a chunk line (or the trailer) it waits to see whole.
    // Bounded like a header: a line that never ends would otherwise grow the buffer until the
    // body_read timeout.
    if (in_.size() >= host_.cfg.limits.header_bytes) return true;
    // After chunk data comes CRLF (RFC 9112 §7.1): Beast checks it only once four bytes are
    // here, so a client that sent one or two wrong bytes and waits is refused now, not at the
    // timeout.
    const auto* p = static_cast<const char*>(in_.data().data());
    return had_data && !(p[0] == '\r' && (in_.size() < 2 || p[1] == '\n'));
}

bool session::prepare_target() {
    if (!target_ready_) {
        target_ready_ = true;
        target_ok_ = parse_target(current_request().target(), target_, path_storage_);
        if (target_ok_)
            req_host_ = normalise_host(target_.authority.empty() ? fields_.host : target_.authority,
                                       host_storage_);
    }
    return target_ok_;
}

const lifecycle::request& session::current_request() const {
    return body_parser_ ? streamed_req_ : parser_->get();
}

bool session::wants_streamed_body() {
    // A malformed target is answered 400 once the body is in, as without streaming.
    return prepare_target() &&
           host_.dispatch.streams_body(req_host_, target_.path, parser_->get().method_string());
}

void session::begin_streamed_body() {
    // The handler gets a copy of the head; the parser, with its state and limits (body_bytes),
    // goes on as one that parses the body into the handler's blocks.
    streamed_req_ = lifecycle::request(parser_->get().base());
    body_parser_.emplace(std::move(*parser_));
    parser_.reset();
    index_fields(streamed_req_);
    target_ready_ = false;  // parsed again from the copy
    body_status_ = 0;
    received_any_ = false;
    std::optional<std::uint64_t> length;
    if (auto n = body_parser_->content_length()) length = *n;
    reader_ = std::make_shared<body_reader>(*this, length);
}

net::awaitable<std::pair<std::error_code, std::string_view>> session::pull_body(
    std::string& block) {
    using result = std::pair<std::error_code, std::string_view>;
    auto& p = *body_parser_;
    for (;;) {
        if (p.is_done()) {
            set_phase(phase::handling, {});  // body_read no longer applies
            const result end{};
            co_return end;
        }
        if (in_.size() > 0) {
            auto& b = p.get().body();
            b.data = block.data();
            b.size = block.size();
            error_code ec;
            const std::size_t used = p.put(in_.data(), ec);
            in_.consume(used);
            const std::size_t got = block.size() - b.size;
            if (ec == http::error::need_more && chunk_framing_broken(received_any_))
                ec = http::error::bad_chunk;
            if (ec == http::error::need_buffer || ec == http::error::need_more) ec = {};
            if (ec) {
                body_status_ = ec == http::error::body_limit ? 413 : 400;
                const result failed{ec, {}};
                co_return failed;
            }
            if (got > 0) {
                received_any_ = true;
                const result some{{}, std::string_view(block.data(), got)};
                co_return some;
            }
            if (p.is_done() || (used > 0 && in_.size() > 0)) continue;
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
    if (!body_parser_) return false;
    if (body_parser_->is_done() || in_.size() > 0) return true;
    if (continue_due_ || timed_out_) return false;  // the pull has more to do than read
    error_code ec;
    const std::size_t n = socket_.read_some(in_.prepare(read_chunk), ec);
    if (ec) return false;  // would block; or an error, which the pull's own read reports
    ++host_.reads;
    in_.commit(n);
    return true;
}

void session::settle_streamed_body(lifecycle::response& res) {
    if (!reader_) return;
    reader_->detach();
    exchanges_[batch_].bytes_received = reader_->received();
    reader_.reset();
    // A body that failed answers for itself (the handler's answer, and any upstream stream it
    // holds, is dropped); a body not read to its end leaves no way to find the next request.
    if (body_status_ != 0) res = error_response(body_status_);
    if (!body_parser_->is_done()) {
        res.close = true;
        linger_after_write_ = true;
    }
}

bool session::dispatch() {
    auto& req = current_request();
    const bool target_ok = prepare_target();
    if (batch_ == exchanges_.size()) exchanges_.emplace_back();
    exchange& ex = exchanges_[batch_];
    const inbound in{req,
                     target_ok ? &target_ : nullptr,
                     target_ok ? req_host_ : std::string_view(),
                     fields_.request_ids == 1 ? fields_.request_id : std::string_view(),
                     fields_.traceparent,
                     remote_address(),
                     remote_.address(),
                     request_started_,
                     reader_};
    auto res = host_.dispatch.begin(ex, in);
    if (!res) return true;  // run() awaits respond_async()
    settle_streamed_body(*res);
    append(*res);
    return false;
}

net::awaitable<void> session::respond_async() {
    if (!reader_) set_phase(phase::handling, {});  // a streamed body keeps body_read until its end
    auto res = co_await host_.dispatch.respond_async(exchanges_[batch_], current_request());
    settle_streamed_body(res);
    append(res);
}

void session::append(const lifecycle::response& res) {
    auto& req = current_request();
    exchange& ex = exchanges_[batch_++];
    // (The parser's keep_alive() is what req.keep_alive() would say, without a field lookup.)
    const bool keep_alive = body_parser_ ? body_parser_->keep_alive() : parser_->keep_alive();
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

    parser_.reset();
    body_parser_.reset();
    header_done_ = false;
    target_ready_ = false;
    blank_lines_ = 0;
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
    if (!stream_chunked_) {
        auto [ec, n] = co_await net::async_write(socket_, net::buffer(block), token);
        co_return ec;
    }
    // chunk = chunk-size CRLF chunk-data CRLF; the last chunk is "0" CRLF CRLF (RFC 9112 §7.1).
    char size[24];
    auto [end, tc] = std::to_chars(size, size + sizeof size - 2, block.size(), 16);
    *end++ = '\r';
    *end++ = '\n';
    const std::string_view crlf = "\r\n";
    std::array<net::const_buffer, 3> parts;
    parts[0] = net::buffer(size, static_cast<std::size_t>(end - size));
    parts[1] = net::buffer(block);
    parts[2] = net::buffer(crlf);
    auto [ec, n] = co_await net::async_write(socket_, parts, token);
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
    parser_.reset();
    body_parser_.reset();
    header_done_ = false;
    target_ready_ = false;
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
        parse_status st = try_parse();
        if (st == parse_status::failed) {
            // The framing can no longer be trusted: answer, then close.
            co_await reject_and_close(error_status_);
            break;
        }
        if (st == parse_status::complete || st == parse_status::streamed) {
            if (st == parse_status::streamed) {
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
        if (in_.size() == 0 && !header_done_) {
            if (host_.shutting_down && !request_waiting()) break;
            // A new connection gets header_read to send its first request; a kept-alive one idle.
            set_phase(phase::idle, first ? cfg.timeouts.header_read : cfg.timeouts.idle);
        } else if (phase wanted = header_done_ ? phase::body : phase::header; phase_ != wanted) {
            // The deadline runs from the first byte of the header (or from the end of the
            // header for the body), not from each read.
            set_phase(wanted, header_done_ ? cfg.timeouts.body_read : cfg.timeouts.header_read);
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

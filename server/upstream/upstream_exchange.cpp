// One exchange on one connection: the request written (its streamed body block by block,
// watching for an origin that answers early), then the response head read. upstream_pool.cpp
// decides what an attempt's end means (retry, another address, the address's health).

#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include "lifecycle/context.hpp"
#include "lifecycle/errors.hpp"
#include "lifecycle/request_id.hpp"
#include "server/http/chunk_frame.hpp"
#include "server/http/header_text.hpp"
#include "server/upstream/hop_by_hop.hpp"
#include "server/upstream/traceparent.hpp"
#include "server/upstream/upstream_conn.hpp"

namespace edged::server {
namespace {

constexpr std::uint32_t response_header_limit = 64 * 1024;

// Headers the pool writes itself, or that only concern one hop; never copied from the caller.
// Expect too: edged answers it itself (the session sends 100 Continue when the body is wanted).
bool managed_header(std::string_view name) {
    return is_hop_by_hop(name) || iequals(name, "host") || iequals(name, "expect") ||
           iequals(name, "x-request-id") || iequals(name, "traceparent");
}

// Methods whose empty body is still announced with Content-Length: 0 (as Beast's
// prepare_payload does): a server may otherwise wait for a body or answer 411.
bool announces_empty_body(http::verb method) {
    return method == http::verb::post || method == http::verb::put || method == http::verb::patch ||
           method == http::verb::unknown;
}

// How much of `in` is an interim answer (1xx other than 101) the origin sent while the request
// was still going out: its length once its head is whole, `incomplete` before, 0 when `in` is
// something else (a final answer, or not HTTP: the head read that follows says which).
constexpr std::size_t incomplete = std::string_view::npos;
std::size_t interim_length(std::string_view in) {
    static constexpr std::string_view version = "HTTP/1.";
    if (in.substr(0, version.size()) != version.substr(0, in.size())) return 0;
    if (in.size() < 12) return incomplete;  // "HTTP/1.1 103"
    if (in[8] != ' ' || in[9] != '1' || in.substr(9, 3) == "101") return 0;
    const std::size_t end = in.find("\r\n\r\n");
    if (end != std::string_view::npos) return end + 4;
    return in.size() > response_header_limit ? 0 : incomplete;
}

// Takes what the origin sent while the request still goes out (the socket is non-blocking) and
// sets `answered` when it is the origin's answer (a final head, or anything but an interim one;
// a close or a reset), left in the read buffer for the head read. Interim heads are taken out;
// the start of one stays for the next look.
bool origin_answered(upstream_conn& conn, bool& answered) {
    error_code rec;
    conn.buffer.commit(conn.socket.read_some(conn.buffer.prepare(4096), rec));
    if (rec && rec != net::error::would_block && rec != net::error::try_again)
        return answered = true;
    for (;;) {
        const auto* data = static_cast<const char*>(conn.buffer.data().data());
        const std::size_t len = interim_length(std::string_view(data, conn.buffer.size()));
        if (len == 0) return answered = true;
        if (len == incomplete) return false;
        conn.buffer.consume(len);
    }
}

// The origin has sent something (the kernel's count: a wait begun after the bytes came may not
// see them).
bool origin_sent(upstream_conn& conn) {
    error_code ec;
    return conn.socket.available(ec) > 0 || ec;
}

// Writes `parts` to the origin unless it answers first, as an origin may (a 413 or 401 before
// the body's end) and then stop reading: the write stops, `answered` is set and what the origin
// sent is left in the connection's read buffer for the head read. An interim answer is taken out
// of the buffer and the write goes on. Only a write the origin's window holds up looks (the
// caller looks between writes), and waits for either. The caller arms the connection's deadline.
net::awaitable<error_code> write_or_answer(upstream_conn& conn,
                                           std::array<net::const_buffer, 3> parts, bool& answered) {
    beast::buffers_suffix<std::array<net::const_buffer, 3>> rest(parts);
    for (bool look = false;; look = true) {
        bool arrived = look && origin_sent(conn);
        if (!arrived) {
            if (beast::buffer_bytes(rest) == 0) co_return error_code{};
            error_code wec;  // the socket is non-blocking
            rest.consume(conn.socket.write_some(rest, wec));
            if (wec && wec != net::error::would_block && wec != net::error::try_again)
                co_return wec;
            if (beast::buffer_bytes(rest) == 0) co_return error_code{};
            arrived = origin_sent(conn);
        }
        if (!arrived) {
            // Held up: wait for the origin to read on, or to answer.
            auto [order, ready_ec, read_ec] =
                co_await net::experimental::make_parallel_group(
                    conn.socket.async_wait(tcp::socket::wait_write, net::deferred),
                    conn.socket.async_wait(tcp::socket::wait_read, net::deferred))
                    .async_wait(net::experimental::wait_for_one(), net::use_awaitable);
            if (order[0] == 0) {
                if (ready_ec) co_return ready_ec;  // cancelled (the deadline)
                continue;
            }
            if (read_ec) co_return read_ec;
        }
        if (origin_answered(conn, answered)) co_return error_code{};
    }
}

}  // namespace

void upstream_pool::serialise(const http::request<http::string_body>& req, const send_options& opts,
                              std::string& out) const {
    out += req.method_string();
    out += ' ';
    out += cfg().base_path;
    out += req.target();
    out += " HTTP/1.1\r\nHost: ";
    out += host_header_;
    out += "\r\n";
    for (const auto& f : req) {
        if (managed_header(f.name_string())) continue;
        out += f.name_string();
        out += ": ";
        out += f.value();
        out += "\r\n";
    }
    thread_local lifecycle::id_generator gen = lifecycle::id_generator::seeded();
    if (!opts.request_id.empty()) {
        out += "X-Request-Id: ";
        out += opts.request_id;
        out += "\r\ntraceparent: ";
        append_traceparent(out, opts.trace_id, gen(), gen(), gen());
        out += "\r\n";
    } else if (const auto* ctx = lifecycle::current_context()) {
        out += "X-Request-Id: ";
        out += ctx->id();
        out += "\r\ntraceparent: ";
        append_traceparent(out, ctx->trace_id(), gen(), gen(), gen());
        out += "\r\n";
    }
    if (opts.body) {
        // Streamed: the body follows as it is pulled (send_body), with the length the client
        // announced, else chunked.
        if (auto len = opts.body->length()) {
            out += "Content-Length: ";
            out += std::to_string(*len);
            out += "\r\n\r\n";
        } else {
            out += "Transfer-Encoding: chunked\r\n\r\n";
        }
        return;
    }
    const auto& body = req.body();
    if (!body.empty() || announces_empty_body(req.method())) {
        out += "Content-Length: ";
        out += std::to_string(body.size());
        out += "\r\n";
    }
    out += "\r\n";
    out += body;
}

net::awaitable<error_code> upstream_pool::send_body(const conn_ptr& conn,
                                                    lifecycle::body_source& body, bool& pulled,
                                                    bool& caller_failed, bool& answered) {
    const bool chunked = !body.length();
    const std::uint64_t length = body.length().value_or(0);
    std::uint64_t sent = 0;
    const auto executor = co_await net::this_coro::executor;
    for (;;) {
        if (!chunked && sent >= length) {
            // All of it has gone: the origin may answer now, and that answer is not an early
            // one (watching for it here would take it for one and close a sound connection).
            // The end is taken from the client without a look at the origin.
            const auto end = co_await body.next();
            if (end.first) {
                caller_failed = true;
                co_return end.first;
            }
            co_return error_code{};
        }
        // The wait for the next block is the client's (its body_read timeout); each write to
        // the origin is bounded by read_timeout, the idle-between-bytes limit. The origin may
        // answer meanwhile (a client that sends slowly, or waits): whichever comes first.
        if (origin_sent(*conn)) {
            if (origin_answered(*conn, answered)) co_return error_code{};
            continue;
        }
        std::pair<std::error_code, std::string_view> pulled_block;
        if (body.ready()) {
            // The block is here: no wait, so nothing to race (the look above found the origin
            // silent). A client that keeps up costs no watch of the origin per block.
            pulled_block = co_await body.next();
        } else {
            auto [order, failure, raced_block, wait_ec] =
                co_await net::experimental::make_parallel_group(
                    net::co_spawn(executor, body.next(), net::deferred),
                    conn->socket.async_wait(tcp::socket::wait_read, net::deferred))
                    .async_wait(net::experimental::wait_for_one(), net::use_awaitable);
            if (failure) std::rethrow_exception(failure);
            if (order[0] == 1) {
                if (wait_ec) co_return wait_ec;
                if (origin_answered(*conn, answered)) co_return error_code{};
                // Only an interim head: a block the pull got before its cancel still goes.
                const std::error_code cancelled = error_code(net::error::operation_aborted);
                if (raced_block.first == cancelled) continue;
            }
            pulled_block = raced_block;
        }
        auto [bec, block] = pulled_block;
        if (bec) {
            caller_failed = true;
            co_return bec;
        }
        pulled = true;
        if (block.empty() && !chunked) co_return error_code{};
        const chunk_frame frame(block, chunked);
        const auto parts = frame.buffers();
        arm(conn, clock::now() + cfg().read_timeout);
        const error_code wec = co_await write_or_answer(*conn, parts, answered);
        const bool expired = conn->timed_out;
        disarm(*conn);
        if (expired) co_return net::error::timed_out;
        if (wec || answered) co_return wec;
        if (block.empty()) co_return error_code{};  // the last chunk
        sent += block.size();
    }
}

net::awaitable<upstream_pool::attempt> upstream_pool::try_exchange(
    const std::shared_ptr<address_pool>& home, const http::request<http::string_body>& req,
    const std::string& wire, const send_options& opts, clock::time_point start,
    clock::time_point deadline) {
    attempt out;
    ++home->outstanding;
    acquired got = co_await acquire(home, start, deadline);
    if (!got.conn) {
        --home->outstanding;
        out.ec = got.ec;
        out.failure = got.failure;
        co_return out;
    }
    conn_ptr conn = std::move(got.conn);
    out.reused = got.reused;

    std::shared_ptr<upstream_body> body(new upstream_body(*this, conn, opts.block));
    const auto prepare = [&](http::response_parser<http::buffer_body>& p) {
        p.header_limit(response_header_limit);
        p.skip(req.method() == http::verb::head);  // its answer's head is all there is
        if (opts.max_body)
            p.body_limit(*opts.max_body);
        else
            p.body_limit(boost::none);
    };
    prepare(body->parser_);
    arm(conn, deadline);
    // An origin may answer before the request's end (a 413, a 401): the rest is not sent, and
    // the connection, its framing broken, is not reused.
    bool answered = false, caller_failed = false;
    std::array<net::const_buffer, 3> head_parts{net::buffer(wire), net::const_buffer(),
                                                net::const_buffer()};
    error_code wec = co_await write_or_answer(*conn, head_parts, answered);
    if (!wec && !answered && !conn->timed_out && opts.body) {
        disarm(*conn);
        wec = co_await send_body(conn, *opts.body, out.body_pulled, caller_failed, answered);
        // The origin answers once it has the body: the wait for the head runs from here.
        if (!wec) arm(conn, clock::now() + opts.timeout.value_or(cfg().timeout));
    }
    // An origin that answered and closed may fail the write first (a reset): its answer, if it
    // came before, is still there to read.
    error_code write_error;
    if ((wec == net::error::broken_pipe || wec == net::error::connection_reset) && !caller_failed) {
        write_error = wec;
        wec = {};
        answered = true;
    }
    error_code ec;
    if (wec) {
        ec = wec;
    } else if (conn->timed_out) {
        ec = net::error::timed_out;  // expired between the write and the read
    } else {
        for (;;) {
            auto [rec, rn] =
                co_await http::async_read_header(conn->socket, conn->buffer, body->parser_, token);
            ec = rec;
            // An interim answer (103 Early Hints, a 100 Continue) is not the response: skip it
            // and read the next head on the same connection. (101 is an upgrade: answered as it
            // is, and the connection is not reused.)
            const unsigned status = body->parser_.get().result_int();
            if (ec || status >= 200 || status == 101) break;
            body->conn_ = nullptr;
            body.reset(new upstream_body(*this, conn, opts.block));
            prepare(body->parser_);
        }
    }
    body->early_ = answered;
    disarm(*conn);
    if (ec && conn->timed_out) ec = net::error::timed_out;
    if (ec && write_error) ec = write_error;
    if (ec) {
        out.ec = ec;
        out.nothing_back = !body->parser_.got_some();
        // The client's body failed (cut, over body_bytes, too slow): not the origin's doing.
        if (caller_failed) out.failure = exchange_failure::body;
        body->conn_ = nullptr;
        release(std::move(conn), false);
        co_return out;
    }
    out.body = std::move(body);
    co_return out;
}

}  // namespace edged::server

#pragma once
// One client connection: owns its socket, input buffer, parser and output buffer, and runs the
// HTTP/1.1 read -> handle -> write loop as one coroutine on its I/O thread.
//
// Responsibilities and invariants:
// - At most one write is in flight; responses leave in request order. Pipelined requests already
//   buffered are answered in batches of up to `pipeline_depth` responses per write.
// - Every request runs inside a lifecycle object; the response is written as soon as the handler
//   returns it.
// - Timeouts are enforced by the owning worker's sweep (on_tick), which compares the deadline of
//   the current phase: idle -> silent close; header/body -> 408 and close; write -> close.
// - A framing error (anything after which the byte stream can no longer be trusted) is answered
//   with Connection: close; the socket is then half-closed and drained briefly (lingering close)
//   so the client reads the answer instead of a reset.
// - No exception escapes run(); errors are error_codes.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/intrusive/list_hook.hpp>

#include "lifecycle/request_lifecycle.hpp"
#include "server/net.hpp"
#include "server/http/read_pacing.hpp"
#include "server/http/request_target.hpp"
#include "server/router.hpp"

namespace edged::server {

class worker;

class connection : public std::enable_shared_from_this<connection>,
                   public boost::intrusive::list_base_hook<
                       boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    using clock = std::chrono::steady_clock;
    enum class phase { idle, header, body, handling, writing, lingering, closed };

    connection(worker& owner, tcp::socket socket, tcp::endpoint remote);
    ~connection();

    // Spawns the connection's coroutine on its worker's executor.
    void start();
    // Called by the worker's sweep; acts when the current phase's deadline has passed.
    void on_tick(clock::time_point now);
    // Graceful shutdown: an idle connection closes now, a busy one after its current response.
    void drain();
    // Closes the socket at once (shutdown grace exceeded).
    void close_now();

private:
    enum class parse_status { complete, need_more, failed };

    net::awaitable<void> run();
    parse_status try_parse();
    bool parse_header(std::size_t header_len);
    // Fills fields_ from the parsed header.
    void index_fields(const http::request<http::string_body>& req);
    void fail(unsigned status);
    // Routes the parsed request and, for a synchronous handler, appends its response. Returns
    // the route when its handler is asynchronous (the caller then awaits respond_async).
    const route* respond(clock::time_point received);
    net::awaitable<void> respond_async(const route& r);
    // Registers the route's after-actions and appends the response to the output buffer.
    void finish(lifecycle::response res, bool force_close = false);
    std::string_view remote_address();
    // Writes everything in out_, then ends the batch (complete_flush). False: the write failed.
    net::awaitable<bool> flush();
    // The slow part of flush(): awaits what write_now() left in out_, then complete_flush().
    net::awaitable<bool> write_rest();
    // One non-blocking write of out_: the common case (a small batch into an empty socket
    // buffer) needs no suspension. The error when it finished (or failed), nullopt when bytes
    // are left for write_rest() to await (they stay at the front of out_).
    std::optional<error_code> write_now();
    // The batch is written (or failed with ec): its lifecycles learn it, access lines are logged.
    bool complete_flush(error_code ec);
    net::awaitable<void> linger();
    // async_read_some into in_, started only after the thread's queued work (read_pacing.hpp).
    template <class Token>
    auto async_read_paced(Token&& token);
    template <class Handler>
    void start_paced_read(Handler handler, std::uint64_t reads_before);
    // Answers `status` with Connection: close after whatever is already queued, then lingers.
    net::awaitable<void> reject_and_close(unsigned status);
    void set_phase(phase p, std::chrono::milliseconds timeout);
    void close_socket();

    worker& owner_;
    tcp::socket socket_;
    beast::flat_buffer in_;
    std::optional<http::request_parser<http::string_body>> parser_;
    // The fields the connection itself looks at, found in one pass when the header is parsed
    // (views into parser_'s fields).
    struct header_fields {
        std::string_view host, transfer_encoding, request_id, traceparent;  // the first of each
        std::optional<std::string_view> expect;
        unsigned hosts = 0, transfer_encodings = 0, request_ids = 0;
    };
    header_fields fields_;
    bool header_done_ = false;
    unsigned error_status_ = 0;  // set by try_parse when it fails
    std::string out_;            // serialised responses waiting for the next write
    bool close_after_write_ = false;

    // Per response in `out_`: its lifecycle and what the access log needs after the flush.
    struct pending {
        lifecycle::lifecycle_pool::handle lc;
        unsigned status = 0;
        std::size_t bytes = 0;
        std::string method;
        std::string path;
        std::string_view route;
    };
    std::vector<pending> pending_;
    std::size_t pending_count_ = 0;

    std::string path_storage_, host_storage_;  // scratch for normalisation, reused
    // The request being answered (between respond() and finish()).
    lifecycle::lifecycle_pool::handle current_lc_;
    const route* current_route_ = nullptr;
    request_target target_;
    std::string_view host_;
    std::string remote_text_;
    clock::time_point request_started_{};
    phase phase_ = phase::idle;
    clock::time_point deadline_ = clock::time_point::max();
    bool timed_out_ = false;
    bool wrote_ = false;    // a write has been made on this connection
    bool nodelay_ = false;  // TCP_NODELAY is set (see write_now())
    bool draining_ = false;
    read_pacing pacing_;  // read at once, or after one more poll
    tcp::endpoint remote_;
};

}  // namespace edged::server

#pragma once
// One client connection's HTTP/1.1 session: owns its socket, input buffer, parser and output
// buffer, and runs the read -> dispatch -> write loop as one coroutine on its I/O thread.
//
// Responsibilities and invariants:
// - It speaks HTTP only: what the client sends is read by its request_reader
//   (request_reader.hpp: the front door and the framing, without a socket); the session owns the
//   socket and feeds it. A complete request goes to the thread's dispatcher (dispatcher.hpp),
//   which routes it and drives its lifecycle; the session serialises the response it gets back
//   and tells the dispatcher when the batch has left. A request whose route streams its body
//   (a proxy) goes at the end of its head instead: the handler pulls the body through
//   body_reader, each block read from the socket as it asks (back-pressure), under body_read;
//   a body that fails (over body_bytes, bad framing, too slow) answers 413/400/408 in place of
//   the handler's response, and a body left unread closes the connection after the response.
// - At most one write is in flight; responses leave in request order. Pipelined requests already
//   buffered are answered in batches of up to `pipeline_depth` responses per write.
// - Timeouts are enforced by the owning thread's sweep (on_tick), which compares the deadline of
//   the current phase: idle -> silent close; header/body -> 408 and close; write -> close.
// - A framing error (anything after which the byte stream can no longer be trusted) is answered
//   with Connection: close; the socket is then half-closed and drained briefly (lingering close)
//   so the client reads the answer instead of a reset.
// - It holds its thread's shutdown gate from construction to destruction.
// - No exception escapes run(); errors are error_codes.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/intrusive/list_hook.hpp>

#include "server/http/dispatcher.hpp"
#include "server/http/read_pacing.hpp"
#include "server/http/request_reader.hpp"
#include "server/http/session_host.hpp"
#include "server/net.hpp"

namespace edged::server {

class session final : public std::enable_shared_from_this<session>,
                      public boost::intrusive::list_base_hook<
                          boost::intrusive::link_mode<boost::intrusive::auto_unlink>>,
                      private head_waiter {
public:
    using clock = std::chrono::steady_clock;
    enum class phase { idle, header, body, handling, streaming, writing, lingering, closed };

    session(session_host& host, tcp::socket socket, tcp::endpoint remote);
    ~session();

    // Spawns the session's coroutine on its thread's executor.
    void start();
    // Called by the thread's sweep; acts when the current phase's deadline has passed.
    void on_tick(clock::time_point now);
    // The process is shutting down (its host's shutting_down is set): an idle session closes
    // now, a busy one after its current response (sent with Connection: close).
    void shut_down();
    // Closes the socket at once (the shutdown grace ran out) and cancels a running handler.
    void close_now();
    // Evicts the session that has waited longest for a request head on this thread (see
    // head_waiter); false when none is waiting.
    static bool evict_one(session_host& host);

private:
    void give_way() override;  // head_waiter

    using verdict = request_reader::verdict;
    class body_reader;  // the streamed request body, as the handler pulls it (session.cpp)

    net::awaitable<void> run();
    // reader_.parse() on what in_ holds, and what the session does about it: a head waits no
    // more for a slot (head_waiter), a 100 Continue owed is queued (or kept for a streamed
    // body's first read).
    verdict read_request();
    // Hands the parsed request to the dispatcher; the response of a synchronous handler is
    // appended at once. True when the handler is asynchronous (the caller awaits respond_async).
    bool dispatch();
    // At the end of a streamed request's head: the reader parses the body into the handler's
    // blocks, and the body becomes a source for the handler (inbound::body).
    void begin_streamed_body();
    // The next block of the streamed request body, parsed into `block`; an empty block is the
    // end. Reads the socket only when the buffered bytes hold no body.
    net::awaitable<std::pair<std::error_code, std::string_view>> pull_body(std::string& block);
    // Whether pull_body() should return without waiting for the client: the body has ended,
    // bytes are buffered, or a read that does not wait (the socket is non-blocking) finds some.
    bool body_ready();
    // The handler has answered a streamed request: the body source lets go of the session, a
    // failed body replaces the answer (413, 400, 408) and an unread one closes the connection.
    void settle_streamed_body(lifecycle::response& res);
    net::awaitable<void> respond_async();
    // Appends the current exchange's response to the output buffer and ends the request.
    void append(const lifecycle::response& res);
    std::string_view remote_address();
    // Writes everything in out_, then ends the batch (complete_flush). False: the write failed.
    net::awaitable<bool> flush();
    // The slow part of flush(): awaits what write_now() left in out_, then complete_flush().
    net::awaitable<bool> write_rest();
    // One non-blocking write of out_: the common case (a small batch into an empty socket
    // buffer) needs no suspension. The error when it finished (or failed), nullopt when bytes
    // are left for write_rest() to await (they stay at the front of out_).
    std::optional<error_code> write_now();
    // Awaits the rest of out_ under the write timeout (what write_now() could not send).
    net::awaitable<error_code> write_out();
    // The first `count` exchanges of the batch are written (or failed with ec): the dispatcher
    // learns it; the rest of the batch moves up.
    bool complete_flush(error_code ec, std::size_t count);
    bool complete_flush(error_code ec) { return complete_flush(ec, batch_); }
    // The current response's body is a stream (stream_): writes the head (and the responses
    // before it in the batch), then the body block by block, each block written before the next
    // is pulled. Its flush is the end of the body. False: the connection is done.
    net::awaitable<bool> stream_body();
    // Writes one block of a streamed body (chunked when stream_chunked_); "" ends a chunked body.
    net::awaitable<error_code> write_block(std::string_view block);
    // While a stream waits on its source, a client that closes its end stops the source.
    void watch_for_close();
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
    // Bytes of a next request are here: buffered in in_, or already in the socket's receive
    // buffer. A shutdown serves such a request rather than closing the connection under it.
    bool request_waiting();

    session_host& host_;
    tcp::socket socket_;
    beast::flat_buffer in_;
    request_reader reader_;  // parses what in_ holds
    // A streamed request body: the source the handler pulls, and the status a failed body
    // answers.
    std::shared_ptr<body_reader> body_source_;
    unsigned body_status_ = 0;
    bool continue_due_ = false;        // 100 Continue is owed before the first body read
    bool linger_after_write_ = false;  // the client may still be sending a body we left unread
    std::string out_;                  // serialised responses waiting for the next write
    bool close_after_write_ = false;
    // The current response's streamed body, from its append() to the end of stream_body().
    std::shared_ptr<lifecycle::body_source> stream_;
    bool stream_chunked_ = false;
    bool client_gone_ = false;                         // seen by watch_for_close() during a stream
    std::shared_ptr<net::cancellation_signal> watch_;  // ends the watch (held by its handler)

    // One per response in `out_`, in order; [0, batch_) are in use, the rest kept for reuse.
    std::vector<exchange> exchanges_;
    std::size_t batch_ = 0;

    std::string remote_text_;
    clock::time_point handed_{};  // when the current batch's last write started
    phase phase_ = phase::idle;
    clock::time_point deadline_ = clock::time_point::max();
    bool timed_out_ = false;
    error_code close_cause_;  // why the session closed the socket itself (connection_error)
    bool wrote_ = false;      // a write has been made on this connection
    bool head_seen_ = false;  // a request head has been read on this connection
    bool nodelay_ = false;    // TCP_NODELAY is set (see write_now())
    read_pacing pacing_;      // read at once, or after one more poll
    tcp::endpoint remote_;
};

}  // namespace edged::server

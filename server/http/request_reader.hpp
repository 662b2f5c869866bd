#pragma once
// The request-reading rules of one HTTP/1.1 connection, without its socket: given the bytes the
// connection has buffered, it finds where a request's head ends, parses and checks it (the front
// door), then parses the body, whole, or block by block as the handler pulls it when the route
// streams it. Bytes in, verdict out: the unit tests drive it with strings; the session owns the
// socket, the timeouts and every write, and reads more when the reader says need_more.
//
// Responsibilities and invariants:
// - What makes the byte stream untrustworthy fails the request with the status to answer, and
//   the connection must close after that answer: a head over header_bytes (431), obsolete line
//   folding, no Host in 1.1 or more than one, a Content-Length list or repeated field, a
//   Transfer-Encoding other than one "chunked" (or any in 1.0), broken chunk framing (400), an
//   Expect other than 100-continue (417), a version other than 1.x (505), a body over body_bytes
//   (413), more than a few blank lines before a request line (400). Field names outside
//   [A-Za-z0-9-] are dropped (logged at debug), as nginx's ignore_invalid_headers does.
// - It consumes from the buffer exactly what it has parsed: a pipelined next request stays there.
// - A 100 Continue is owed only when the client waits for it: Expect: 100-continue, HTTP/1.1,
//   no body byte here yet. continue_owed() says so once; the session sends it before it reads.
// - One request at a time: next_request() (once its response is queued, or the connection is
//   to close) starts the next. Limits are read from the config at each request's head.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "lifecycle/message.hpp"
#include "server/http/dispatcher.hpp"
#include "server/http/request_target.hpp"
#include "server/net.hpp"

namespace edged::server {

class request_reader {
public:
    using clock = std::chrono::steady_clock;
    // streamed: the head of a request whose route takes its body as it arrives (the body is
    // then pulled with pull(), after begin_streamed_body()).
    enum class verdict { complete, need_more, failed, streamed };

    // What one pull of a streamed body found in the buffer.
    struct pulled {
        std::size_t bytes = 0;  // body bytes parsed into the block
        bool ended = false;     // the body is complete (bytes is 0)
        unsigned status = 0;    // the body failed: the status to answer (413, 400)
        error_code ec;          // and why
        // Nothing of the body is buffered: the caller reads, then pulls again.
        bool need_more() const { return bytes == 0 && !ended && status == 0; }
    };

    request_reader(const config::limits_config& limits, const body_router& routes);

    // Parses the current request out of `in`: its head, then its body unless the route streams
    // it. `peer` names the client in a log line (a dropped field).
    verdict parse(beast::flat_buffer& in, std::string_view peer);
    // After `failed`: the status to answer.
    unsigned status() const { return status_; }
    // The current request's head has been parsed (its body may still be coming).
    bool header_done() const { return header_done_; }
    // A 100 Continue is owed now (true once per request).
    bool continue_owed() {
        const bool owed = continue_owed_;
        continue_owed_ = false;
        return owed;
    }

    // The current request, once its head is done: for a streamed body, a copy of the head.
    const lifecycle::request& request() const {
        return body_parser_ ? streamed_req_ : parser_->get();
    }
    clock::time_point head_complete_at() const { return head_at_; }
    bool keep_alive() const {
        return body_parser_ ? body_parser_->keep_alive() : parser_->keep_alive();
    }
    // The target, parsed and normalised (once per request); false: malformed (answered 400).
    bool target_ok();
    const request_target& target() const { return target_; }
    std::string_view host() const { return host_; }  // normalised: lower case, no port
    // The one X-Request-Id ("" when none or several) and the first traceparent ("" when none).
    std::string_view request_id() const {
        return fields_.request_ids == 1 ? fields_.request_id : std::string_view();
    }
    std::string_view traceparent() const { return fields_.traceparent; }

    // After `streamed`: the parser goes on as one that parses the body into the caller's
    // blocks. Returns the body's length when it has one (else it is chunked).
    std::optional<std::uint64_t> begin_streamed_body();
    // Parses the next block of a streamed body out of `in` into `block`.
    pulled pull(beast::flat_buffer& in, std::string& block);
    // The streamed body has ended (or no body is streaming).
    bool body_done() const { return !body_parser_ || body_parser_->is_done(); }

    // The current request is over: the next bytes start a new one.
    void next_request();

private:
    // The fields the reader looks at, found in one pass over the head (views into its fields).
    struct header_fields {
        std::string_view host, transfer_encoding, request_id, traceparent;  // the first of each
        std::optional<std::string_view> expect;
        unsigned hosts = 0, transfer_encodings = 0, request_ids = 0;
        unsigned content_lengths = 0;
        bool content_length_list = false;  // a Content-Length value with a comma
        unsigned odd_names = 0;            // names of other than letters, digits and '-' (dropped)
    };

    verdict fail(unsigned status) {
        status_ = status;
        return verdict::failed;
    }
    bool parse_header(beast::flat_buffer& in, std::size_t header_len, std::string_view peer);
    void index_fields(const lifecycle::request& req);
    void drop_odd_fields(lifecycle::request& req, std::string_view peer);
    // A chunked body's framing is broken in what the parser left unconsumed after need_more
    // (`had_data`: chunk data came before it): a chunk line past header_bytes, or chunk data not
    // followed by CRLF.
    bool chunk_framing_broken(const beast::flat_buffer& in, bool had_data) const;

    const config::limits_config& limits_;
    const body_router& routes_;
    std::optional<http::request_parser<http::string_body>> parser_;
    // A streamed body: its parser (holding the head parser_ had) and a copy of the head.
    std::optional<http::request_parser<http::buffer_body>> body_parser_;
    lifecycle::request streamed_req_;
    header_fields fields_;
    bool header_done_ = false;
    bool continue_owed_ = false;
    bool received_any_ = false;  // a block of the streamed body has been parsed
    unsigned blank_lines_ = 0;   // empty lines skipped before this request line
    unsigned status_ = 0;
    clock::time_point head_at_{};
    bool target_ready_ = false;  // target_ok() ran for this request
    bool target_ok_ = false;
    request_target target_;
    std::string_view host_;
    std::string path_storage_, host_storage_;  // scratch for normalisation, reused
};

}  // namespace edged::server

#pragma once
// The HTTP messages a handler sees and returns. These are the vocabulary of the handler API;
// they say nothing about sockets or connections.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace edged::lifecycle {

using request = boost::beast::http::request<boost::beast::http::string_body>;

using header_list = std::vector<std::pair<std::string, std::string>>;

// A response body that arrives over time (a proxied download, an event stream). The server
// pulls one block, writes it to the client, and only then asks for the next: a slow client slows
// the source (back-pressure) and memory stays one block per connection. The response's flush —
// the moment background tasks may start — is the end of the streamed body.
class body_source {
public:
    virtual ~body_source() = default;
    // The body's length when the source knows it (an origin's Content-Length); else the server
    // sends it chunked (HTTP/1.1) or ends it by closing the connection (HTTP/1.0).
    virtual std::optional<std::uint64_t> length() const = 0;
    // The next block, valid until the next call; an empty block without an error is the end.
    // An error ends the body early: the client's connection is closed, so it sees the body cut.
    virtual boost::asio::awaitable<std::pair<std::error_code, std::string_view>> next() = 0;
    // True when the body has ended: the next call returns the end without waiting (a source
    // that cannot tell says false; its end then comes as an empty block).
    virtual bool at_end() const { return false; }
    // True when next() should return without waiting for its peer: the end, or bytes already
    // here (a source may read what has arrived, without waiting, to tell; bytes that are only
    // part of a chunk's framing may still make it wait). False when it cannot tell.
    virtual bool ready() { return false; }
    // Stops at once (the client went away, the shutdown grace ran out): a next() in progress
    // ends with an error and whatever the source holds (an upstream connection) is closed.
    virtual void cancel() noexcept = 0;
};

// A response as a handler produces it. The server adds Date, Server, Content-Length,
// Connection and X-Request-Id itself; handlers must not set those.
//
// `fixed_headers` and `body_ref` let a handler answer without copying: they point at memory the
// handler owns, which outlives the write because the route table (and so the handler) is held
// by the connection until its responses are flushed.
struct response {
    unsigned status = 200;
    std::string_view fixed_headers;  // preformatted "Name: value\r\n" lines, validated
    header_list headers;             // further headers; values with CR, LF or NUL are dropped
    std::string body;
    std::string_view body_ref;  // used instead of `body` when `body` is empty
    bool close = false;         // ask the server to close the connection after this response
    // The body, streamed: used instead of `body` and `body_ref` when set. Not seen by response
    // hooks (after-actions), which run before the first block is pulled.
    std::shared_ptr<body_source> stream;

    std::string_view payload() const { return body.empty() ? body_ref : std::string_view(body); }
};

// Statuses whose responses never have a body (RFC 9110 §6.4.1).
inline bool bodyless_status(unsigned status) {
    return status < 200 || status == 204 || status == 304;
}

// A response with a short plain-text body. `body` must outlive the write (a literal).
inline response text_response(unsigned status, std::string_view body) {
    response res;
    res.status = status;
    res.fixed_headers = "Content-Type: text/plain; charset=utf-8\r\n";
    res.body_ref = body;
    return res;
}

// What a handler that threw (or could not run) answers.
inline response internal_error() {
    return text_response(500, "internal server error\n");
}

}  // namespace edged::lifecycle

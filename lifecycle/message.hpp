#pragma once
// The HTTP messages a handler sees and returns. These are the vocabulary of the handler API;
// they say nothing about sockets or connections.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace edged::lifecycle {

using request = boost::beast::http::request<boost::beast::http::string_body>;

using header_list = std::vector<std::pair<std::string, std::string>>;

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

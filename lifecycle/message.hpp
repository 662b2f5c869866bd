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

}  // namespace edged::lifecycle

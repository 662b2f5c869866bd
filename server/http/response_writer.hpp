#pragma once
// Serialises responses straight into a connection's output buffer.
//
// Why not beast::http::serializer: responses here are small and many are batched into one write
// (pipelining); formatting the few header lines by hand into one reused buffer avoids a fields
// container and its allocations per response. Header names and values reaching this code are
// validated (config-time for static headers; the `headers` list is checked here).

#include <cstddef>
#include <string>
#include <string_view>

#include "lifecycle/message.hpp"

namespace edged::server {

struct response_meta {
    bool head = false;            // HEAD request: no body, same Content-Length
    bool close = false;           // send Connection: close
    bool keep_alive_10 = false;   // HTTP/1.0 client that asked for keep-alive
    std::string_view request_id;  // echoed as X-Request-Id when not empty
    std::string_view date;        // the Date header's value
    // A streamed body (res.stream) of unknown length goes chunked; without it (an HTTP/1.0
    // client) the body ends when the connection closes.
    bool chunked = false;
};

// Appends the whole response; returns the number of body bytes appended. For a streamed body
// (res.stream) only the head is appended: Content-Length when the source knows its length,
// else Transfer-Encoding: chunked when meta.chunked.
std::size_t append_response(std::string& out, const lifecycle::response& res,
                            const response_meta& meta);

// The short text body edged answers a protocol or routing error with ("not found\n", ...).
std::string_view error_body(unsigned status);
// A response with that body (lifecycle::text_response).
lifecycle::response error_response(unsigned status);

}  // namespace edged::server

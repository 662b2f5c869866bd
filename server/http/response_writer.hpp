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
};

// Appends the whole response; returns the number of body bytes appended.
std::size_t append_response(std::string& out, const lifecycle::response& res,
                            const response_meta& meta);

// A complete response with a short text body, for protocol errors and admin answers.
lifecycle::response text_response(unsigned status, std::string_view body);

// True when `value` may go on a header line (no CR, LF or NUL).
bool is_safe_header_value(std::string_view value);
// True when `name` is a non-empty RFC 9110 token.
bool is_token(std::string_view name);

}  // namespace edged::server

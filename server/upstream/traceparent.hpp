#pragma once
// The W3C traceparent header (https://www.w3.org/TR/trace-context/) a subrequest carries.

#include <cstdint>
#include <string>
#include <string_view>

namespace edged::server {

// W3C traceparent for a subrequest: the trace id of `incoming` when it is valid, else a fresh
// one; always a fresh span id.
std::string make_traceparent(std::string_view incoming, std::uint64_t r1, std::uint64_t r2,
                             std::uint64_t r3);
void append_traceparent(std::string& out, std::string_view incoming, std::uint64_t r1,
                        std::uint64_t r2, std::uint64_t r3);

}  // namespace edged::server

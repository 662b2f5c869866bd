#pragma once
// Content-coding negotiation from Accept-Encoding (RFC 9110 §12.5.3).
//
// Each offered coding gets the q-value the client gave it, else the one of `*`, else 0 (not
// acceptable). The coding with the highest q above 0 wins, the server's order breaking ties; it
// is used unless the field names `identity` with a higher q (a client that prefers identity gets
// it; an identity the field does not name ranks below every coding it accepts). No
// Accept-Encoding field at all: identity. `x-gzip` counts as `gzip`. A malformed element is
// ignored, the rest still counts. When nothing is acceptable, not even identity, edged answers in
// identity anyway (as nginx does) rather than 406.

#include <string>
#include <string_view>
#include <vector>

namespace edged::server {

// `field`: the Accept-Encoding values joined with ", " (or the one value); `present`: whether the
// request had the field at all. Returns the chosen coding from `offered`, or "" for identity.
std::string_view negotiate_encoding(std::string_view field, bool present,
                                    const std::vector<std::string>& offered);

}  // namespace edged::server

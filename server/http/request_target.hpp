#pragma once
// Splits and normalises a request-target (RFC 9112 §3.2) before routing.
//
// Dot segments are resolved (also when percent-encoded, %2e), so "/api/../admin" routes as
// "/admin" and a prefix match cannot be escaped; a path that climbs above the root is rejected.

#include <string>
#include <string_view>

namespace edged::server {

struct request_target {
    std::string_view path;       // normalised; points into the target or into `storage`
    std::string_view query;      // after '?', without it
    std::string_view authority;  // from the absolute form, else empty
};

// Returns false for a target that is not origin-, absolute- or asterisk-form, or whose path
// climbs above the root. `storage` is scratch space reused across requests.
bool parse_target(std::string_view target, request_target& out, std::string& storage);

// "Example.COM:8080" -> "example.com" into `storage`; IPv6 literals keep their brackets.
std::string_view normalise_host(std::string_view host, std::string& storage);

}  // namespace edged::server

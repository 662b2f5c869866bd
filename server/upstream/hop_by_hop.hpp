#pragma once
// Which header fields belong to one hop only (RFC 9110 §7.6.1): the upstream client never
// writes them upstream and the proxy never copies them back to the client.

#include <string_view>

namespace edged::server {

// Hop-by-hop fields (RFC 9110 §7.6.1) and Content-Length: never copied from one hop to the next.
bool is_hop_by_hop(std::string_view name);

}  // namespace edged::server

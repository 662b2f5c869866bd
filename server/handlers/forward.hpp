#pragma once
// The request a proxy (or an async job) sends upstream for an incoming one: method, path and
// query, end-to-end header fields (the upstream client drops hop-by-hop ones and writes Host,
// Content-Length, X-Request-Id and traceparent itself), X-Forwarded-For/-Proto/-Host, body.

#include "lifecycle/context.hpp"
#include "lifecycle/message.hpp"

namespace edged::server {

// Response fields edged writes itself (Server, Date, X-Request-Id): an upstream's are dropped.
bool server_owned_field(std::string_view name);

lifecycle::request forwarded_request(const lifecycle::request& in, const lifecycle::context& ctx);

}  // namespace edged::server

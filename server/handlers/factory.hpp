#pragma once
// The built-in handler a route's `handler:` section configures.

#include <memory>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"

namespace edged::server {

// Throws std::runtime_error naming the route for a handler kind this build does not serve.
std::unique_ptr<lifecycle::handler> make_handler(const config::route_config& rc);

}  // namespace edged::server

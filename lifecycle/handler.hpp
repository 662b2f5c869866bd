#pragma once
// The handler API: a handler receives the request and its context and returns the response.
// Built-in handlers (server/) implement exactly this interface; nothing of theirs is privileged.

#include "lifecycle/context.hpp"
#include "lifecycle/message.hpp"

namespace edged::lifecycle {

class handler {
public:
    virtual ~handler() = default;
    // Runs on the connection's I/O thread inside the request's context scope. Must not block.
    // Exceptions are caught by the caller and answered with 500.
    virtual response handle(const request& req, context& ctx) = 0;
};

}  // namespace edged::lifecycle

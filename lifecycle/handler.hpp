#pragma once
// The handler API: a handler receives the request and its context and returns the response.
// Built-in handlers (server/) implement exactly this interface; nothing of theirs is privileged.
//
// Two shapes: a synchronous handler answers at once (static, redirect: no coroutine, no
// allocation); an asynchronous one (is_async() == true) is a coroutine that may await
// subrequests (ctx.fetch), runs under timeouts.handler and is cancelled when that runs out.

#include <chrono>

#include <boost/asio/awaitable.hpp>

#include "lifecycle/context.hpp"
#include "lifecycle/message.hpp"

namespace edged::lifecycle {

class handler {
public:
    virtual ~handler() = default;
    // Runs on the connection's I/O thread inside the request's context scope. Must not block.
    // Exceptions are caught by the caller and answered with 500.
    virtual response handle(const request& req, context& ctx) = 0;

    virtual bool is_async() const { return false; }
    // True for a handler that takes the request body as it arrives (ctx.body_stream()) instead
    // of whole in req.body(): the server dispatches its requests once their head is read.
    // Only asynchronous handlers may say so.
    virtual bool streams_request_body() const { return false; }
    // For asynchronous handlers; the request and context outlive the coroutine.
    virtual boost::asio::awaitable<response> handle_async(const request& req, context& ctx) {
        co_return handle(req, ctx);
    }
};

// Work a route attaches to each of its responses (the after-actions): called once the response
// exists, in the request's scope, still before the flush, to register wait_until tasks from what
// the request and the response say. Tasks must copy what they need: the request is gone after
// the flush.
class response_hook {
public:
    virtual ~response_hook() = default;
    virtual void on_response(context& ctx, const request& req, const response& res,
                             std::chrono::microseconds handler_time) const = 0;
};

// A handler that is only asynchronous.
class async_handler : public handler {
public:
    bool is_async() const final { return true; }
    response handle(const request&, context&) final;  // not used: answers 500
};

}  // namespace edged::lifecycle

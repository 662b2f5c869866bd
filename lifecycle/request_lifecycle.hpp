#pragma once
// The per-request lifecycle object: receive -> handle -> flush -> (drain) -> close.
//
// Responsibilities: own the request's context; run the handler inside the context's scope,
// turning a throwing handler into a logged 500; record when each phase ended; go back to its
// pool when closed. The server drives the phases and never reaches into the lifecycle's state.
//
// Invariants: phases only move forward; a lifecycle is closed exactly once, and closing returns
// it to the pool it came from (on the same thread, so pools take no locks).
//
// Background work (wait_until, subrequests, budgets) hangs off the drain phase; until a request
// registers any, flushed() closes at once.

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "lifecycle/context.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/message.hpp"

namespace edged::lifecycle {

class lifecycle_pool;

class request_lifecycle {
  public:
    using clock = std::chrono::steady_clock;
    enum class phase { idle, receiving, handling, responding, closed };

    context& ctx() { return ctx_; }
    phase state() const { return phase_; }

    // The request's header has been received at `at`.
    void begin(clock::time_point at);
    // Runs the handler in this request's context scope. Never throws: an exception becomes a
    // 500 response and an error log line with the request id.
    response handle(handler& h, const request& req);
    // The response (all of it) has been handed to the kernel at `at`. Closes the lifecycle.
    void flushed(clock::time_point at);
    // Ends the lifecycle without a flush (the connection died first).
    void abandon();

    std::chrono::microseconds handler_time() const;
    std::chrono::microseconds time_to_flush() const;  // from begin() to flushed()

  private:
    friend class lifecycle_pool;
    void close();

    context ctx_;
    phase phase_ = phase::idle;
    clock::time_point received_at_{}, handled_at_{}, handler_started_{}, flushed_at_{};
    lifecycle_pool* pool_ = nullptr;
};

// A per-thread free list of lifecycle objects: a request reuses the context (and its locals'
// capacity) of an earlier one instead of allocating.
class lifecycle_pool {
  public:
    struct deleter {
        void operator()(request_lifecycle* lc) const;
    };
    using handle = std::unique_ptr<request_lifecycle, deleter>;

    lifecycle_pool() = default;
    ~lifecycle_pool();
    lifecycle_pool(const lifecycle_pool&) = delete;
    lifecycle_pool& operator=(const lifecycle_pool&) = delete;

    handle acquire();
    std::size_t idle() const { return free_.size(); }
    std::size_t live() const { return live_; }

  private:
    friend class request_lifecycle;
    void release(request_lifecycle* lc);

    std::vector<request_lifecycle*> free_;
    std::size_t live_ = 0;
    static constexpr std::size_t max_idle_ = 1024;
};

}  // namespace edged::lifecycle

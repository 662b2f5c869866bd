#pragma once
// The request-scoped context a handler receives (the handler API's half of the lifecycle).
//
// Responsibilities: carry the request id, the route name and the parsed request target; hold
// request-scoped typed locals; tell logging which request the calling thread serves.
//
// Invariant: while code runs on behalf of a request, a `context_scope` for that request is on the
// calling thread's stack, so current_context() answers "which request am I serving?" without the
// id being passed around (the AsyncLocalStorage idea). Scopes nest and restore the previous one.

#include <any>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "lifecycle/fetch.hpp"
#include "lifecycle/request_id.hpp"

namespace edged::lifecycle {

// What ctx.offload(fn) gives back: fn's result.
template <class F>
using offload_result_t = typename std::conditional_t<std::is_invocable_v<F, std::stop_token>,
                                                     std::invoke_result<F, std::stop_token>,
                                                     std::invoke_result<F>>::type;

// A key for a typed request-scoped local. Identity is the key object's address, so declare keys
// as `static const local_key<T> my_key;` at namespace scope.
template <class T>
class local_key {};

class request_lifecycle;

class context {
public:
    // Registers background work that runs after the response is flushed, under the request's
    // wall and CPU budgets. Fails (and counts the task as rejected:overflow) past
    // lifecycle.max_wait_until for this request or lifecycle.max_background_tasks for the
    // process. Tasks may register further tasks within the same bound. The task must not hold
    // references into the request: copy what it needs (the request is gone after the flush).
    std::error_code wait_until(std::string name, boost::asio::awaitable<void> task);
    // A subrequest to a named upstream, counted against lifecycle.max_subrequests (past it: an
    // errc::subrequest_overflow result, counted). X-Request-Id and traceparent are added.
    boost::asio::awaitable<fetch_result> fetch(std::string_view upstream, request req,
                                               std::size_t max_body = 1024 * 1024);
    // The same subrequest, its response body streamed (stream_result.body): counted the same
    // way. The body source must not outlive the request's response.
    boost::asio::awaitable<stream_result> open(std::string_view upstream, const request& req,
                                               stream_options opts = {});
    // Runs `fn` on the worker pool and resumes the caller on its own I/O thread with what `fn`
    // returned, or rethrows what it threw. `fn` takes a std::stop_token (or nothing) and should
    // return soon after the token fires. The awaiting side resumes at once, throwing
    // std::system_error, when it is cancelled (its request's budget, the handler timeout,
    // shutdown: errc::offload_cancelled), when the queue is full (errc::offload_rejected), when
    // `fn` did not start within worker_pool.queue_timeout (it then never runs) or ran past
    // worker_pool.run_timeout (its token fires). `fn` and what it captured live until it
    // returns, so capture by value. The thread CPU time `fn` used is charged to the request's
    // cpu_budget. Inside `fn`, current_context() is a copy of this context (id, trace id,
    // route, peer): log lines carry the request id; wait_until, fetch and offload are not
    // available there (they fail with errc::lifecycle_closed).
    template <class F>
    boost::asio::awaitable<offload_result_t<F>> offload(F fn);

    // The address of the connection's peer (the load balancer, behind one); valid for the
    // whole request, tasks included.
    std::string_view peer() const { return peer_; }
    // The client the request stands for: the peer, or, when the peer is one of
    // server.trusted_proxies, the address its X-Forwarded-For names (server/http/trusted_proxies).
    std::string_view client() const { return client_.empty() ? peer_ : client_; }
    // The peer is a trusted proxy: its X-Forwarded-* fields are believed (and passed on).
    bool peer_trusted() const { return peer_trusted_; }
    // The request body as it arrives, for a handler that streams it
    // (handler::streams_request_body); req.body() is then empty. Null when the body came whole
    // (or there is none). Pull it while the handler runs: once the response is returned the
    // source only answers with an error.
    const std::shared_ptr<body_source>& body_stream() const { return body_stream_; }
    // The upstream of the request's last subrequest, and the time its subrequests took until
    // now (for the access log's upstream and upstream_us).
    std::string_view last_upstream() const { return last_upstream_; }
    std::chrono::nanoseconds upstream_time() const { return upstream_time_; }
    // What is left of the post-response budgets (the full budgets before the flush).
    std::chrono::nanoseconds wall_left() const;
    std::chrono::nanoseconds cpu_left() const;

    std::string_view id() const { return id_.view(); }
    std::string_view route() const { return route_; }
    std::string_view method() const { return method_; }
    // The target's views below are valid while the handler runs, not in background tasks.
    std::string_view path() const { return path_; }    // normalised, without the query
    std::string_view query() const { return query_; }  // without '?', may be empty
    std::string_view host() const { return host_; }    // lower case, without port
    // The W3C trace id (32 hex digits) subrequests carry: from the request's traceparent when it
    // had a valid one, else generated on first use and kept for the rest of the request.
    std::string_view trace_id() const;
    // For handlers that answer relative to their route's prefix (redirect keep_path).
    std::string_view matched_prefix() const { return prefix_; }

    template <class T>
    void set_local(const local_key<T>& key, T value) {
        for (auto& [k, v] : locals_) {
            if (k == &key) {
                v = std::move(value);
                return;
            }
        }
        locals_.emplace_back(&key, std::move(value));
    }
    template <class T>
    T* local(const local_key<T>& key) {
        for (auto& [k, v] : locals_)
            if (k == &key) return std::any_cast<T>(&v);
        return nullptr;
    }

    // Back to the state of a fresh context; keeps capacity for reuse.
    void reset();

private:
    // Filled by the lifecycle's begin() from what the request brings: handlers only read them.
    friend class request_lifecycle;
    void set_incoming_traceparent(std::string_view value);
    // The transport for one more subrequest to `upstream`, or null with `why` set (counted).
    fetcher* admit_subrequest(std::string_view upstream, std::error_code& why);
    // Runs `fn` on the pool (see offload); throws std::system_error or what `fn` threw. Takes
    // `fn` from the caller's variable (moves it): no temporary lives across the suspension.
    boost::asio::awaitable<void> offload_erased(std::function<void(std::stop_token)>& fn);
    // What code on a pool thread sees of this request (no lifecycle behind it).
    context snapshot() const;

    request_lifecycle* lifecycle_ = nullptr;
    request_id id_;
    std::string_view route_, prefix_, method_, path_, query_, host_;
    std::vector<std::pair<const void*, std::any>> locals_;
    mutable std::string trace_id_;  // a cache: filled lazily by the const trace_id()
    std::string peer_;              // a copy: the connection may be gone while tasks still run
    std::string client_;            // empty: the peer
    bool peer_trusted_ = false;
    std::shared_ptr<body_source> body_stream_;
    std::string last_upstream_;
    std::chrono::nanoseconds upstream_time_{0};
    std::size_t subrequests_ = 0;
};

template <class F>
boost::asio::awaitable<offload_result_t<F>> context::offload(F fn) {
    using result = offload_result_t<F>;
    constexpr bool takes_token = std::is_invocable_v<F, std::stop_token>;
    // The job is a named local, never a temporary inside the co_await: GCC 12 destroys a
    // temporary with captures twice across the suspension.
    if constexpr (std::is_void_v<result>) {
        std::function<void(std::stop_token)> job = [fn =
                                                        std::move(fn)](std::stop_token st) mutable {
            if constexpr (takes_token)
                fn(st);
            else
                fn();
        };
        co_await offload_erased(job);
    } else {
        // The result lives with the item: the caller may stop waiting before `fn` returns.
        auto out = std::make_shared<std::optional<result>>();
        std::function<void(std::stop_token)> job = [fn = std::move(fn),
                                                    out](std::stop_token st) mutable {
            if constexpr (takes_token)
                out->emplace(fn(st));
            else
                out->emplace(fn());
        };
        co_await offload_erased(job);
        co_return std::move(**out);
    }
}

// The context of the request the calling thread is serving, or nullptr.
const context* current_context();

class context_scope {
public:
    explicit context_scope(const context* ctx);
    ~context_scope();
    context_scope(const context_scope&) = delete;
    context_scope& operator=(const context_scope&) = delete;
    // Makes `ctx` current and returns the previous one (for scopes that are not lexical).
    static const context* exchange(const context* ctx);

private:
    const context* previous_;
};

}  // namespace edged::lifecycle

// ctx.offload: the hop from a request's coroutine on its I/O thread to the worker pool and back.
//
// One operation per call, shared by the awaiting side (its handler, a deadline timer, the
// cancellation slot) and the pool item's on_done. Everything that completes the awaiting side
// happens on the I/O thread: the pool thread only posts `finished` there. So the first of
// finished / cancelled / timed out wins without atomics, and the others find nothing pending.
// The request's lifecycle is touched only while the awaiting side is pending: then its task (or
// handler) is still suspended here, so the lifecycle is alive.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lifecycle/context.hpp"
#include "lifecycle/errors.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "lifecycle/runtime.hpp"

namespace edged::lifecycle {
namespace {

namespace net = boost::asio;
using signature = void(std::error_code, std::exception_ptr);

template <class Handler>
class offload_op : public std::enable_shared_from_this<offload_op<Handler>> {
public:
    offload_op(Handler h, request_lifecycle& lc, runtime& rt)
        : handler_(std::move(h)),
          lc_(lc),
          pool_(*rt.get_worker_pool()),
          io_(rt.context().get_executor()),
          work_(io_),
          timer_(rt.context()),
          run_timeout_(rt.get_offload_limits().run_timeout),
          queue_timeout_(rt.get_offload_limits().queue_timeout) {}

    void start(std::function<void(std::stop_token)> fn) {
        auto self = this->shared_from_this();
        item_ = pool_.submit(std::move(fn), [self](worker_pool::item&) {
            net::post(self->io_, [self] { self->finished(); });
        });
        if (!item_) {
            complete(errc::offload_rejected, nullptr);
            return;
        }
        auto slot = net::get_associated_cancellation_slot(handler_);
        if (slot.is_connected()) slot.assign([self](net::cancellation_type) { self->cancelled(); });
        timer_.expires_after(queue_timeout_);
        timer_.async_wait([self](std::error_code ec) { self->deadline(ec); });
    }

private:
    // On the I/O thread, posted by the pool thread once the function returned.
    void finished() {
        if (!pending_) return;  // the awaiting side already went on (cancelled, timed out)
        lc_.charge_offloaded(item_->cpu);
        complete({}, item_->error);
    }

    void cancelled() {
        if (!pending_) return;
        pool_.cancel(*item_);  // queued: never runs; running: its token fires
        complete(errc::offload_cancelled, nullptr);
    }

    // Queue deadline first; once the item runs, its run deadline.
    void deadline(std::error_code ec) {
        if (ec || !pending_) return;
        if (!running_phase_) {
            if (pool_.cancel(*item_, worker_pool::cancel_reason::timed_out, true) ==
                worker_pool::state::queued) {
                complete(errc::offload_queue_timeout, nullptr);
                return;
            }
            running_phase_ = true;
            const auto started = item_->started_at();
            timer_.expires_at(
                started + std::chrono::duration_cast<worker_pool::clock::duration>(run_timeout_));
            timer_.async_wait(
                [self = this->shared_from_this()](std::error_code e) { self->deadline(e); });
            return;
        }
        if (pool_.cancel(*item_, worker_pool::cancel_reason::timed_out) ==
            worker_pool::state::running)
            complete(errc::offload_run_timeout, nullptr);
        // done: `finished` is on its way and completes it
    }

    void complete(std::error_code ec, std::exception_ptr error) {
        pending_ = false;
        timer_.cancel();
        auto slot = net::get_associated_cancellation_slot(handler_);
        if (slot.is_connected()) slot.clear();
        // Never inside the caller's own frame (the slot's emit, start()): posted, to the
        // handler's executor, which runs it in the request's context.
        auto ex = net::get_associated_executor(handler_, io_);
        net::post(ex, [h = std::move(handler_), ec, error]() mutable { std::move(h)(ec, error); });
        work_.reset();
    }

    Handler handler_;
    request_lifecycle& lc_;
    worker_pool& pool_;
    net::io_context::executor_type io_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    net::steady_timer timer_;
    std::chrono::nanoseconds run_timeout_, queue_timeout_;
    worker_pool::item_ptr item_;
    bool pending_ = true;
    bool running_phase_ = false;
};

// `fn` is moved from when the operation starts (the caller's variable outlives that).
template <class Token>
auto async_offload(request_lifecycle& lc, runtime& rt, std::function<void(std::stop_token)>& fn,
                   Token&& token) {
    return net::async_initiate<Token, signature>(
        [&lc, &rt, &fn](auto handler) {
            using op_t = offload_op<std::decay_t<decltype(handler)>>;
            std::make_shared<op_t>(std::move(handler), lc, rt)->start(std::move(fn));
        },
        token);
}

}  // namespace

context context::snapshot() const {
    context c;
    c.id_ = id_;
    c.route_ = route_;
    c.prefix_ = prefix_;
    c.trace_id_.assign(trace_id());
    c.peer_ = peer_;
    return c;
}

net::awaitable<void> context::offload_erased(std::function<void(std::stop_token)>& job) {
    if (!lifecycle_) throw std::system_error(make_error_code(errc::lifecycle_closed));
    auto& rt = lifecycle_->runtime_;
    if (!rt.get_worker_pool()) throw std::system_error(make_error_code(errc::no_worker_pool));
    // The pool thread runs `fn` in a copy of this context: the request may be gone before `fn`
    // returns, the copy is not.
    auto view = std::make_shared<const context>(snapshot());
    std::function<void(std::stop_token)> wrapped = [fn = std::move(job), view](std::stop_token st) {
        context_scope scope(view.get());
        fn(st);
    };
    auto [ec, error] =
        co_await async_offload(*lifecycle_, rt, wrapped, net::as_tuple(net::use_awaitable));
    if (error) std::rethrow_exception(error);
    if (ec) throw std::system_error(ec);
}

}  // namespace edged::lifecycle

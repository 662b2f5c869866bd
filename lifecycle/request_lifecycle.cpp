#include "lifecycle/request_lifecycle.hpp"

#include <exception>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>

#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "lifecycle/runtime.hpp"

namespace edged::lifecycle {

namespace net = boost::asio;
using std::chrono::duration_cast;
using std::chrono::microseconds;

// context's half of the handler API forwards to its lifecycle.
// (A context without a lifecycle is a snapshot on a pool thread: nothing to register with.)
std::error_code context::wait_until(std::string name, net::awaitable<void> task) {
    if (!lifecycle_) return errc::lifecycle_closed;
    return lifecycle_->wait_until(std::move(name), std::move(task));
}
std::chrono::nanoseconds context::wall_left() const {
    if (!lifecycle_) return {};
    return lifecycle_->get_budget().wall_left(lifecycle_->runtime_.clock().now());
}
fetcher* context::admit_subrequest(std::string_view upstream, std::error_code& why) {
    if (!lifecycle_) {
        why = errc::lifecycle_closed;
        return nullptr;
    }
    auto& rt = lifecycle_->runtime_;
    fetcher* f = lifecycle_->fetcher_ ? lifecycle_->fetcher_ : rt.get_fetcher();
    rt.counters().subrequests.add();
    if (subrequests_ >= lifecycle_->limits_.max_subrequests) {
        rt.counters().subrequests_rejected.add();
        if (f) f->count_rejected(upstream);
        log::event("subrequest rejected")
            .request_id(id())
            .str("upstream", upstream)
            .str("reason", make_error_code(errc::subrequest_overflow).message())
            .warn();
        why = errc::subrequest_overflow;
        return nullptr;
    }
    if (!f) {
        why = errc::unknown_upstream;
        return nullptr;
    }
    ++subrequests_;
    last_upstream_.assign(upstream);
    return f;
}

net::awaitable<fetch_result> context::fetch(std::string_view upstream, request req,
                                            std::size_t max_body) {
    fetch_result result;
    fetcher* f = admit_subrequest(upstream, result.ec);
    if (!f) co_return result;
    auto& clock = lifecycle_->runtime_.clock();
    const auto started = clock.now();
    result = co_await f->fetch(upstream, std::move(req), max_body);
    upstream_time_ += clock.now() - started;
    co_return result;
}

net::awaitable<stream_result> context::open(std::string_view upstream, const request& req,
                                            stream_options opts) {
    stream_result result;
    fetcher* f = admit_subrequest(upstream, result.ec);
    if (!f) co_return result;
    auto& clock = lifecycle_->runtime_.clock();
    const auto started = clock.now();
    result = co_await f->open(upstream, req, opts);
    upstream_time_ += clock.now() - started;  // to the head: the body is the client's pace
    co_return result;
}

response async_handler::handle(const request&, context&) {
    return internal_error();
}

std::chrono::nanoseconds context::cpu_left() const {
    if (!lifecycle_) return {};
    return lifecycle_->get_budget().cpu_left();
}

request_lifecycle::request_lifecycle(runtime& rt) : runtime_(rt), wall_timer_(rt.context()) {
    ctx_.lifecycle_ = this;
}

request_lifecycle::~request_lifecycle() = default;

net::io_context::executor_type request_lifecycle::io_executor() const {
    return runtime_.context().get_executor();
}

void request_lifecycle::begin(const request_start& s) {
    ++generation_;
    phase_ = phase::receiving;
    received_at_ = s.received;
    route_ = s.route;
    stats_ = &runtime_.stats_of(s.route ? s.route->metrics : nullptr);
    pin_ = s.pin;
    fetcher_ = s.via;
    flushed_at_ = {};
    limits_ = s.route ? s.route->limits : s.limits ? *s.limits : lifecycle_limits{};
    budget_.reset(limits_.budget);
    tasks_.clear();
    running_ = 0;
    rejected_ = 0;
    outcomes_ = {};
    cancelling_ = false;
    owner_released_ = false;
    cpu_check_posted_ = false;
    handler_started_ = handled_at_ = s.received;
    handler_settled_ = true;  // no handler has run: nothing to take or charge

    // An incoming id is honoured only when it is safe (request_id::is_safe).
    ctx_.id_.assign(s.incoming_id, runtime_.ids());
    ctx_.method_ = s.method;
    ctx_.path_ = s.path;
    ctx_.query_ = s.query;
    ctx_.host_ = s.host;
    ctx_.peer_.assign(s.peer);
    ctx_.client_.assign(s.client);
    ctx_.peer_trusted_ = s.peer_trusted;
    ctx_.body_stream_ = s.body;
    if (s.route) {
        ctx_.route_ = s.route->name;
        ctx_.prefix_ = s.route->prefix;
    }
    if (!s.traceparent.empty()) ctx_.set_incoming_traceparent(s.traceparent);
}

response request_lifecycle::respond(const request& req) {
    phase_ = phase::handling;
    response res;
    {
        context_scope scope(&ctx_);
        handler_started_ = received_at_;  // the request was parsed and routed just now
        try {
            res = route_->handler->handle(req, ctx_);
        } catch (const std::exception& e) {
            log::event("handler failed").str("route", ctx_.route()).str("error", e.what()).error();
            res = internal_error();
        } catch (...) {
            log::event("handler failed").str("route", ctx_.route()).str("error", "unknown").error();
            res = internal_error();
        }
        handler_settled_ = false;  // its end is taken on first need (see handler_time())
        if (!tasks_.empty()) settle_handler();
        after_response(req, res);
    }
    phase_ = phase::responding;
    return res;
}

net::awaitable<response> request_lifecycle::respond_async(const request& req) {
    using namespace boost::asio::experimental::awaitable_operators;
    net::steady_timer timer(runtime_.context(), limits_.handler_timeout);
    // Never expires: cancel_handler() cancels the wait (as_tuple: that completes, not throws).
    net::steady_timer stop(runtime_.context(), net::steady_timer::time_point::max());
    handler_stop_ = &stop;
    // The handler runs on this request's executor (its context, its CPU account). If the timeout
    // or cancel_handler() wins, the handler is cancelled, and with it its subrequests and its
    // offloaded work.
    auto result = co_await (
        net::co_spawn(get_executor(), run_async_handler(req), net::use_awaitable) ||
        timer.async_wait(net::use_awaitable) || stop.async_wait(net::as_tuple(net::use_awaitable)));
    handler_stop_ = nullptr;
    response res;
    if (result.index() == 0) {
        res = std::move(std::get<0>(result));
    } else if (result.index() == 2) {
        res = text_response(503, "connection closed\n");
        handled_at_ = runtime_.clock().now();
        handler_settled_ = true;
        phase_ = phase::responding;
        co_return res;  // nobody reads it: no response hook
    } else {
        log::event("handler timed out").request_id(ctx_.id()).str("route", ctx_.route()).warn();
        res = text_response(504, "handler timed out\n");
        handled_at_ = runtime_.clock().now();
        handler_settled_ = true;  // the segments it ran were charged as they ran
        phase_ = phase::responding;
    }
    {
        context_scope scope(&ctx_);
        after_response(req, res);
    }
    co_return res;
}

void request_lifecycle::cancel_handler() {
    if (handler_stop_) handler_stop_->cancel();
}

net::awaitable<response> request_lifecycle::run_async_handler(const request& req) {
    phase_ = phase::handling;
    handler_started_ = runtime_.clock().now();
    response res;
    std::string error;
    try {
        res = co_await route_->handler->handle_async(req, ctx_);
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "unknown";
    }
    if (!error.empty()) {
        log::event("handler failed").str("route", ctx_.route()).str("error", error).error();
        res = internal_error();
    }
    handled_at_ = runtime_.clock().now();
    handler_settled_ = true;  // its segments were charged as they ran
    phase_ = phase::responding;
    co_return res;
}

void request_lifecycle::after_response(const request& req, const response& res) {
    if (route_ && route_->after) route_->after->on_response(ctx_, req, res, handler_time());
}

std::error_code request_lifecycle::wait_until(std::string name, net::awaitable<void> body) {
    runtime_.counters().registered.add();
    std::error_code why;
    if (phase_ == phase::closed || cancelling_) {
        why = errc::lifecycle_closed;
    } else if (tasks_.size() >= limits_.max_wait_until) {
        why = errc::wait_until_overflow;
    } else if (!runtime_.try_reserve_task()) {
        why = errc::background_full;
    }
    if (why) {
        reject(name, why);
        return why;
    }
    auto t = std::make_unique<task>();
    t->name = std::move(name);
    t->body.emplace(std::move(body));
    tasks_.push_back(std::move(t));
    if (phase_ == phase::background) start(*tasks_.back());
    return {};
}

void request_lifecycle::reject(std::string_view name, std::error_code why) {
    ++rejected_;
    ++outcomes_[static_cast<std::size_t>(outcome::rejected_overflow)];
    runtime_.counters().count(outcome::rejected_overflow);
    stats_->tasks[static_cast<std::size_t>(outcome::rejected_overflow)].add();
    log::event("background task rejected")
        .request_id(ctx_.id())
        .str("task", name)
        .str("outcome", to_string(outcome::rejected_overflow))
        .str("reason", why.message())
        .warn();
}

void request_lifecycle::flushed(clock::time_point at) {
    flushed_at_ = at;
    stats_->to_flush.observe(at - received_at_);
    start_background(at);
}

void request_lifecycle::flushed_now() {
    if (tasks_.empty() && rejected_ == 0) {
        close();
        return;
    }
    flushed(runtime_.clock().now());
}

void request_lifecycle::abandon() {
    if (phase_ < phase::background) start_background(runtime_.clock().now());
}

void request_lifecycle::start_background(clock::time_point from) {
    if (tasks_.empty()) {
        close();
        return;
    }
    settle_handler();  // the handler's time counts against the CPU budget of its tasks
    phase_ = phase::background;
    budget_.start_wall(from);
    runtime_.track(*this);
    wall_timer_.expires_at(budget_.wall_deadline());
    wall_timer_.async_wait([this, gen = generation_](boost::system::error_code ec) {
        if (!ec && gen == generation_) cancel(outcome::cancelled_wall_budget);
    });
    // co_spawn posts the start of each task, so none runs (or ends) inside this loop.
    for (std::size_t i = 0; i < tasks_.size(); ++i) start(*tasks_[i]);
}

void request_lifecycle::start(task& t) {
    t.running = true;
    ++running_;
    net::co_spawn(get_executor(), std::move(*t.body),
                  net::bind_cancellation_slot(
                      t.cancel.slot(), [this, &t](std::exception_ptr e) { on_task_end(t, e); }));
    t.body.reset();
}

void request_lifecycle::on_task_end(task& t, std::exception_ptr e) {
    t.running = false;
    t.ended = true;
    --running_;
    runtime_.release_task();
    outcome o = outcome::completed;
    if (t.cancel_reason) {
        o = *t.cancel_reason;
    } else if (e) {
        o = outcome::failed;
        std::string what = "unknown exception";
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            what = ex.what();
        } catch (...) {
        }
        log::event("background task failed")
            .request_id(ctx_.id())
            .str("task", t.name)
            .str("error", what)
            .error();
    }
    ++outcomes_[static_cast<std::size_t>(o)];
    runtime_.counters().count(o);
    stats_->tasks[static_cast<std::size_t>(o)].add();
    if (phase_ == phase::background && running_ == 0) close();
}

void request_lifecycle::cancel(outcome reason) {
    if (phase_ != phase::background) return;
    cancelling_ = true;
    wall_timer_.cancel();
    for (auto& t : tasks_) {
        if (!t->running || t->cancel_reason) continue;
        t->cancel_reason = reason;
        t->cancel.emit(net::cancellation_type::terminal);
    }
}

void request_lifecycle::close() {
    const bool had_tasks = !tasks_.empty() || rejected_ > 0;
    if (phase_ == phase::background) wall_timer_.cancel();  // armed only in the background phase
    phase_ = phase::closed;
    runtime_.untrack(*this);
    if (had_tasks) {
        const auto now = runtime_.clock().now();
        log::event e("lifecycle closed");
        e.request_id(ctx_.id()).str("route", ctx_.route()).unum("tasks", tasks_registered());
        for (std::size_t i = 0; i < outcome_count; ++i)
            if (outcomes_[i]) e.unum(to_string(static_cast<outcome>(i)), outcomes_[i]);
        if (flushed_at_ != clock::time_point{}) {
            e.num("post_response_us", duration_cast<microseconds>(now - flushed_at_).count());
            stats_->post_response.observe(now - flushed_at_);
        }
        e.num("cpu_us", duration_cast<microseconds>(budget_.cpu_used()).count());
        stats_->cpu.observe(budget_.cpu_used());
        e.info();
    }
    if (owner_released_) recycle();
}

void request_lifecycle::recycle() {
    // Inside one of our own segments (a task's completion handler closing the lifecycle), the
    // segment's end still has to run on this object: recycle when the outermost segment ends.
    if (segment_depth_ > 0) {
        recycle_after_segment_ = true;
        return;
    }
    runtime_.pool().recycle(this);
}

void request_lifecycle::owner_released() {
    owner_released_ = true;
    if (phase_ == phase::closed || phase_ == phase::idle) {
        recycle();
    } else if (phase_ < phase::background) {
        abandon();  // the connection died before the flush: tasks run all the same
    }
}

void request_lifecycle::begin_segment() noexcept {
    if (segment_depth_++ != 0) return;
    segment_start_ = runtime_.clock().now();
    segment_previous_ = context_scope::exchange(&ctx_);
}

background_lane* request_lifecycle::lane() noexcept {
    // After the flush: the tasks of an answered request yield to the thread's foreground work.
    return phase_ == phase::background ? &runtime_.lane() : nullptr;
}

void request_lifecycle::end_segment() noexcept {
    if (--segment_depth_ != 0) return;
    budget_.charge(runtime_.clock().now() - segment_start_);
    context_scope::exchange(segment_previous_);
    check_cpu_budget();
    if (recycle_after_segment_) {
        recycle_after_segment_ = false;
        runtime_.pool().recycle(this);  // last statement: `this` may be gone after it
    }
}

void request_lifecycle::check_cpu_budget() {
    // A segment cannot be interrupted; the budget is enforced when it yields. The cancel is
    // posted so it never runs inside a task's own frame.
    if (phase_ == phase::background && !cancelling_ && !cpu_check_posted_ &&
        budget_.cpu_exhausted()) {
        cpu_check_posted_ = true;
        net::post(io_executor(), [this, gen = generation_] {
            if (gen == generation_) cancel(outcome::cancelled_cpu_budget);
        });
    }
}

void request_lifecycle::charge_offloaded(std::chrono::nanoseconds cpu) {
    budget_.charge(cpu);
    check_cpu_budget();
}

void request_lifecycle::settle_handler() {
    if (handler_settled_) return;
    handler_settled_ = true;
    handled_at_ = runtime_.clock().now();
    budget_.charge(handled_at_ - handler_started_);
}

std::chrono::microseconds request_lifecycle::handler_time() {
    settle_handler();
    return duration_cast<microseconds>(handled_at_ - handler_started_);
}

std::chrono::microseconds request_lifecycle::time_to_flush() const {
    return duration_cast<microseconds>(flushed_at_ - received_at_);
}

void lifecycle_pool::deleter::operator()(request_lifecycle* lc) const {
    lc->owner_released();
}

lifecycle_pool::~lifecycle_pool() {
    for (auto* lc : free_) delete lc;
}

lifecycle_pool::handle lifecycle_pool::acquire() {
    request_lifecycle* lc;
    if (free_.empty()) {
        lc = new request_lifecycle(runtime_);
    } else {
        lc = free_.back();
        free_.pop_back();
    }
    lc->phase_ = request_lifecycle::phase::idle;
    lc->owner_released_ = false;
    ++live_;
    return handle(lc);
}

void lifecycle_pool::recycle(request_lifecycle* lc) {
    --live_;
    lc->ctx_.reset();
    lc->tasks_.clear();
    lc->pin_.reset();  // may end the config the request started under (a reload since)
    lc->fetcher_ = nullptr;
    lc->phase_ = request_lifecycle::phase::idle;
    if (free_.size() < max_idle_) {
        free_.push_back(lc);
    } else {
        delete lc;
    }
}

}  // namespace edged::lifecycle

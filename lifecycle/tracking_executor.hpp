#pragma once
// An executor adaptor bound to one request: every function it runs is a "segment" of work done on
// behalf of that request. The sink (the request's lifecycle) is told when a segment begins and
// ends, so it can (1) make the request current for the thread (log lines and subrequests know
// their request without being passed it: the AsyncLocalStorage idea) and (2) charge the segment's
// time to the request's CPU budget.
//
// Coroutines spawned on this executor resume through it after every co_await, and the completion
// handlers of the operations they start inherit it, so one wrapper covers tasks, their timers and
// their subrequest completions.
//
// Once the request has been answered, its work is background work: the sink then names a
// background_lane, and functions wait there behind the thread's foreground work instead of
// running at once (see background_lane.hpp).
//
// Why elapsed monotonic time and not CLOCK_THREAD_CPUTIME_ID: the thread CPU clock is a system
// call here (~650 ns), more than a whole static request costs; on an event-loop thread that never
// blocks, a segment's elapsed time is its CPU time, barring preemption.

#include <type_traits>
#include <utility>

#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>

#include "lifecycle/background_lane.hpp"

namespace edged::lifecycle {

class segment_sink {
public:
    virtual void begin_segment() noexcept = 0;
    virtual void end_segment() noexcept = 0;
    // Where the sink's work waits while it is background work; nullptr: run it at once.
    virtual background_lane* lane() noexcept = 0;

protected:
    ~segment_sink() = default;
};

template <class Inner>
class tracking_executor {
public:
    tracking_executor(Inner inner, segment_sink* sink) noexcept
        : inner_(std::move(inner)), sink_(sink) {}

    template <class Property>
    requires boost::asio::can_query<const Inner&, Property>::value decltype(auto) query(
        const Property& p) const noexcept {
        return boost::asio::query(inner_, p);
    }

    template <class Property>
    requires boost::asio::can_require<const Inner&, Property>::value auto require(
        const Property& p) const {
        using next = std::decay_t<decltype(boost::asio::require(inner_, p))>;
        return tracking_executor<next>(boost::asio::require(inner_, p), sink_);
    }

    template <class Property>
    requires boost::asio::can_prefer<const Inner&, Property>::value auto prefer(
        const Property& p) const {
        using next = std::decay_t<decltype(boost::asio::prefer(inner_, p))>;
        return tracking_executor<next>(boost::asio::prefer(inner_, p), sink_);
    }

    template <class F>
    void execute(F&& f) const {
        if (background_lane* lane = sink_->lane())
            lane->submit(segment<std::decay_t<F>>{sink_, std::forward<F>(f)});
        else
            inner_.execute(segment<std::decay_t<F>>{sink_, std::forward<F>(f)});
    }

    friend bool operator==(const tracking_executor& a, const tracking_executor& b) noexcept {
        return a.inner_ == b.inner_ && a.sink_ == b.sink_;
    }
    friend bool operator!=(const tracking_executor& a, const tracking_executor& b) noexcept {
        return !(a == b);
    }

    const Inner& inner() const noexcept { return inner_; }

private:
    template <class F>
    struct segment {
        segment_sink* sink;
        F f;
        void operator()() {
            struct guard {
                segment_sink* s;
                ~guard() { s->end_segment(); }
            } g{sink};
            sink->begin_segment();
            std::move(f)();
        }
    };

    Inner inner_;
    segment_sink* sink_;
};

}  // namespace edged::lifecycle

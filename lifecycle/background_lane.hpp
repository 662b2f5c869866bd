#pragma once
// Foreground first: the work of requests that have already been answered (each step of their
// wait_until tasks, each completion of their subrequests) waits in a per-thread FIFO lane instead
// of running the moment it is ready. The lane runs in turns, each turn queued behind whatever is
// ready on the io_context at that moment, so requests that become ready during a burst of
// background completions are read, handled and answered between two turns.
//
// How long a turn lasts: while the lane has work the event loop never blocks, so the time from
// the end of one turn to the start of the next is foreground time (handling requests, polling
// for I/O). The next turn may run background work for share / (100 - share) of that time — at
// share 50, as long as the foreground just ran — and at least `min_slice`, so background-only
// load is not chopped into one step per poll. Under contention background work gets about
// `share` percent of the thread; on an otherwise idle thread it gets all of it. At least one
// function runs per turn, so background work is never starved.
//
// One lane per I/O thread; not thread-safe (everything on it runs on that thread).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

#include <boost/asio/detail/executor_function.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "config/config.hpp"
#include "lifecycle/budget.hpp"

namespace edged::lifecycle {

class background_lane {
public:
    // lifecycle.background_share, percent
    static constexpr unsigned default_share = config::lifecycle_config::default_background_share;
    static constexpr std::chrono::microseconds min_slice{50};

    background_lane(boost::asio::io_context& ioc, clock_source& clock,
                    unsigned share_percent = default_share)
        : ioc_(ioc), clock_(clock), share_(std::clamp(share_percent, 1u, 99u)) {}
    background_lane(const background_lane&) = delete;
    background_lane& operator=(const background_lane&) = delete;

    // Queues `f` (a nullary function object; move-only is fine) to run in a later turn.
    template <class F>
    void submit(F&& f) {
        // Asio's type-erased function recycles its memory through the thread's handler cache.
        queue_.emplace_back(std::forward<F>(f), std::allocator<void>());
        if (!scheduled_) schedule(false);
    }

    std::size_t queued() const { return queue_.size(); }
    unsigned share() const { return share_; }

private:
    void schedule(bool yielded) {
        scheduled_ = true;
        yielded_ = yielded;
        boost::asio::post(ioc_, [this] { run_turn(); });
    }

    void run_turn() {
        // scheduled_ stays set while the turn runs: what it submits waits for the next turn.
        const auto start = clock_.now();
        std::chrono::nanoseconds allowed = min_slice;
        if (yielded_) {
            const auto foreground = start - yielded_at_;
            allowed = std::max(allowed, foreground * share_ / (100 - share_));
        }
        const auto until = start + allowed;
        auto now = start;
        do {
            auto f = std::move(queue_.front());
            queue_.pop_front();
            f();  // may submit more: it queues behind what is already here
            now = clock_.now();
        } while (!queue_.empty() && now < until);
        scheduled_ = false;
        if (!queue_.empty()) {
            yielded_at_ = now;
            schedule(true);  // behind everything that became ready meanwhile
        }
    }

    boost::asio::io_context& ioc_;
    clock_source& clock_;
    unsigned share_;
    std::deque<boost::asio::detail::executor_function> queue_;
    bool scheduled_ = false;
    bool yielded_ = false;  // the next turn follows a turn that had to stop with work left
    clock_source::time_point yielded_at_{};
};

}  // namespace edged::lifecycle

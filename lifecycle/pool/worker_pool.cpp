#include "lifecycle/pool/worker_pool.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "lifecycle/log.hpp"

namespace edged::lifecycle {
namespace {

std::chrono::nanoseconds thread_cpu_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

worker_pool::worker_pool(settings s) : settings_(s) {
    std::lock_guard lock(mutex_);
    for (unsigned i = 0; i < settings_.min_threads; ++i) start_thread_locked();
}

worker_pool::~worker_pool() {
    stop();
}

void worker_pool::start_thread_locked() {
    // Reap threads that have exited (idle above min_threads): each is past its last lock.
    for (auto it = threads_.begin(); it != threads_.end();) {
        if (it->exited) {
            it->thread.join();
            it = threads_.erase(it);
        } else {
            ++it;
        }
    }
    auto& slot = threads_.emplace_back();
    ++live_threads_;
    slot.thread = std::thread([this, &slot] { run_thread(slot); });
}

worker_pool::item_ptr worker_pool::submit(std::function<void(std::stop_token)> fn,
                                          std::function<void(item&)> on_done) {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= settings_.queue) {
        ++counts_.rejected;
        return nullptr;
    }
    auto it = std::make_shared<item>();
    it->fn_ = std::move(fn);
    it->on_done_ = std::move(on_done);
    queue_.push_back(it);
    ++counts_.submitted;
    // A thread for it: an idle one takes it, else a new one while under max_threads.
    if (idle_threads_ < queue_.size() && live_threads_ < settings_.max_threads)
        start_thread_locked();
    wake_.notify_one();
    return it;
}

worker_pool::state worker_pool::cancel(item& it, cancel_reason why, bool queued_only) {
    std::lock_guard lock(mutex_);
    const state found = it.state_;
    if (found == state::queued) {
        queue_.erase(std::find_if(queue_.begin(), queue_.end(),
                                  [&](const item_ptr& p) { return p.get() == &it; }));
        it.state_ = state::cancelled;
        it.on_done_ = nullptr;  // never runs: release what it captured now
        it.fn_ = nullptr;
        count_cancelled_locked(why);  // it ends here
    } else if (found == state::running && !queued_only && !it.stop_.stop_requested()) {
        // Counted when it returns (run_thread).
        it.reason_ = why;
        it.stop_requested_ = clock::now();
        it.stop_.request_stop();
    }
    return found;
}

void worker_pool::count_cancelled_locked(cancel_reason why) {
    if (why == cancel_reason::timed_out)
        ++counts_.timed_out;
    else
        ++counts_.cancelled;
}

void worker_pool::run_thread(thread_slot& self) {
    // Below the I/O threads: a pool thread gets a core the I/O threads leave idle.
    if (settings_.nice > 0)
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), settings_.nice);
    ::pthread_setname_np(::pthread_self(), "edged-pool");
    std::unique_lock lock(mutex_);
    for (;;) {
        ++idle_threads_;
        const bool above_min = live_threads_ > settings_.min_threads;
        const auto have_work = [&] { return stopping_ || !queue_.empty(); };
        bool woke = true;
        if (above_min)
            woke = wake_.wait_for(lock, settings_.idle_timeout, have_work);
        else
            wake_.wait(lock, have_work);
        --idle_threads_;
        if (stopping_) break;
        if (!woke) {
            // Idle for idle_timeout: exit while above min_threads (the others may have already).
            if (live_threads_ > settings_.min_threads) break;
            continue;
        }

        item_ptr it = std::move(queue_.front());
        queue_.pop_front();
        it->state_ = state::running;
        running_.push_back(it);
        it->started_.store(clock::now().time_since_epoch().count(), std::memory_order_release);
        lock.unlock();

        const auto cpu_start = thread_cpu_now();
        try {
            it->fn_(it->stop_.get_token());
        } catch (...) {
            it->error = std::current_exception();
        }
        it->cpu = thread_cpu_now() - cpu_start;
        it->fn_ = nullptr;

        lock.lock();
        it->state_ = state::done;
        running_.erase(std::find(running_.begin(), running_.end(), it));
        cpu_ns_ += it->cpu.count();
        const bool was_cancelled = it->stop_.stop_requested();
        const auto late = was_cancelled ? clock::now() - it->stop_requested_ : clock::duration{};
        if (!was_cancelled) {
            if (it->error)
                ++counts_.failed;
            else
                ++counts_.completed;
        } else {
            count_cancelled_locked(it->reason_);
            if (late > overrun_after) ++counts_.overrun;
        }
        auto on_done = std::move(it->on_done_);
        lock.unlock();
        if (was_cancelled && late > overrun_after) {
            log::event("offloaded item overran its cancel")
                .num("late_ms", std::chrono::duration_cast<std::chrono::milliseconds>(late).count())
                .warn();
        }
        if (on_done) on_done(*it);
        it.reset();
        lock.lock();
    }
    --live_threads_;
    self.exited = true;
}

void worker_pool::stop() {
    std::list<thread_slot> threads;
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            stopping_ = true;
            for (auto& it : queue_) {
                it->state_ = state::cancelled;
                it->on_done_ = nullptr;
                it->fn_ = nullptr;
                ++counts_.cancelled;
            }
            queue_.clear();
            for (auto& it : running_) {  // each counted when it returns, before the join
                if (it->stop_.stop_requested()) continue;
                it->reason_ = cancel_reason::cancelled;
                it->stop_requested_ = clock::now();
                it->stop_.request_stop();
            }
        }
        threads.swap(threads_);
    }
    wake_.notify_all();
    for (auto& slot : threads)
        if (slot.thread.joinable()) slot.thread.join();
}

worker_pool::stats worker_pool::get_stats() const {
    std::lock_guard lock(mutex_);
    stats s = counts_;
    s.threads = live_threads_;
    s.idle = idle_threads_;
    s.busy = running_.size();
    s.queued = queue_.size();
    s.cpu_seconds = static_cast<double>(cpu_ns_) / 1e9;
    return s;
}

}  // namespace edged::lifecycle

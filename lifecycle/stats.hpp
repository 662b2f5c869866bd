#pragma once
// The figures behind /metrics and /stats, kept so that the request path shares nothing.
//
// Every figure is kept per I/O thread and has one writer, its thread: a counter adds with a
// relaxed load and a relaxed store (a plain add, no locked read-modify-write, no cache line
// another writer touches). A reader on another thread (a scrape, on the control thread) loads
// each thread's value with relaxed order and sums them: it may see a thread's figures a moment
// late, never torn. A writer's slot is cache-line aligned so that two threads never share one.
//
// Per-route figures live in a per_thread<route_stats>, found by name in a stats_registry that
// lives as long as the process: a route keeps its counts across config reloads, and a
// request that started under an older config counts where the same route counts now.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/outcome.hpp"
#include "lifecycle/owned_counter.hpp"

namespace edged::lifecycle {

// Upper bounds, in seconds, of every edged histogram's buckets (then +Inf): 100 us to 10 s.
inline constexpr std::array<double, 16> histogram_bounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
inline constexpr std::size_t histogram_buckets = histogram_bounds.size() + 1;  // with +Inf

// A histogram with one writing thread: a count per bucket (not cumulative) and the sum.
class owned_histogram {
public:
    void observe(std::chrono::nanoseconds d) noexcept;
    std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i].get(); }
    std::uint64_t sum_ns() const noexcept { return sum_ns_.get(); }

private:
    std::array<owned_counter, histogram_buckets> buckets_{};
    owned_counter sum_ns_;
};

// A histogram summed over threads, read by a scrape.
struct histogram_totals {
    std::array<std::uint64_t, histogram_buckets> buckets{};  // per bucket, not cumulative
    std::uint64_t sum_ns = 0;

    void add(const owned_histogram& h);
    std::uint64_t count() const;
};

// One I/O thread's figures for one route (or for the requests no route matched).
struct alignas(64) route_stats {
    static constexpr unsigned first_status = 100, last_status = 599;

    std::array<owned_counter, last_status - first_status + 1> by_status{};
    owned_counter other_status;     // a status outside 100..599 (never sent by edged itself)
    owned_histogram to_flush;       // end of the request head -> response handed to the kernel
    owned_histogram post_response;  // flush -> the last background task ended
    owned_histogram cpu;            // the handler's and the tasks' CPU (requests with tasks)
    std::array<owned_counter, outcome_count> tasks{};  // background tasks by outcome

    void count_status(unsigned status) noexcept {
        if (status >= first_status && status <= last_status)
            by_status[status - first_status].add();
        else
            other_status.add();
    }
};

// One named thing's figures (a route, an upstream), one slot per I/O thread.
template <class Slot>
class per_thread {
public:
    per_thread(std::string name, std::size_t threads)
        : name_(std::move(name)), threads_(threads), slots_(std::make_unique<Slot[]>(threads)) {}

    const std::string& name() const { return name_; }
    std::size_t threads() const { return threads_; }
    // The slot thread `i` writes; a thread index past the slots writes the last one (a
    // program that embeds edged with more runtimes than it said).
    Slot& at(std::size_t i) { return slots_[i < threads_ ? i : threads_ - 1]; }
    const Slot& at(std::size_t i) const { return slots_[i < threads_ ? i : threads_ - 1]; }

private:
    std::string name_;
    std::size_t threads_;
    std::unique_ptr<Slot[]> slots_;
};

// The process's per_thread figures by name, in the order first asked for. get() is for the
// builders of a config (control thread); each() for readers; both take the registry's mutex,
// which the request path never does (it keeps the pointer get() returned).
template <class Slot>
class stats_registry {
public:
    explicit stats_registry(std::size_t threads) : threads_(threads) {}

    per_thread<Slot>& get(std::string_view name) {
        std::lock_guard lock(mutex_);
        for (auto& s : entries_)
            if (s->name() == name) return *s;
        entries_.push_back(std::make_unique<per_thread<Slot>>(std::string(name), threads_));
        return *entries_.back();
    }
    template <class F>
    void each(F&& f) const {
        std::lock_guard lock(mutex_);
        for (const auto& s : entries_) f(*s);
    }
    std::size_t threads() const { return threads_; }

private:
    std::size_t threads_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<per_thread<Slot>>> entries_;
};

using route_metrics = per_thread<route_stats>;
using route_registry = stats_registry<route_stats>;

// The name under which requests no route matched are counted: parentheses cannot appear in a
// route name (config), so it never meets a configured route.
inline constexpr std::string_view unrouted_name = "(none)";

}  // namespace edged::lifecycle

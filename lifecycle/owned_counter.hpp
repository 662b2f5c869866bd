#pragma once
// Counters with one writing thread (see lifecycle/stats.hpp): the owner adds with a relaxed load
// and store, a plain add with no locked read-modify-write; any thread may read them.

#include <atomic>
#include <cstdint>

namespace edged::lifecycle {

// A counter with one writing thread; any thread may read it.
class owned_counter {
public:
    void add(std::uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
    operator std::uint64_t() const noexcept { return get(); }  // NOLINT: reads like a number

private:
    std::atomic<std::uint64_t> v_{0};
};

// A gauge with one writing thread (up and down); any thread may read it.
class owned_gauge {
public:
    void add(std::int64_t n) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::int64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
    operator std::int64_t() const noexcept { return get(); }  // NOLINT: reads like a number

private:
    std::atomic<std::int64_t> v_{0};
};

}  // namespace edged::lifecycle

#include "lifecycle/stats.hpp"

#include <algorithm>

namespace edged::lifecycle {

void owned_histogram::observe(std::chrono::nanoseconds d) noexcept {
    const double s = std::chrono::duration<double>(d).count();
    const auto it = std::lower_bound(histogram_bounds.begin(), histogram_bounds.end(), s);
    buckets_[static_cast<std::size_t>(it - histogram_bounds.begin())].add();
    sum_ns_.add(d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0);
}

void histogram_totals::add(const owned_histogram& h) {
    for (std::size_t i = 0; i < histogram_buckets; ++i) buckets[i] += h.bucket(i);
    sum_ns += h.sum_ns();
}

std::uint64_t histogram_totals::count() const {
    std::uint64_t n = 0;
    for (auto b : buckets) n += b;
    return n;
}

}  // namespace edged::lifecycle

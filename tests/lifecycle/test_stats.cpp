// The per-thread figures behind /metrics: histogram buckets (le is inclusive, as Prometheus
// reads it), sums over threads, and a registry that gives a name the same figures every time.

#include <catch2/catch.hpp>

#include <thread>

#include "lifecycle/stats.hpp"

using namespace edged::lifecycle;
using namespace std::chrono_literals;

TEST_CASE("a histogram counts a value into the first bucket whose bound is not below it",
          "[stats]") {
    owned_histogram h;
    h.observe(100us);  // exactly 0.0001: bucket 0 (le="0.0001")
    h.observe(101us);  // bucket 1 (le="0.00025")
    h.observe(1ms);    // exactly 0.001: bucket 3
    h.observe(0ns);    // bucket 0
    h.observe(11s);    // over the last bound: +Inf
    CHECK(h.bucket(0) == 2);
    CHECK(h.bucket(1) == 1);
    CHECK(h.bucket(2) == 0);
    CHECK(h.bucket(3) == 1);
    CHECK(h.bucket(histogram_buckets - 1) == 1);
    CHECK(h.sum_ns() == (100us + 101us + 1ms + 11s).count() * 1000);

    histogram_totals t;
    t.add(h);
    t.add(h);
    CHECK(t.count() == 10);
    CHECK(t.buckets[0] == 4);
}

TEST_CASE("per-thread slots are written by their threads and summed by a reader", "[stats]") {
    route_registry registry(4);
    route_metrics& m = registry.get("api");
    CHECK(&registry.get("api") == &m);  // the same figures for the same name
    CHECK(&registry.get("other") != &m);
    std::vector<std::thread> writers;
    for (std::size_t t = 0; t < 4; ++t) {
        writers.emplace_back([&, t] {
            for (int i = 0; i < 10000; ++i) {
                m.at(t).count_status(200);
                m.at(t).tasks[0].add();
            }
            m.at(t).count_status(99);  // outside 100..599
        });
    }
    for (auto& w : writers) w.join();
    std::uint64_t ok = 0, other = 0, tasks = 0;
    for (std::size_t t = 0; t < m.threads(); ++t) {
        ok += m.at(t).by_status[200 - route_stats::first_status];
        other += m.at(t).other_status;
        tasks += m.at(t).tasks[0];
    }
    CHECK(ok == 40000);
    CHECK(other == 4);
    CHECK(tasks == 40000);
    std::size_t names = 0;
    registry.each([&](const route_metrics&) { ++names; });
    CHECK(names == 2);
}

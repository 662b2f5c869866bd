// The worker pool on its own (threads, queue, cancellation, counts) and through ctx.offload in a
// request's lifecycle on a real io_context (resumption on the I/O thread, context across the hop,
// CPU charged to the budget, cancellation when the lifecycle closes). No sockets.

#include <catch2/catch.hpp>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "lifecycle/pool/worker_pool.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "lifecycle/runtime.hpp"
#include "log_capture.hpp"

using namespace edged::lifecycle;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

// A gate items wait on until the test opens it (or their stop token fires).
struct latch {
    std::atomic<bool> open{false};
    void wait(std::stop_token st = {}) const {
        while (!open && !st.stop_requested()) std::this_thread::sleep_for(1ms);
    }
};

worker_pool::settings small(unsigned min, unsigned max, std::size_t queue = 16,
                            std::chrono::milliseconds idle = 50ms) {
    worker_pool::settings s;
    s.min_threads = min;
    s.max_threads = max;
    s.queue = queue;
    s.idle_timeout = idle;
    s.nice = 0;
    return s;
}

void burn_cpu(std::chrono::milliseconds d) {
    timespec ts{};
    auto cpu = [&] {
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    };
    const auto until = cpu() + d;
    while (cpu() < until) {
    }
}

}  // namespace

TEST_CASE("pool: grows to max_threads under a burst, back to min_threads when idle", "[pool]") {
    log::init("off");
    worker_pool pool(small(1, 3));
    CHECK(pool.get_stats().threads == 1);
    latch hold;
    std::atomic<int> done{0};
    for (int i = 0; i < 5; ++i)
        REQUIRE(pool.submit([&](std::stop_token) { hold.wait(); }, [&](auto&) { ++done; }));
    REQUIRE(eventually([&] { return pool.get_stats().busy == 3; }));
    auto s = pool.get_stats();
    CHECK(s.threads == 3);  // never more than max_threads
    CHECK(s.queued == 2);
    hold.open = true;
    REQUIRE(eventually([&] { return done == 5; }));
    // Above min_threads, a thread without work for idle_timeout exits.
    CHECK(eventually([&] { return pool.get_stats().threads == 1; }));
    CHECK(pool.get_stats().completed == 5);
}

TEST_CASE("pool: a cancelled queued item never runs, and a full queue is rejected and counted",
          "[pool]") {
    log::init("off");
    worker_pool pool(small(0, 1, /*queue=*/1));
    latch hold;
    std::atomic<bool> second_ran{false}, second_done{false};
    auto first = pool.submit([&](std::stop_token) { hold.wait(); }, [](auto&) {});
    REQUIRE(first);
    REQUIRE(eventually([&] { return pool.get_stats().busy == 1; }));
    auto second = pool.submit([&](std::stop_token) { second_ran = true; },
                              [&](auto&) { second_done = true; });
    REQUIRE(second);
    CHECK_FALSE(pool.submit([](std::stop_token) {}, [](auto&) {}));  // the queue holds one
    CHECK(pool.get_stats().rejected == 1);
    CHECK(pool.cancel(*second) == worker_pool::state::queued);
    hold.open = true;
    REQUIRE(eventually([&] { return pool.get_stats().completed == 1; }));
    pool.stop();
    CHECK_FALSE(second_ran);
    CHECK_FALSE(second_done);  // its on_done never runs either
    CHECK(pool.get_stats().cancelled == 1);
}

TEST_CASE("pool: a cancel after its item ended leaves the next item on that thread untouched",
          "[pool]") {
    log::init("off");
    worker_pool pool(small(1, 1));
    std::atomic<bool> first_done{false};
    auto first = pool.submit([](std::stop_token) {}, [&](auto&) { first_done = true; });
    REQUIRE(eventually([&] { return first_done.load(); }));
    latch hold;
    std::atomic<bool> next_saw_stop{false}, next_done{false};
    std::thread::id first_thread, next_thread;
    auto next = pool.submit(
        [&](std::stop_token st) {
            next_thread = std::this_thread::get_id();
            hold.wait();
            next_saw_stop = st.stop_requested();
        },
        [&](auto&) { next_done = true; });
    REQUIRE(eventually([&] { return pool.get_stats().busy == 1; }));
    // The late cancel: the first item is done, so it touches nothing.
    CHECK(pool.cancel(*first) == worker_pool::state::done);
    hold.open = true;
    REQUIRE(eventually([&] { return next_done.load(); }));
    CHECK_FALSE(next_saw_stop);
    const auto s = pool.get_stats();
    CHECK(s.completed == 2);
    CHECK(s.cancelled == 0);
    CHECK(s.threads == 1);  // one thread ran both
}

TEST_CASE("pool: an item is counted once, when it ends (a cancelled running one when it returns)",
          "[pool]") {
    // submitted = completed + failed + cancelled + timed_out + queued + busy at every read: a
    // shutdown summary that adds what was in flight to what was submitted since finds each item
    // in exactly one outcome.
    log::init("off");
    worker_pool pool(small(0, 1));
    latch hold;
    const auto invariant = [&] {
        const auto s = pool.get_stats();
        return s.submitted ==
               s.completed + s.failed + s.cancelled + s.timed_out + s.queued + s.busy;
    };
    // Ignores its token until the test lets it go, as CPU-bound work does between its checks.
    auto running = pool.submit([&](std::stop_token) { hold.wait(); }, [](auto&) {});
    auto queued = pool.submit([](std::stop_token) {}, [](auto&) {});
    REQUIRE(eventually([&] { return pool.get_stats().busy == 1; }));
    CHECK(pool.cancel(*running) == worker_pool::state::running);
    CHECK(pool.cancel(*queued, worker_pool::cancel_reason::timed_out) ==
          worker_pool::state::queued);
    auto s = pool.get_stats();
    CHECK(s.submitted == 2);
    CHECK(s.busy == 1);  // still running: not yet counted
    CHECK(s.cancelled == 0);
    CHECK(s.timed_out == 1);  // a queued item ends when it is removed
    CHECK(invariant());
    hold.open = true;
    REQUIRE(eventually([&] { return pool.get_stats().busy == 0; }));
    s = pool.get_stats();
    CHECK(s.cancelled == 1);
    CHECK(s.completed == 0);
    CHECK(invariant());
    CHECK_FALSE(pool.submit([](std::stop_token) {}, [](auto&) {}) == nullptr);
    REQUIRE(eventually([&] { return pool.get_stats().completed == 1; }));
    CHECK(invariant());
}

TEST_CASE("pool: a running item's stop token fires on cancel and on stop", "[pool]") {
    log::init("off");
    worker_pool pool(small(0, 2));
    std::atomic<int> stopped{0};
    const auto until_stopped = [&](std::stop_token st) {
        latch never;
        never.wait(st);
        if (st.stop_requested()) ++stopped;
    };
    auto a = pool.submit(until_stopped, [](auto&) {});
    auto b = pool.submit(until_stopped, [](auto&) {});
    REQUIRE(eventually([&] { return pool.get_stats().busy == 2; }));
    CHECK(pool.cancel(*a) == worker_pool::state::running);
    REQUIRE(eventually([&] { return stopped == 1; }));
    pool.stop();  // fires b's token and joins
    CHECK(stopped == 2);
    const auto s = pool.get_stats();
    CHECK(s.cancelled == 2);
    CHECK(s.completed == 0);
    CHECK(s.threads == 0);
}

// ---- through ctx.offload ------------------------------------------------------------------

namespace {

struct fixture {
    explicit fixture(worker_pool::settings s = small(0, 2)) : pool(s), rt(ioc, counters, 1000) {
        log::init("warn");
        edged::config::worker_pool_config cfg;
        rt.set_worker_pool(&pool, cfg);
    }
    ~fixture() { pool.stop(); }
    lifecycle_pool::handle start_request(const lifecycle_limits& limits, std::string id = "req") {
        auto lc = rt.pool().acquire();
        request_start start;
        start.received = std::chrono::steady_clock::now();
        start.incoming_id = id;
        start.limits = &limits;
        lc->begin(start);
        return lc;
    }
    worker_pool pool;
    net::io_context ioc;
    task_counters counters;
    runtime rt;
};

}  // namespace

// Task bodies are lambdas without captures: what they need comes in as parameters, which live
// in the coroutine frame (a capture would live in the closure, gone after the call).

TEST_CASE("offload: the result comes back on the I/O thread, and an exception reaches the caller",
          "[pool][offload]") {
    fixture f;
    struct seen {
        std::thread::id ran_on, resumed_on;
        int result = 0;
        std::string caught;
    } o;
    {
        auto lc = f.start_request({});
        lc->ctx().wait_until("offload", [](context& ctx, seen& o) -> net::awaitable<void> {
            o.result = co_await ctx.offload([&o] {
                o.ran_on = std::this_thread::get_id();
                return 6 * 7;
            });
            o.resumed_on = std::this_thread::get_id();
            try {
                co_await ctx.offload([]() -> int { throw std::runtime_error("offload exploded"); });
            } catch (const std::runtime_error& e) {
                o.caught = e.what();
            }
        }(lc->ctx(), o));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();  // on this thread: it is the I/O thread
    CHECK(o.result == 42);
    CHECK(o.ran_on != std::this_thread::get_id());
    CHECK(o.resumed_on == std::this_thread::get_id());
    CHECK(o.caught == "offload exploded");
    CHECK(f.counters.get(outcome::completed) == 1);
    CHECK(f.pool.get_stats().completed == 1);
    CHECK(f.pool.get_stats().failed == 1);
}

TEST_CASE("offload: a log line written on the pool carries the request id", "[pool][context]") {
    fixture f;
    edged::test::log_capture captured;
    bool saw_own_id = false;
    {
        auto lc = f.start_request({}, "pool-req-7");
        lc->ctx().wait_until("log", [](context& ctx, bool& saw) -> net::awaitable<void> {
            saw = co_await ctx.offload([] {
                log::event("from the pool").info();
                const auto* here = current_context();
                return here && here->id() == "pool-req-7";
            });
        }(lc->ctx(), saw_own_id));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    captured.stop();
    CHECK(saw_own_id);
    const std::string out = captured.text();
    const auto line = out.find("from the pool");
    REQUIRE(line != std::string::npos);
    const auto end = out.find('\n', line);
    CHECK(out.substr(line, end - line).find("\"request_id\":\"pool-req-7\"") != std::string::npos);
}

TEST_CASE("offload: CPU spent on the pool is charged, and past cpu_budget the tasks are cancelled",
          "[pool][budget]") {
    fixture f;
    lifecycle_limits limits;
    limits.budget.cpu = 20ms;
    bool after_offload = false;
    {
        auto lc = f.start_request(limits);
        lc->ctx().wait_until("spin", [](context& ctx, bool& after) -> net::awaitable<void> {
            co_await ctx.offload([] { burn_cpu(60ms); });
            after = true;
            net::steady_timer t(co_await net::this_coro::executor, 1h);
            co_await t.async_wait(net::use_awaitable);  // cancelled here by the CPU check
        }(lc->ctx(), after_offload));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    CHECK(after_offload);
    CHECK(f.counters.get(outcome::cancelled_cpu_budget) == 1);
}

TEST_CASE("offload: when the lifecycle closes, its running item's stop token fires",
          "[pool][cancel]") {
    fixture f;
    lifecycle_limits limits;
    limits.budget.wall = 50ms;
    // The pool is stopped (joined) before this frame ends, so the item may point here.
    std::atomic<bool> token_fired{false};
    std::string error;
    {
        auto lc = f.start_request(limits);
        lc->ctx().wait_until(
            "long",
            [](context& ctx, std::atomic<bool>* fired, std::string& error) -> net::awaitable<void> {
                try {
                    co_await ctx.offload([fired](std::stop_token st) {
                        latch never;
                        never.wait(st);
                        *fired = st.stop_requested();
                    });
                } catch (const std::system_error& e) {
                    error = e.code().message();
                    throw;
                }
            }(lc->ctx(), &token_fired, error));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    CHECK(f.counters.get(outcome::cancelled_wall_budget) == 1);
    CHECK(error == make_error_code(errc::offload_cancelled).message());
    CHECK(eventually([&] { return token_fired.load(); }));
    CHECK(eventually([&] { return f.pool.get_stats().busy == 0; }));
    CHECK(f.pool.get_stats().cancelled == 1);
}

TEST_CASE("offload: a queued item cancelled with its request never runs", "[pool][cancel]") {
    fixture f(small(0, 1));
    latch hold;
    std::atomic<bool> queued_ran{false};
    // The only pool thread is busy with an item of no request.
    f.pool.submit([&](std::stop_token) { hold.wait(); }, [](auto&) {});
    REQUIRE(eventually([&] { return f.pool.get_stats().busy == 1; }));
    lifecycle_limits limits;
    limits.budget.wall = 50ms;
    {
        auto lc = f.start_request(limits);
        lc->ctx().wait_until("queued",
                             [](context& ctx, std::atomic<bool>* ran) -> net::awaitable<void> {
                                 co_await ctx.offload([ran] { *ran = true; });
                             }(lc->ctx(), &queued_ran));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();  // the wall budget cancels the task while its item waits in the queue
    hold.open = true;
    CHECK(eventually([&] { return f.pool.get_stats().completed == 1; }));
    f.pool.stop();
    CHECK_FALSE(queued_ran.load());
    CHECK(f.counters.get(outcome::cancelled_wall_budget) == 1);
    CHECK(f.pool.get_stats().cancelled == 1);
}

// The lifecycle's background work, driven on a real io_context without sockets: tasks start only
// after the flush, bounds, budgets (CPU through an injected clock), all-settled failures, exactly
// one outcome per task, request-scoped context across interleaved tasks, shutdown cancellation.

#include <catch2/catch.hpp>

#include <boost/asio.hpp>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "lifecycle/errors.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/log.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "lifecycle/runtime.hpp"
#include "log_capture.hpp"

using namespace edged::lifecycle;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

// Every read advances time by `step`: each run segment costs exactly one step of "CPU".
class stepping_clock final : public clock_source {
public:
    explicit stepping_clock(std::chrono::nanoseconds step) : step_(step) {}
    time_point now() override { return t_ += step_; }

private:
    std::chrono::nanoseconds step_;
    time_point t_ = std::chrono::steady_clock::now();
};

struct fixture {
    explicit fixture(std::size_t max_background = 1000,
                     clock_source& clock = system_clock_source::instance())
        : rt(ioc, counters, max_background, clock) {
        log::init("warn");
    }
    lifecycle_pool::handle start_request(const lifecycle_limits& limits, std::string id = "req",
                                         const route_binding* route = nullptr) {
        auto lc = rt.pool().acquire();
        request_start start;
        start.received = std::chrono::steady_clock::now();
        start.incoming_id = id;
        start.limits = &limits;
        start.route = route;
        lc->begin(start);
        return lc;
    }
    net::io_context ioc;
    task_counters counters;
    runtime rt;
};

net::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    net::steady_timer t(co_await net::this_coro::executor, d);
    co_await t.async_wait(net::use_awaitable);
}

net::awaitable<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

net::awaitable<void> fail_after(std::chrono::milliseconds d) {
    co_await sleep_for(d);
    throw std::runtime_error("task exploded");
}

// Yields `n` times; every resumption is a segment charged to the request.
net::awaitable<void> spin(int n, int& rounds) {
    for (int i = 0; i < n; ++i) {
        co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
        ++rounds;
    }
}

std::uint64_t outcome_count_of(const task_counters& c, outcome o) {
    return c.get(o);
}

}  // namespace

TEST_CASE("budget arithmetic with injected times", "[lifecycle][budget]") {
    budget b({.wall = 100ms, .cpu = 10ms});
    const auto t0 = clock_source::time_point{} + 1s;
    CHECK_FALSE(b.exhausted(t0).has_value());  // wall not started yet
    b.start_wall(t0);
    CHECK(b.wall_left(t0 + 40ms) == 60ms);
    CHECK_FALSE(b.exhausted(t0 + 99ms).has_value());
    CHECK(b.exhausted(t0 + 100ms) == outcome::cancelled_wall_budget);
    b.charge(6ms);
    CHECK(b.cpu_left() == 4ms);
    b.charge(5ms);
    CHECK(b.cpu_exhausted());
    CHECK(b.exhausted(t0) == outcome::cancelled_cpu_budget);  // CPU is reported first
    CHECK(b.cpu_left() == 0ns);
}

TEST_CASE("tasks start only after the flush and complete", "[lifecycle][tasks]") {
    fixture f;
    bool ran = false;
    {
        auto lc = f.start_request({});
        REQUIRE_FALSE(lc->ctx().wait_until("flag", set_flag(ran)));
        f.ioc.poll();
        CHECK_FALSE(ran);  // the response is not flushed yet
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.restart();  // poll() above ran out of work
    f.ioc.run();
    CHECK(ran);
    CHECK(outcome_count_of(f.counters, outcome::completed) == 1);
    CHECK(f.counters.running == 0);
    CHECK(f.rt.pool().live() == 0);  // recycled once the task ended and the owner let go
}

// A clock that moves only when told to.
class manual_clock final : public clock_source {
public:
    time_point now() override { return t; }
    time_point t = std::chrono::steady_clock::now();
};

TEST_CASE("background lane: FIFO turns sized by the foreground time before them",
          "[lifecycle][lane]") {
    net::io_context ioc;
    manual_clock clock;
    background_lane lane(ioc, clock, 50);
    std::vector<std::string> order;
    // Each background step costs 20 us; the first turn may run min_slice (50 us): three steps.
    for (int i = 0; i < 12; ++i)
        lane.submit([&, i] {
            order.push_back("b" + std::to_string(i));
            clock.t += 20us;
            if (i == 0) lane.submit([&order] { order.push_back("b-late"); });  // queues last
        });
    CHECK(lane.queued() == 12);
    // Foreground work that is ready while the background is queued: 100 us of it.
    net::post(ioc, [&] {
        order.push_back("f1");
        clock.t += 40us;
    });
    net::post(ioc, [&] {
        order.push_back("f2");
        clock.t += 60us;
    });
    ioc.run();
    // Turn 1: b0 b1 b2 (60 us >= 50 us). Then the foreground (100 us). Turn 2 may run as long as
    // the foreground just did: b3..b7 (100 us). Nothing else is waiting, so later turns run
    // min_slice each: b8 b9 b10, then b11 and b-late.
    const std::vector<std::string> expected{"b0", "b1", "b2", "f1", "f2",  "b3",  "b4",    "b5",
                                            "b6", "b7", "b8", "b9", "b10", "b11", "b-late"};
    CHECK(order == expected);
    CHECK(lane.queued() == 0);
}

TEST_CASE("background lane: at least one step per turn, however busy the foreground",
          "[lifecycle][lane]") {
    net::io_context ioc;
    manual_clock clock;
    background_lane lane(ioc, clock, 1);  // the smallest share
    int done = 0;
    // Each background step is far longer than any slice: one step per turn, and the foreground
    // (re-posting itself) gets in between every two steps.
    for (int i = 0; i < 5; ++i)
        lane.submit([&] {
            ++done;
            clock.t += 1ms;
        });
    std::vector<int> seen_by_foreground;
    std::function<void()> foreground = [&] {
        seen_by_foreground.push_back(done);
        if (seen_by_foreground.size() < 5) net::post(ioc, foreground);
    };
    net::post(ioc, foreground);
    ioc.run();
    CHECK(done == 5);
    CHECK(seen_by_foreground == std::vector<int>{1, 2, 3, 4, 5});
}

TEST_CASE(
    "an answered request's tasks run in the background lane, and before the flush they do not",
    "[lifecycle][lane]") {
    stepping_clock clock(10us);  // every read is 10 us later: turns end after a few steps
    fixture f(1000, clock);
    int rounds_a = 0, rounds_b = 0;
    {
        auto lc = f.start_request({});
        CHECK(lc->lane() == nullptr);  // handling: foreground
        REQUIRE_FALSE(lc->ctx().wait_until("spin-a", spin(50, rounds_a)));
        REQUIRE_FALSE(lc->ctx().wait_until("spin-b", spin(50, rounds_b)));
        lc->flushed(std::chrono::steady_clock::now());
        CHECK(lc->lane() == &f.rt.lane());
        CHECK(f.rt.lane().queued() == 2);  // both task starts wait in the lane
    }
    // Foreground work posted now runs after at most one batch of the tasks' 100 resumptions.
    int background_done_before_foreground = -1;
    net::post(f.ioc, [&] { background_done_before_foreground = rounds_a + rounds_b; });
    f.ioc.run();
    CHECK(rounds_a == 50);
    CHECK(rounds_b == 50);
    CHECK(background_done_before_foreground >= 0);
    // The first turn runs about min_slice: a few of the 100 steps, not all of them.
    CHECK(background_done_before_foreground < 10);
    CHECK(outcome_count_of(f.counters, outcome::completed) == 2);
    CHECK(f.rt.pool().live() == 0);
}

TEST_CASE("a synchronous handler's time is charged to the CPU budget of the tasks it registers",
          "[lifecycle][budget]") {
    fixture f;
    // A handler that burns a little wall time and registers a task.
    struct registering_handler final : handler {
        response handle(const request&, context& ctx) override {
            const auto until = std::chrono::steady_clock::now() + 2ms;
            while (std::chrono::steady_clock::now() < until) {
            }
            ran = !ctx.wait_until("flag", set_flag(flag));
            return response{};
        }
        bool flag = false, ran = false;
    } h;
    request req;
    route_binding route;
    route.handler = &h;
    auto lc = f.start_request({}, "req", &route);
    lc->respond(req);
    REQUIRE(h.ran);
    CHECK(lc->get_budget().cpu_used() >= 2ms);
    CHECK(lc->handler_time() >= 2ms);
    lc->flushed(std::chrono::steady_clock::now());
    lc.reset();
    f.ioc.run();
    CHECK(h.flag);
}

TEST_CASE("flushed_now: without background work the lifecycle closes at once, with it tasks start",
          "[lifecycle][tasks]") {
    fixture f;
    {
        auto lc = f.start_request({});
        lc->flushed_now();
    }
    CHECK(f.rt.pool().live() == 0);  // closed and recycled without running the loop
    bool ran = false;
    {
        auto lc = f.start_request({});
        REQUIRE_FALSE(lc->ctx().wait_until("flag", set_flag(ran)));
        lc->flushed_now();
        CHECK(lc->lane() == &f.rt.lane());  // background phase
    }
    f.ioc.run();
    CHECK(ran);
    CHECK(f.rt.pool().live() == 0);
}

TEST_CASE("max_wait_until: the call past the bound fails and is counted", "[lifecycle][bounds]") {
    fixture f;
    lifecycle_limits limits;
    limits.max_wait_until = 2;
    bool a = false, b = false, c = false;
    {
        auto lc = f.start_request(limits);
        CHECK_FALSE(lc->ctx().wait_until("a", set_flag(a)));
        CHECK_FALSE(lc->ctx().wait_until("b", set_flag(b)));
        CHECK(lc->ctx().wait_until("c", set_flag(c)) == errc::wait_until_overflow);
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    CHECK(a);
    CHECK(b);
    CHECK_FALSE(c);
    CHECK(f.counters.get(outcome::completed) == 2);
    CHECK(f.counters.get(outcome::rejected_overflow) == 1);
    CHECK(f.counters.registered == 3);
}

TEST_CASE("max_background_tasks: process-wide cap rejects and counts", "[lifecycle][bounds]") {
    fixture f(/*max_background=*/2);
    auto first = f.start_request({}, "one");
    auto second = f.start_request({}, "two");
    CHECK_FALSE(first->ctx().wait_until("a", sleep_for(10ms)));
    CHECK_FALSE(second->ctx().wait_until("b", sleep_for(10ms)));
    CHECK(second->ctx().wait_until("c", sleep_for(10ms)) == errc::background_full);
    first->flushed(std::chrono::steady_clock::now());
    second->flushed(std::chrono::steady_clock::now());
    first.reset();
    second.reset();
    f.ioc.run();
    CHECK(f.counters.get(outcome::completed) == 2);
    CHECK(f.counters.get(outcome::rejected_overflow) == 1);
    // Room again once the tasks ended.
    auto third = f.start_request({});
    CHECK_FALSE(third->ctx().wait_until("d", sleep_for(1ms)));
    third->flushed(std::chrono::steady_clock::now());
    third.reset();
    f.ioc.restart();
    f.ioc.run();
    CHECK(f.counters.get(outcome::completed) == 3);
}

TEST_CASE("one failing task does not stop its siblings", "[lifecycle][all-settled]") {
    fixture f;
    bool late = false;
    auto late_task = [&]() -> net::awaitable<void> {
        co_await sleep_for(30ms);
        late = true;
    };
    {
        auto lc = f.start_request({});
        lc->ctx().wait_until("boom", fail_after(1ms));
        lc->ctx().wait_until("late", late_task());
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    CHECK(late);
    CHECK(f.counters.get(outcome::failed) == 1);
    CHECK(f.counters.get(outcome::completed) == 1);
}

TEST_CASE("a task longer than the wall budget is cancelled", "[lifecycle][budget]") {
    fixture f;
    lifecycle_limits limits;
    limits.budget.wall = 50ms;
    bool finished = false;
    auto long_task = [&]() -> net::awaitable<void> {
        co_await sleep_for(10s);
        finished = true;
    };
    bool quick = false;
    {
        auto lc = f.start_request(limits);
        lc->ctx().wait_until("long", long_task());
        lc->ctx().wait_until("quick", set_flag(quick));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();  // returns because the 10 s timer was cancelled
    CHECK_FALSE(finished);
    CHECK(quick);
    CHECK(f.counters.get(outcome::cancelled_wall_budget) == 1);
    CHECK(f.counters.get(outcome::completed) == 1);
}

TEST_CASE("a task that uses more CPU than its budget is cancelled", "[lifecycle][budget]") {
    // Each segment costs 1 ms of injected CPU; the budget is 20 ms.
    stepping_clock clock(500us);  // two reads per segment
    fixture f(1000, clock);
    lifecycle_limits limits;
    limits.budget.cpu = 20ms;
    int rounds = 0;
    {
        auto lc = f.start_request(limits);
        lc->ctx().wait_until("spin", spin(1000, rounds));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    CHECK(f.counters.get(outcome::cancelled_cpu_budget) == 1);
    CHECK(rounds < 1000);
    CHECK(rounds >= 15);
}

TEST_CASE("tasks may register further tasks within the bound", "[lifecycle][tasks]") {
    fixture f;
    lifecycle_limits limits;
    limits.max_wait_until = 3;
    std::vector<std::error_code> results;
    request_lifecycle* raw = nullptr;
    auto parent = [&]() -> net::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            results.push_back(raw->ctx().wait_until("child", sleep_for(1ms)));
        }
        co_return;
    };
    {
        auto lc = f.start_request(limits);
        raw = lc.get();
        lc->ctx().wait_until("parent", parent());
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    REQUIRE(results.size() == 3);
    CHECK_FALSE(results[0]);
    CHECK_FALSE(results[1]);
    CHECK(results[2] == errc::wait_until_overflow);
    CHECK(f.counters.get(outcome::completed) == 3);
    CHECK(f.counters.get(outcome::rejected_overflow) == 1);
}

TEST_CASE("the current request follows each task across interleaved suspensions",
          "[lifecycle][context]") {
    fixture f;
    // Capture log lines written from inside tasks.
    edged::test::log_capture captured;

    std::vector<std::pair<std::string, std::string>> seen;  // (expected, observed)
    auto task = [&](std::string expected) -> net::awaitable<void> {
        for (int i = 0; i < 5; ++i) {
            co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
            const context* c = current_context();
            seen.emplace_back(expected, c ? std::string(c->id()) : "");
            log::event("task step").str("expect", expected).info();
        }
    };
    for (int r = 0; r < 4; ++r) {
        std::string id = "req-" + std::to_string(r);
        auto lc = f.start_request({}, id);
        lc->ctx().wait_until("t", task(id));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    captured.stop();
    log::events().set_level(spdlog::level::warn);

    REQUIRE(seen.size() == 20);
    for (const auto& [expected, observed] : seen) CHECK(expected == observed);
    // Interleaved: the first steps of all four requests come before the last step of any.
    CHECK(seen[1].first != seen[0].first);
    CHECK(current_context() == nullptr);
    // Each log line written by a task names its own request.
    std::istringstream lines(captured.text());
    int step_lines = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.find("task step") == std::string::npos) continue;
        ++step_lines;
        auto expect_pos = line.find("\"expect\":\"");
        auto id_pos = line.find("\"request_id\":\"");
        REQUIRE(expect_pos != std::string::npos);
        REQUIRE(id_pos != std::string::npos);
        CHECK(line.substr(expect_pos + 10, 5) == line.substr(id_pos + 14, 5));
    }
    CHECK(step_lines == 20);
}

TEST_CASE("shutdown cancels running tasks with cancelled:shutdown", "[lifecycle][shutdown]") {
    fixture f;
    {
        auto lc = f.start_request({});
        lc->ctx().wait_until("forever", sleep_for(1h));
        lc->ctx().wait_until("quick", sleep_for(1ms));
        lc->flushed(std::chrono::steady_clock::now());
    }
    net::steady_timer later(f.ioc, 20ms);
    later.async_wait([&](auto) { f.rt.cancel_all(outcome::cancelled_shutdown); });
    f.ioc.run();
    CHECK(f.counters.get(outcome::cancelled_shutdown) == 1);
    CHECK(f.counters.get(outcome::completed) == 1);
    CHECK(f.rt.in_background() == 0);
}

TEST_CASE("mixed burst: outcome counts add up to the tasks registered", "[lifecycle][accounting]") {
    fixture f(/*max_background=*/40);
    lifecycle_limits limits;
    limits.max_wait_until = 4;
    limits.budget.wall = 30ms;
    for (int r = 0; r < 20; ++r) {
        auto lc = f.start_request(limits, "r" + std::to_string(r));
        for (int t = 0; t < 5; ++t) {  // the 5th is over max_wait_until
            switch ((r + t) % 3) {
                case 0:
                    lc->ctx().wait_until("ok", sleep_for(1ms));
                    break;
                case 1:
                    lc->ctx().wait_until("fail", fail_after(1ms));
                    break;
                default:
                    lc->ctx().wait_until("slow", sleep_for(10s));
                    break;
            }
        }
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    CHECK(f.counters.registered == 100);
    CHECK(f.counters.ended() == 100);
    CHECK(f.counters.get(outcome::rejected_overflow) >= 20);
    CHECK(f.counters.get(outcome::completed) > 0);
    CHECK(f.counters.get(outcome::failed) > 0);
    CHECK(f.counters.get(outcome::cancelled_wall_budget) > 0);
    CHECK(f.counters.running == 0);
}

TEST_CASE("a lifecycle closed by its last task's completion is recycled after that segment",
          "[lifecycle][pool]") {
    // More lifecycles than the pool keeps idle (1024): recycling some of them deletes them, which
    // must not happen while their own completion handler is still running.
    fixture f(/*max_background=*/5000);
    for (int r = 0; r < 1500; ++r) {
        auto lc = f.start_request({}, "r" + std::to_string(r));
        lc->ctx().wait_until("t", sleep_for(1ms));
        lc->flushed(std::chrono::steady_clock::now());
    }
    f.ioc.run();
    CHECK(f.counters.get(outcome::completed) == 1500);
    CHECK(f.rt.pool().live() == 0);
    CHECK(f.rt.pool().idle() <= 1024);
}

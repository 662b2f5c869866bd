// Unit tests for lifecycle/: request ids, the request-scoped context, the lifecycle pool.

#include <catch2/catch.hpp>

#include <stdexcept>

#include "lifecycle/context.hpp"
#include "lifecycle/log.hpp"
#include "lifecycle/request_id.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "lifecycle/runtime.hpp"

using namespace edged::lifecycle;

TEST_CASE("request ids: safe incoming ids are kept, others replaced", "[lifecycle][request-id]") {
    id_generator gen(42);
    request_id id;
    CHECK(id.assign("abc-DEF_1.2:3", gen));
    CHECK(id.view() == "abc-DEF_1.2:3");
    CHECK_FALSE(id.assign("", gen));
    CHECK(id.view().size() == 16);
    CHECK_FALSE(id.assign("a b", gen));
    CHECK_FALSE(id.assign("a\r\nX-Evil: 1", gen));
    CHECK_FALSE(id.assign(std::string(request_id::max_length + 1, 'a'), gen));
    CHECK(id.assign(std::string(request_id::max_length, 'a'), gen));
}

TEST_CASE("request ids: generated ids are hex and differ", "[lifecycle][request-id]") {
    id_generator gen(7);
    request_id a, b;
    a.set_generated(gen());
    b.set_generated(gen());
    CHECK(a.view() != b.view());
    CHECK(a.view().find_first_not_of("0123456789abcdef") == std::string_view::npos);
    request_id zero;
    zero.set_generated(0);
    CHECK(zero.view() == "0000000000000000");
}

TEST_CASE("context scope: current_context follows nesting", "[lifecycle][context]") {
    CHECK(current_context() == nullptr);
    context outer, inner;
    {
        context_scope s1(&outer);
        CHECK(current_context() == &outer);
        {
            context_scope s2(&inner);
            CHECK(current_context() == &inner);
        }
        CHECK(current_context() == &outer);
    }
    CHECK(current_context() == nullptr);
}

namespace {
const local_key<int> counter_key;
const local_key<std::string> name_key;
}  // namespace

TEST_CASE("context locals are typed and reset between requests", "[lifecycle][context]") {
    context ctx;
    CHECK(ctx.local(counter_key) == nullptr);
    ctx.set_local(counter_key, 1);
    ctx.set_local(name_key, std::string("x"));
    ctx.set_local(counter_key, 2);
    REQUIRE(ctx.local(counter_key) != nullptr);
    CHECK(*ctx.local(counter_key) == 2);
    CHECK(*ctx.local(name_key) == "x");
    ctx.reset();
    CHECK(ctx.local(counter_key) == nullptr);
}

namespace {
struct throwing_handler : handler {
    response handle(const request&, context&) override {
        seen_id = std::string(current_context() ? current_context()->id() : "");
        throw std::runtime_error("boom");
    }
    std::string seen_id;
};
struct ok_handler : handler {
    response handle(const request&, context&) override {
        response r;
        r.status = 204;
        return r;
    }
};
struct pool_fixture {
    boost::asio::io_context ioc;
    task_counters counters;
    runtime rt{ioc, counters, 100};
};
}  // namespace

TEST_CASE("lifecycle: a throwing handler becomes a 500 inside its context", "[lifecycle]") {
    log::init("off");
    pool_fixture f;
    auto lc = f.rt.pool().acquire();
    throwing_handler h;
    route_binding route;
    route.name = "throws";
    route.handler = &h;
    request_start start;
    start.received = request_lifecycle::clock::now();
    start.incoming_id = "req-1";
    start.route = &route;
    lc->begin(start);
    request req;
    auto res = lc->respond(req);
    CHECK(res.status == 500);
    CHECK(h.seen_id == "req-1");
    CHECK(current_context() == nullptr);
    CHECK(lc->state() == request_lifecycle::phase::responding);
    lc->flushed(request_lifecycle::clock::now());
    CHECK(lc->state() == request_lifecycle::phase::closed);
}

TEST_CASE("lifecycle pool reuses objects and resets their context", "[lifecycle][pool]") {
    pool_fixture f;
    request_lifecycle* first = nullptr;
    {
        auto lc = f.rt.pool().acquire();
        first = lc.get();
        ok_handler h;
        route_binding route;
        route.handler = &h;
        request_start start;
        start.received = request_lifecycle::clock::now();
        start.incoming_id = "x";
        start.peer = "192.0.2.1";
        start.route = &route;
        lc->begin(start);
        CHECK(lc->ctx().peer() == "192.0.2.1");
        request req;
        CHECK(lc->respond(req).status == 204);
        lc->flushed(request_lifecycle::clock::now());
        CHECK(f.rt.pool().live() == 1);
    }
    CHECK(f.rt.pool().live() == 0);
    CHECK(f.rt.pool().idle() == 1);
    auto again = f.rt.pool().acquire();
    CHECK(again.get() == first);
    CHECK(again->ctx().id().empty());
    CHECK(again->ctx().peer().empty());
    CHECK(again->state() == request_lifecycle::phase::idle);
}

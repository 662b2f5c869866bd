#include "server/after/after_actions.hpp"

#include <stdexcept>

#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "server/http/header_text.hpp"

namespace edged::server {
namespace {

using namespace std::chrono_literals;
constexpr std::size_t max_attempts = 3;
constexpr auto first_backoff = 50ms;
constexpr std::size_t max_action_response = 64 * 1024;

bool idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
           method == "OPTIONS" || method == "TRACE";
}

void append_header_safe(std::string& out, std::string_view s) {
    for (char c : s)
        if (!breaks_header_line(c)) out += c;
}

bool looks_like_json(const config::header_list& headers, std::string_view body) {
    for (const auto& [name, value] : headers)
        if (iequals(name, "content-type")) return value.find("json") != std::string::npos;
    auto first = body.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && (body[first] == '{' || body[first] == '[');
}

// Sends `req`, retrying transport failures and 5xx answers with backoff while the policy and the
// request's wall budget allow. Throws when the call finally fails (the task ends `failed`).
// Every attempt is a ctx.fetch: it counts against max_subrequests like any subrequest. The
// context outlives the task (a lifecycle closes only after its tasks have ended).
net::awaitable<void> call(lifecycle::context& ctx, std::string upstream,
                          http::request<http::string_body> req, bool retry) {
    auto backoff = std::chrono::duration_cast<std::chrono::nanoseconds>(first_backoff);
    for (std::size_t attempt = 1;; ++attempt) {
        // Only an attempt that may be followed by another needs its own copy of the request.
        // (Built before the co_await: GCC 12 mishandles a conditional temporary inside one.)
        http::request<http::string_body> sent;
        if (retry && attempt < max_attempts)
            sent = req;
        else
            sent = std::move(req);
        auto result = co_await ctx.fetch(upstream, std::move(sent), max_action_response);
        if (!result.ec && result.response.result_int() < 500) co_return;
        std::string what = result.ec ? result.ec.message()
                                     : "status " + std::to_string(result.response.result_int());
        const bool final = result.ec == std::errc::operation_canceled ||
                           result.ec == lifecycle::errc::subrequest_overflow;
        if (!retry || final || attempt >= max_attempts || ctx.wall_left() <= backoff) {
            throw std::runtime_error(upstream + ": " + what + " after " + std::to_string(attempt) +
                                     " attempt(s)");
        }
        lifecycle::log::event("after-action retry")
            .str("upstream", upstream)
            .str("error", what)
            .unum("attempt", attempt)
            .debug();
        net::steady_timer pause(co_await net::this_coro::executor, backoff);
        co_await pause.async_wait(net::use_awaitable);
        backoff *= 2;
    }
}

// Mirror: the answer is ignored; a transport failure still counts as `failed`.
net::awaitable<void> mirror(lifecycle::context& ctx, std::string upstream,
                            http::request<http::string_body> req) {
    auto result = co_await ctx.fetch(upstream, std::move(req), max_action_response);
    if (result.ec) throw std::runtime_error(upstream + ": " + result.ec.message());
}

net::awaitable<void> log_line(std::string message, std::string route) {
    lifecycle::log::event("after").str("route", route).str("message", message).info();
    co_return;
}

}  // namespace

struct after_actions::action {
    virtual ~action() = default;
    virtual void add(lifecycle::context& ctx, const template_values& v) const = 0;
};

namespace {

struct http_action final : after_actions::action {
    explicit http_action(const config::http_action& c)
        : upstream(c.upstream),
          method(c.method),
          path(c.path),
          body(c.body),
          json(looks_like_json(c.headers, c.body)),
          retry(c.retry || idempotent(c.method)),
          task_name("http:" + c.upstream) {
        for (const auto& [name, value] : c.headers)
            headers.emplace_back(name, text_template(value));
        if (json && body.variable_inside_json_escape())
            throw std::invalid_argument(
                "http.body: a ${...} right after a backslash escape in a JSON body (its value's "
                "first bytes would complete the escape)");
    }
    void add(lifecycle::context& ctx, const template_values& v) const override {
        http::request<http::string_body> req;
        req.method_string(method);
        req.target(path.render(v));
        for (const auto& [name, value] : headers) {
            std::string rendered;
            append_header_safe(rendered, value.render(v));
            req.set(name, rendered);
        }
        req.body() = body.render(v, json);
        ctx.wait_until(task_name, call(ctx, upstream, std::move(req), retry));
    }
    std::string upstream;
    std::string method;
    text_template path;
    std::vector<std::pair<std::string, text_template>> headers;
    text_template body;
    bool json;
    bool retry;
    std::string task_name;
};

struct mirror_action final : after_actions::action {
    explicit mirror_action(const config::mirror_action& c)
        : upstream(c.upstream), task_name("mirror:" + c.upstream) {}
    void add(lifecycle::context& ctx, const template_values& v) const override {
        const auto& in = *v.request;
        http::request<http::string_body> req;
        req.method_string(in.method_string());
        req.target(in.target());
        // All fields: the upstream client drops hop-by-hop ones and those it writes itself.
        for (const auto& f : in) req.insert(f.name_string(), f.value());
        req.body() = in.body();
        ctx.wait_until(task_name, mirror(ctx, upstream, std::move(req)));
    }
    std::string upstream;
    std::string task_name;
};

struct log_action final : after_actions::action {
    explicit log_action(const config::log_action& c) : message(c.message) {}
    void add(lifecycle::context& ctx, const template_values& v) const override {
        ctx.wait_until("log", log_line(message.render(v), std::string(v.route)));
    }
    text_template message;
};

}  // namespace

after_actions::after_actions(const std::vector<config::after_action>& actions) {
    for (std::size_t i = 0; i < actions.size(); ++i) {
        try {
            std::visit(
                [&](const auto& a) {
                    using T = std::decay_t<decltype(a)>;
                    if constexpr (std::is_same_v<T, config::http_action>)
                        actions_.push_back(std::make_unique<http_action>(a));
                    else if constexpr (std::is_same_v<T, config::mirror_action>) {
                        actions_.push_back(std::make_unique<mirror_action>(a));
                        reads_body_ = true;
                    } else
                        actions_.push_back(std::make_unique<log_action>(a));
                },
                actions[i]);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("after[" + std::to_string(i) + "]: " + e.what());
        }
    }
}

after_actions::~after_actions() = default;

void after_actions::on_response(lifecycle::context& ctx, const lifecycle::request& req,
                                const lifecycle::response& res,
                                std::chrono::microseconds handler_time) const {
    template_values v;
    v.request = &req;
    v.request_id = ctx.id();
    v.method = ctx.method();
    v.path = ctx.path();
    v.query = ctx.query();
    v.host = ctx.host();
    v.route = ctx.route();
    v.status = res.status;
    v.handler_us = handler_time.count();
    for (const auto& a : actions_) a->add(ctx, v);
}

}  // namespace edged::server

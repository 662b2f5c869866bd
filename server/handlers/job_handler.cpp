#include "server/handlers/job_handler.hpp"

#include <charconv>

#include "lifecycle/log.hpp"
#include "server/handlers/forward.hpp"
#include "server/http/header_text.hpp"
#include "server/net.hpp"

namespace edged::server {

namespace {

struct preference {
    bool respond_async = false;
    std::optional<std::chrono::seconds> wait;
};

// RFC 7240 §2: preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] ), in a
// comma-separated list; names are case-insensitive; the first of a name counts.
preference parse_prefer(const lifecycle::request& req) {
    preference p;
    for (auto it = req.find("Prefer"); it != req.end() && iequals(it->name_string(), "Prefer");
         ++it) {
        std::string_view list = it->value();
        while (!list.empty()) {
            auto comma = list.find(',');
            std::string_view item = trim_ows(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            item = trim_ows(item.substr(0, item.find(';')));
            auto eq = item.find('=');
            std::string_view name = trim_ows(item.substr(0, eq));
            std::string_view value =
                eq == std::string_view::npos ? std::string_view{} : trim_ows(item.substr(eq + 1));
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                value = value.substr(1, value.size() - 2);
            if (iequals(name, "respond-async")) {
                p.respond_async = true;
            } else if (iequals(name, "wait") && !p.wait) {
                unsigned long secs = 0;
                auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
                if (ec == std::errc{} && end == value.data() + value.size() && !value.empty())
                    p.wait = std::chrono::seconds(std::min<unsigned long>(secs, 86400));
            }
        }
    }
    return p;
}

// An Idempotency-Key: 1 to 255 visible ASCII characters (a quoted string is taken as is).
bool valid_key(std::string_view k) {
    if (k.empty() || k.size() > 255) return false;
    for (char c : k)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

}  // namespace

std::string retry_after_seconds(std::chrono::milliseconds d) {
    return std::to_string((d.count() + 999) / 1000);
}

lifecycle::response json_response(unsigned status, const nlohmann::json& body) {
    lifecycle::response r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = body.dump();
    r.body += '\n';
    return r;
}

lifecycle::response unavailable_response(std::chrono::milliseconds retry_after, std::string why) {
    auto r = json_response(503, {{"error", std::move(why)}});
    r.headers.emplace_back("Retry-After", retry_after_seconds(retry_after));
    return r;
}

job_handler::job_handler(const config::job_handler& cfg, jobs::job_service& service,
                         std::chrono::milliseconds max_inline_wait)
    : cfg_(cfg), service_(service), max_inline_wait_(max_inline_wait) {}

lifecycle::response job_handler::accepted(const std::string& id, bool async_preferred) const {
    const std::string url = service_.cfg().prefix + id;
    auto r = json_response(202, {{"id", id}, {"status_url", url}});
    r.headers.emplace_back("Location", url);
    r.headers.emplace_back("Retry-After", retry_after_seconds(service_.cfg().retry_after));
    if (async_preferred) r.headers.emplace_back("Preference-Applied", "respond-async");
    return r;
}

net::awaitable<lifecycle::response> job_handler::handle_async(const lifecycle::request& req,
                                                              lifecycle::context& ctx) {
    jobs::job_worker* worker = jobs::job_worker::current();
    if (!worker) co_return lifecycle::internal_error();
    const auto retry = service_.cfg().retry_after;

    std::string key;
    if (auto it = req.find("Idempotency-Key"); it != req.end()) {
        std::string_view k = trim_ows(it->value());
        if (k.size() >= 2 && k.front() == '"' && k.back() == '"') k = k.substr(1, k.size() - 2);
        if (!valid_key(k))
            co_return json_response(400, {{"error",
                                           "Idempotency-Key must be 1 to 255 visible "
                                           "ASCII characters"}});
        key.assign(k);
    }
    const preference prefer = parse_prefer(req);

    // Counted before the store is asked, so concurrent submits cannot overshoot max_jobs.
    if (unfinished_.fetch_add(1, std::memory_order_relaxed) >= cfg_.max_jobs) {
        unfinished_.fetch_sub(1, std::memory_order_relaxed);
        service_.count().rejected.fetch_add(1, std::memory_order_relaxed);
        co_return unavailable_response(
            retry, "too many unfinished jobs (max_jobs " + std::to_string(cfg_.max_jobs) + ")");
    }
    auto job = std::make_shared<jobs::local_job>();
    job->record.id = jobs::new_job_id();
    job->record.route = std::string(ctx.route());
    job->record.created_at = jobs::wall_clock::now();
    job->ttl = std::chrono::duration_cast<std::chrono::seconds>(cfg_.ttl);
    if (job->ttl.count() < 1) job->ttl = std::chrono::seconds(1);
    job->upstream = cfg_.upstream;
    job->request = forwarded_request(req, ctx);
    job->timeout = cfg_.timeout;
    job->result_bytes = cfg_.result_bytes;
    job->max_response_bytes = cfg_.max_response_bytes;
    job->request_id = std::string(ctx.id());
    job->trace_id = std::string(ctx.trace_id());
    job->unfinished = &unfinished_;

    jobs::job_store::created made;
    std::string failure;
    try {
        made = co_await service_.store().create(job->record, job->ttl, key);
    } catch (const jobs::store_unavailable& e) {
        failure = e.what();
    }
    if (!failure.empty() || made.existing) {
        unfinished_.fetch_sub(1, std::memory_order_relaxed);
        if (!failure.empty()) {
            service_.count().store_errors.fetch_add(1, std::memory_order_relaxed);
            lifecycle::log::event("job store unavailable").str("error", failure).warn();
            co_return unavailable_response(retry, "job store unavailable");
        }
        service_.count().replayed.fetch_add(1, std::memory_order_relaxed);
        co_return accepted(made.id, prefer.respond_async);
    }

    const auto wait = std::min<std::chrono::milliseconds>(
        prefer.wait.value_or(std::chrono::seconds(0)), max_inline_wait_);
    net::steady_timer waiter(worker->executor(), wait);
    if (wait.count() > 0) job->inline_waiter = &waiter;
    worker->start(job);
    if (wait.count() > 0 && !job->ended) {
        // Cleared however this frame ends (the handler may be cancelled while it waits).
        struct clear_waiter {
            jobs::local_job& j;
            ~clear_waiter() { j.inline_waiter = nullptr; }
        } clear{*job};
        co_await waiter.async_wait(token);
    }
    job->inline_waiter = nullptr;
    if (job->ended && job->response) {
        lifecycle::response res = std::move(*job->response);
        job->response.reset();
        // The upstream's own Server, Date, X-Request-Id make way for edged's.
        std::erase_if(res.headers, [](const auto& h) { return server_owned_field(h.first); });
        res.headers.emplace_back("Content-Location", service_.cfg().prefix + job->record.id);
        co_return res;
    }
    co_return accepted(job->record.id, prefer.respond_async);
}

}  // namespace edged::server

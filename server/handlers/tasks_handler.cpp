#include "server/handlers/tasks_handler.hpp"

#include <charconv>

#include "config/config.hpp"
#include "server/handlers/job_handler.hpp"

namespace edged::server {

namespace {

// `wait=` from the query: a duration as in the config (10s, 500ms) or whole seconds; nullopt
// when absent, a negative count when malformed.
std::optional<std::chrono::milliseconds> wait_param(std::string_view query) {
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (!pair.starts_with("wait=")) continue;
        std::string_view v = pair.substr(5);
        unsigned long n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec == std::errc{} && end == v.data() + v.size() && !v.empty())
            return std::chrono::seconds(std::min<unsigned long>(n, 86400));
        if (auto d = config::parse_duration(v))
            return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
        return std::chrono::milliseconds(-1);
    }
    return std::nullopt;
}

lifecycle::response not_found() {
    return json_response(404, {{"error", "unknown job"}});
}

}  // namespace

tasks_handler::tasks_handler(jobs::job_service& service) : service_(service) {}

net::awaitable<lifecycle::response> tasks_handler::handle_async(const lifecycle::request& req,
                                                                lifecycle::context& ctx) {
    jobs::job_worker* worker = jobs::job_worker::current();
    if (!worker) co_return lifecycle::internal_error();
    const auto& cfg = service_.cfg();
    const std::string id(ctx.path().substr(std::min(ctx.path().size(), cfg.prefix.size())));
    if (!jobs::valid_job_id(id)) co_return not_found();
    auto& store = service_.store();
    const bool is_delete = req.method() == http::verb::delete_;

    std::optional<jobs::job_record> rec;
    bool conflict = false, cancel_pending = false;
    std::string failure;
    try {
        if (!is_delete) {
            auto wait = wait_param(ctx.query());
            if (wait && wait->count() < 0)
                co_return json_response(400, {{"error", "wait= expects a duration such as 10s"}});
            const auto limit = std::min<std::chrono::milliseconds>(
                wait.value_or(std::chrono::milliseconds(0)),
                std::chrono::duration_cast<std::chrono::milliseconds>(cfg.max_wait));
            if (limit.count() > 0)
                rec = co_await store.wait(id, std::chrono::steady_clock::now() + limit,
                                          worker->executor());
            else
                rec = co_await store.get(id);
        } else {
            rec = co_await store.request_cancel(id);
            if (rec && jobs::finished(rec->state)) {
                conflict = true;
            } else if (rec) {
                service_.cancel_local(id, "cancelled by DELETE");
                // A local job ends at once; one on another replica at its next heartbeat.
                rec = co_await store.wait(
                    id, std::chrono::steady_clock::now() + std::chrono::seconds(1),
                    worker->executor());
                cancel_pending = rec && !jobs::finished(rec->state);
            }
        }
    } catch (const jobs::store_unavailable& e) {
        failure = e.what();
    }
    if (!failure.empty()) {
        service_.count().store_errors.fetch_add(1, std::memory_order_relaxed);
        co_return unavailable_response(
            std::chrono::duration_cast<std::chrono::milliseconds>(cfg.retry_after),
            "job store unavailable");
    }
    if (!rec) co_return not_found();
    auto body = jobs::to_json(*rec);
    if (conflict) {
        body["conflict"] = "the job has finished: nothing to cancel";
        co_return json_response(409, body);
    }
    if (cancel_pending) {
        body["cancel_requested"] = true;
        co_return json_response(202, body);
    }
    auto res = json_response(200, body);
    if (!jobs::finished(rec->state))
        res.headers.emplace_back(
            "Retry-After",
            std::to_string(std::max<long>(
                1, std::chrono::duration_cast<std::chrono::seconds>(cfg.retry_after).count())));
    co_return res;
}

}  // namespace edged::server

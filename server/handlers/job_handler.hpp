#pragma once
// Built-in `job` handler: answers 202 Accepted at once with a job id (Location: jobs.prefix + id,
// Retry-After, JSON {"id", "status_url"}) and forwards the request to its upstream in the
// background (server/jobs/). The job is in the store before the 202 leaves. `Prefer: wait=N`
// (RFC 7240) answers inline with the upstream's response when the job ends within N seconds
// (capped by jobs.max_wait and the handler timeout). `Idempotency-Key` makes a repeated submit
// within the route's ttl return the first job. Past max_jobs unfinished jobs, or while the store
// is unavailable: 503 with Retry-After.

#include <atomic>
#include <chrono>
#include <string>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"
#include "server/jobs/job_service.hpp"

namespace edged::server {

class job_handler final : public lifecycle::async_handler {
public:
    // `max_inline_wait`: the longest Prefer: wait= is honoured (below the handler timeout).
    job_handler(const config::job_handler& cfg, jobs::job_service& service,
                std::chrono::milliseconds max_inline_wait);
    boost::asio::awaitable<lifecycle::response> handle_async(const lifecycle::request& req,
                                                             lifecycle::context& ctx) override;

private:
    lifecycle::response accepted(const std::string& id, bool async_preferred) const;

    config::job_handler cfg_;
    jobs::job_service& service_;
    std::chrono::milliseconds max_inline_wait_;
    std::atomic<std::size_t> unfinished_{0};
};

// A status API answer helper shared with tasks_handler: JSON with a Retry-After.
lifecycle::response json_response(unsigned status, const nlohmann::json& body);
// Retry-After's delta-seconds for `d`, rounded up.
std::string retry_after_seconds(std::chrono::milliseconds d);
lifecycle::response unavailable_response(std::chrono::milliseconds retry_after, std::string why);

}  // namespace edged::server

#pragma once
// The status API of async jobs, on the public listener at jobs.prefix (default /tasks/):
//   GET    {prefix}{id}           200 with the job as JSON; 404 for an unknown, expired or
//                                 malformed id; ?wait=10s (or 10) holds the answer until the job
//                                 finishes or the wait (capped by jobs.max_wait) runs out
//   DELETE {prefix}{id}           cancels: 200 with the cancelled job when it ended within a
//                                 second, 202 while the cancel is on its way to another replica,
//                                 409 for a finished job
// While the store is unavailable: 503 with Retry-After, never a 404.

#include <chrono>

#include "lifecycle/handler.hpp"
#include "server/jobs/job_service.hpp"

namespace edged::server {

class tasks_handler final : public lifecycle::async_handler {
public:
    explicit tasks_handler(jobs::job_service& service);
    boost::asio::awaitable<lifecycle::response> handle_async(const lifecycle::request& req,
                                                             lifecycle::context& ctx) override;

private:
    jobs::job_service& service_;
};

}  // namespace edged::server

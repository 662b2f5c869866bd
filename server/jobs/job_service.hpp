#pragma once
// Running async jobs: the process-wide job_service (the store, the registry of this process's
// jobs, counters) and one job_worker per I/O thread, which runs the jobs submitted on that
// thread.
//
// A job is submitted on an I/O thread and runs there to its end: pending while the thread has
// jobs.concurrency jobs running, then running (the original request forwarded to its upstream
// under the job's own timeout, with the submitting request's X-Request-Id and trace id), then
// succeeded, failed or cancelled, written to the store.
//
// Invariants:
// - Every job started ends in exactly one finished state, counted once: a cancelled pending job
//   never reaches its upstream; a cancelled running one has its subrequest aborted (the upstream
//   sees the connection close).
// - While a worker has jobs, it holds its thread's shutdown gate: a shutdown drains them under
//   shutdown.grace; stop() cancels what is left (reason "shutdown"), and waits for the writes.
// - local_job's mutable parts are touched only on its worker's thread; other threads reach a
//   job through job_service::cancel_local, which posts there.

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "lifecycle/gate.hpp"
#include "lifecycle/message.hpp"
#include "server/jobs/job_store.hpp"
#include "server/net.hpp"

namespace edged::server {
class upstream_set;
}

namespace edged::server::jobs {

struct local_job {
    job_record record;
    std::chrono::seconds ttl{0};
    std::string upstream;
    http::request<http::string_body> request;  // as it goes to the upstream
    std::chrono::steady_clock::duration timeout{};
    std::size_t result_bytes = 0, max_response_bytes = 0;
    std::string request_id, trace_id;                // of the submitting request
    std::atomic<std::size_t>* unfinished = nullptr;  // the route's count, lowered at the end

    // On the worker's thread only:
    net::cancellation_signal cancel;
    std::string cancel_reason;  // set when cancelled
    bool started = false, ended = false;
    // Prefer: wait: the submitting handler waits on this timer (cancelled at the end) and takes
    // the upstream's answer whole.
    net::steady_timer* inline_waiter = nullptr;
    std::optional<lifecycle::response> response;
};

class job_worker;

class job_service {
public:
    job_service(const config::jobs_config& cfg, std::unique_ptr<job_store> store);
    const config::jobs_config& cfg() const { return cfg_; }
    job_store& store() { return *store_; }

    void add(const std::shared_ptr<local_job>& job, job_worker& owner);
    void remove(const std::string& id);
    // Cancels a job of this process from any thread (posted to its worker). False when no job of
    // this process has that id.
    bool cancel_local(const std::string& id, std::string reason);

    struct counters {
        std::atomic<std::uint64_t> submitted{0}, replayed{0}, rejected{0}, succeeded{0}, failed{0},
            cancelled{0}, store_errors{0};
        // Jobs of this process waiting for a slot (jobs.concurrency), and running.
        std::atomic<std::int64_t> pending{0}, running{0};
    };
    counters& count() { return counts_; }
    // Jobs of this process not finished yet (pending or running, on any thread).
    std::size_t unfinished_here() const;
    nlohmann::json stats() const;

private:
    config::jobs_config cfg_;
    std::unique_ptr<job_store> store_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::pair<std::weak_ptr<local_job>, job_worker*>> local_;
    counters counts_;
};

class job_worker {
public:
    job_worker(net::io_context& ioc, upstream_set& upstreams, lifecycle::gate& gate,
               job_service& service);
    job_worker(const job_worker&) = delete;
    job_worker& operator=(const job_worker&) = delete;

    // The worker of the calling I/O thread (set by bind_to_this_thread), or null.
    static job_worker* current();
    void bind_to_this_thread();
    net::io_context::executor_type executor() { return ioc_.get_executor(); }
    job_service& service() { return service_; }

    // On this thread: runs `job` now, or queues it (pending) past jobs.concurrency.
    void start(std::shared_ptr<local_job> job);
    // On this thread: a pending job ends cancelled at once; a running one has its subrequest
    // aborted. Does nothing to a job that has ended.
    void cancel(const std::shared_ptr<local_job>& job, std::string reason);
    // On this thread (shutdown): cancels every job with reason "shutdown".
    void cancel_all();
    std::size_t jobs() const { return pending_.size() + running_.size(); }
    ~job_worker();

private:
    net::awaitable<void> run(std::shared_ptr<local_job> job);
    // Writes the final state, counts it, wakes an inline waiter, lets the next job start.
    net::awaitable<void> finish(std::shared_ptr<local_job> job);
    net::awaitable<void> heartbeat();
    void launch(std::shared_ptr<local_job> job);
    void publish();  // moves the service's pending and running counts by what changed here
    std::int64_t published_pending_ = 0, published_running_ = 0;

    net::io_context& ioc_;
    upstream_set& upstreams_;
    lifecycle::gate& gate_;
    job_service& service_;
    std::deque<std::shared_ptr<local_job>> pending_;
    std::vector<std::shared_ptr<local_job>> running_;
    bool heartbeat_running_ = false;
    net::steady_timer* heartbeat_timer_ = nullptr;  // while heartbeat() sleeps
    bool stopping_ = false;
};

}  // namespace edged::server::jobs

#include "server/jobs/job_service.hpp"

#include <algorithm>

#include "config/to_json.hpp"
#include "lifecycle/log.hpp"
#include "server/upstream/hop_by_hop.hpp"
#include "server/upstream/upstream_set.hpp"

namespace edged::server::jobs {

namespace {

thread_local job_worker* this_thread_worker = nullptr;

std::string describe_failure(const upstream_result& r, const local_job& job) {
    if (r.failure == exchange_failure::pool_timeout)
        return "no connection to upstream " + job.upstream + " came free in time";
    if (r.ec == net::error::timed_out) return "upstream " + job.upstream + " timed out";
    if (before_sent(r.failure))
        return "cannot connect to upstream " + job.upstream + ": " + r.ec.message();
    if (r.ec == http::error::body_limit) return "upstream response over max_response_bytes";
    return "upstream " + job.upstream + ": " + r.ec.message();
}

}  // namespace

job_service::job_service(const config::jobs_config& cfg, std::unique_ptr<job_store> store)
    : cfg_(cfg), store_(std::move(store)) {}

void job_service::add(const std::shared_ptr<local_job>& job, job_worker& owner) {
    std::lock_guard lock(mutex_);
    local_[job->record.id] = {job, &owner};
}

void job_service::remove(const std::string& id) {
    std::lock_guard lock(mutex_);
    local_.erase(id);
}

bool job_service::cancel_local(const std::string& id, std::string reason) {
    std::shared_ptr<local_job> job;
    job_worker* owner = nullptr;
    {
        std::lock_guard lock(mutex_);
        auto it = local_.find(id);
        if (it == local_.end()) return false;
        job = it->second.first.lock();
        owner = it->second.second;
    }
    if (!job) return false;
    net::post(owner->executor(),
              [owner, job = std::move(job), reason = std::move(reason)]() mutable {
                  owner->cancel(job, std::move(reason));
              });
    return true;
}

std::size_t job_service::unfinished_here() const {
    std::lock_guard lock(mutex_);
    return local_.size();
}

nlohmann::json job_service::stats() const {
    const std::size_t local = unfinished_here();
    return {
        {"store", cfg_.store},
        {"unfinished_here", local},
        {"submitted", counts_.submitted.load()},
        {"replayed", counts_.replayed.load()},
        {"rejected", counts_.rejected.load()},
        {"succeeded", counts_.succeeded.load()},
        {"failed", counts_.failed.load()},
        {"cancelled", counts_.cancelled.load()},
        {"store_errors", counts_.store_errors.load()},
        {"pending", counts_.pending.load()},
        {"running", counts_.running.load()},
    };
}

job_worker::job_worker(net::io_context& ioc, upstream_set& upstreams, lifecycle::gate& gate,
                       job_service& service)
    : ioc_(ioc), upstreams_(upstreams), gate_(gate), service_(service) {}

job_worker::~job_worker() {
    service_.count().pending.fetch_sub(published_pending_, std::memory_order_relaxed);
    service_.count().running.fetch_sub(published_running_, std::memory_order_relaxed);
}

void job_worker::publish() {
    const auto pending = static_cast<std::int64_t>(pending_.size());
    const auto running = static_cast<std::int64_t>(running_.size());
    auto& c = service_.count();
    if (pending != published_pending_)
        c.pending.fetch_add(pending - published_pending_, std::memory_order_relaxed);
    if (running != published_running_)
        c.running.fetch_add(running - published_running_, std::memory_order_relaxed);
    published_pending_ = pending;
    published_running_ = running;
}

job_worker* job_worker::current() {
    return this_thread_worker;
}

void job_worker::bind_to_this_thread() {
    this_thread_worker = this;
}

void job_worker::start(std::shared_ptr<local_job> job) {
    gate_.enter();  // left in finish()
    service_.add(job, *this);
    service_.count().submitted.fetch_add(1, std::memory_order_relaxed);
    if (stopping_) {
        cancel(job, "shutdown");
        return;
    }
    if (running_.size() < service_.cfg().concurrency) {
        launch(std::move(job));
    } else {
        pending_.push_back(std::move(job));
    }
    publish();
    if (service_.store().shared() && !heartbeat_running_) {
        heartbeat_running_ = true;
        net::co_spawn(ioc_, heartbeat(), net::detached);
    }
}

void job_worker::launch(std::shared_ptr<local_job> job) {
    job->started = true;
    running_.push_back(job);
    publish();
    net::co_spawn(ioc_, run(std::move(job)), net::detached);
}

void job_worker::cancel(const std::shared_ptr<local_job>& job, std::string reason) {
    if (job->ended || !job->cancel_reason.empty()) return;
    job->cancel_reason = std::move(reason);
    if (job->started) {
        job->cancel.emit(net::cancellation_type::terminal);
        return;
    }
    // Pending: it never runs.
    pending_.erase(std::remove(pending_.begin(), pending_.end(), job), pending_.end());
    publish();
    net::co_spawn(ioc_, finish(job), net::detached);
}

void job_worker::cancel_all() {
    stopping_ = true;
    auto pending = pending_;
    auto running = running_;
    for (auto& j : pending) cancel(j, "shutdown");
    for (auto& j : running) cancel(j, "shutdown");
    if (heartbeat_timer_) heartbeat_timer_->cancel();
}

net::awaitable<void> job_worker::run(std::shared_ptr<local_job> job) {
    auto& store = service_.store();
    job->record.state = job_state::running;
    job->record.started_at = wall_clock::now();
    bool ours = true;
    try {
        ours = co_await store.update(job->record, job->ttl);
    } catch (const store_unavailable& e) {
        // The job still runs; its final write tries again.
        service_.count().store_errors.fetch_add(1, std::memory_order_relaxed);
        lifecycle::log::event("job store unavailable")
            .str("job", job->record.id)
            .str("error", e.what())
            .warn();
    }
    if (!ours) {
        // Ended elsewhere before it started (a cancel through another replica won the race).
        if (job->cancel_reason.empty()) job->cancel_reason = "cancelled before it started";
    }
    upstream_pool* pool = upstreams_.find(job->upstream);
    upstream_result r;
    if (ours && job->cancel_reason.empty() && pool) {
        send_options opts;
        opts.timeout = job->timeout;
        opts.request_id = job->request_id;
        opts.trace_id = job->trace_id;
        auto exchange = pool->send(std::move(job->request), job->max_response_bytes, opts);
        auto bound = net::bind_cancellation_slot(job->cancel.slot(), net::use_awaitable);
        r = co_await net::co_spawn(ioc_, std::move(exchange), bound);
    }
    job->record.state = job_state::failed;
    if (!job->cancel_reason.empty()) {
        job->record.state = job_state::cancelled;
        job->record.error = job->cancel_reason;
    } else if (!pool) {
        job->record.error = "unknown upstream " + job->upstream;
    } else if (r.ec) {
        job->record.error = describe_failure(r, *job);
    } else {
        std::vector<std::pair<std::string, std::string>> headers;
        for (const auto& f : r.response) {
            if (is_hop_by_hop(f.name_string())) continue;
            headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        }
        job->record.state = job_state::succeeded;
        job->record.result =
            make_result(r.response.result_int(), headers, r.response.body(), job->result_bytes);
        if (job->inline_waiter) {
            lifecycle::response res;
            res.status = r.response.result_int();
            res.headers = std::move(headers);
            res.body = std::move(r.response.body());
            job->response = std::move(res);
        }
    }
    running_.erase(std::remove(running_.begin(), running_.end(), job), running_.end());
    publish();
    co_await finish(std::move(job));
}

net::awaitable<void> job_worker::finish(std::shared_ptr<local_job> job) {
    if (job->record.state == job_state::pending) {  // cancelled before it ran
        job->record.state = job_state::cancelled;
        job->record.error = job->cancel_reason;
    }
    job->record.finished_at = wall_clock::now();
    try {
        co_await service_.store().update(job->record, job->ttl);
    } catch (const store_unavailable& e) {
        service_.count().store_errors.fetch_add(1, std::memory_order_relaxed);
        lifecycle::log::event("job result not stored")
            .str("job", job->record.id)
            .str("state", to_string(job->record.state))
            .str("error", e.what())
            .error();
    }
    auto& c = service_.count();
    (job->record.state == job_state::succeeded ? c.succeeded
     : job->record.state == job_state::failed  ? c.failed
                                               : c.cancelled)
        .fetch_add(1, std::memory_order_relaxed);
    lifecycle::log::event("job finished")
        .str("job", job->record.id)
        .str("route", job->record.route)
        .str("state", to_string(job->record.state))
        .str("error", job->record.error)
        .request_id(job->request_id)
        .info();
    job->ended = true;
    if (job->inline_waiter) job->inline_waiter->cancel();
    if (job->unfinished) job->unfinished->fetch_sub(1, std::memory_order_relaxed);
    service_.remove(job->record.id);
    // The next pending job takes the slot.
    while (!pending_.empty() && running_.size() < service_.cfg().concurrency && !stopping_) {
        auto next = std::move(pending_.front());
        pending_.pop_front();
        launch(std::move(next));
    }
    gate_.leave();
}

net::awaitable<void> job_worker::heartbeat() {
    // Renews the leases of this thread's jobs every lease / 3, and learns of cancels requested
    // through other replicas. Ends when the thread has no jobs left (start() starts it again).
    const auto every = service_.cfg().redis.lease / 3;
    net::steady_timer timer(ioc_);
    heartbeat_timer_ = &timer;
    while (jobs() > 0 && !stopping_) {
        std::vector<std::string> ids;
        for (auto& j : pending_) ids.push_back(j->record.id);
        for (auto& j : running_) ids.push_back(j->record.id);
        std::vector<std::string> cancels;
        try {
            cancels = co_await service_.store().renew(ids);
        } catch (const store_unavailable&) {
            // Counted; the leases run on, and are renewed at the next beat if Redis is back.
            service_.count().store_errors.fetch_add(1, std::memory_order_relaxed);
        }
        for (const auto& id : cancels) {
            auto match = [&](const std::shared_ptr<local_job>& j) { return j->record.id == id; };
            std::shared_ptr<local_job> found;
            if (auto it = std::find_if(pending_.begin(), pending_.end(), match);
                it != pending_.end())
                found = *it;
            else if (auto r = std::find_if(running_.begin(), running_.end(), match);
                     r != running_.end())
                found = *r;
            if (found) cancel(found, "cancelled by DELETE");
        }
        timer.expires_after(every);
        co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    }
    heartbeat_timer_ = nullptr;
    heartbeat_running_ = false;
}

}  // namespace edged::server::jobs

#pragma once
// jobs.store: memory — the records in this process (the default: no extra process). Shared by
// all I/O threads behind one mutex (jobs are not the request hot path); finished records and
// idempotency keys are dropped `ttl` after they were written, swept at most once a second.
// Waiters (?wait=) are woken on their own I/O thread when the record finishes.

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "server/jobs/job_store.hpp"

namespace edged::server::jobs {

class memory_store final : public job_store {
public:
    net::awaitable<created> create(const job_record& r, std::chrono::seconds ttl,
                                   std::string idempotency_key) override;
    net::awaitable<std::optional<job_record>> get(std::string id) override;
    net::awaitable<bool> update(const job_record& r, std::chrono::seconds ttl) override;
    net::awaitable<std::optional<job_record>> request_cancel(std::string id) override;
    net::awaitable<std::vector<std::string>> renew(std::vector<std::string> ids) override;
    net::awaitable<std::optional<job_record>> wait(std::string id,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   net::io_context::executor_type io) override;
    bool shared() const override { return false; }

    std::size_t size() const;

private:
    using clock = std::chrono::steady_clock;
    struct waiter {
        net::io_context::executor_type ex;
        net::steady_timer timer;
    };
    struct entry {
        job_record record;
        clock::time_point expires = clock::time_point::max();  // set when finished
        std::vector<std::weak_ptr<waiter>> waiters;
    };
    std::optional<job_record> find_locked(const std::string& id);
    void sweep_locked(clock::time_point now);

    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> jobs_;
    std::unordered_map<std::string, std::pair<std::string, clock::time_point>> keys_;  // -> id
    std::multimap<clock::time_point, std::string> expiry_;  // finished ids and keys ("k" + key)
    clock::time_point last_sweep_{};
};

}  // namespace edged::server::jobs

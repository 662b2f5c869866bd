#include "server/jobs/memory_store.hpp"

namespace edged::server::jobs {

void memory_store::sweep_locked(clock::time_point now) {
    if (now - last_sweep_ < std::chrono::seconds(1)) return;
    last_sweep_ = now;
    while (!expiry_.empty() && expiry_.begin()->first <= now) {
        const std::string& what = expiry_.begin()->second;
        if (what.front() == 'k') {
            auto it = keys_.find(what.substr(1));
            if (it != keys_.end() && it->second.second <= now) keys_.erase(it);
        } else {
            auto it = jobs_.find(what.substr(1));
            if (it != jobs_.end() && it->second.expires <= now) jobs_.erase(it);
        }
        expiry_.erase(expiry_.begin());
    }
}

std::optional<job_record> memory_store::find_locked(const std::string& id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.expires <= clock::now()) return std::nullopt;
    return it->second.record;
}

net::awaitable<job_store::created> memory_store::create(const job_record& r,
                                                        std::chrono::seconds ttl,
                                                        std::string idempotency_key) {
    std::lock_guard lock(mutex_);
    const auto now = clock::now();
    sweep_locked(now);
    if (!idempotency_key.empty()) {
        std::string key = r.route + '\n' + idempotency_key;
        auto it = keys_.find(key);
        if (it != keys_.end() && it->second.second > now) co_return created{it->second.first, true};
        keys_[key] = {r.id, now + ttl};
        expiry_.emplace(now + ttl, "k" + key);
    }
    jobs_[r.id].record = r;
    co_return created{r.id, false};
}

net::awaitable<std::optional<job_record>> memory_store::get(std::string id) {
    std::lock_guard lock(mutex_);
    co_return find_locked(id);
}

net::awaitable<bool> memory_store::update(const job_record& r, std::chrono::seconds ttl) {
    std::vector<std::shared_ptr<waiter>> wake;
    {
        std::lock_guard lock(mutex_);
        auto it = jobs_.find(r.id);
        if (it == jobs_.end() || finished(it->second.record.state)) co_return false;
        it->second.record = r;
        if (finished(r.state)) {
            const auto expires = clock::now() + ttl;
            it->second.expires = expires;
            expiry_.emplace(expires, "j" + r.id);
            for (auto& w : it->second.waiters)
                if (auto p = w.lock()) wake.push_back(std::move(p));
            it->second.waiters.clear();
        }
    }
    // Each waiter's timer belongs to its own I/O thread: cancel it there.
    for (auto& w : wake) {
        auto ex = w->ex;
        net::post(ex, [w = std::move(w)] { w->timer.cancel(); });
    }
    co_return true;
}

net::awaitable<std::optional<job_record>> memory_store::request_cancel(std::string id) {
    // Every job of this store runs in this process: the caller cancels it locally.
    std::lock_guard lock(mutex_);
    co_return find_locked(id);
}

net::awaitable<std::vector<std::string>> memory_store::renew(std::vector<std::string>) {
    co_return std::vector<std::string>{};
}

net::awaitable<std::optional<job_record>> memory_store::wait(std::string id,
                                                             clock::time_point deadline,
                                                             net::io_context::executor_type io) {
    auto w = std::make_shared<waiter>(waiter{io, net::steady_timer(io, deadline)});
    {
        std::lock_guard lock(mutex_);
        auto rec = find_locked(id);
        if (!rec || finished(rec->state)) co_return rec;
        jobs_[id].waiters.push_back(w);
    }
    co_await w->timer.async_wait(token);  // cancelled by update(), or the deadline
    std::lock_guard lock(mutex_);
    co_return find_locked(id);
}

std::size_t memory_store::size() const {
    std::lock_guard lock(mutex_);
    return jobs_.size();
}

}  // namespace edged::server::jobs

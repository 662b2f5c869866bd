#pragma once
// jobs.store: redis — the records in a Redis server shared by every replica, so a poll or a
// DELETE may reach any of them. Each I/O thread has its own connection (redis_client); each
// operation is one Lua script (EVAL), atomic on the server.
//
// Keys (P = jobs.redis.key_prefix):
//   P job:{id}     hash: state, doc (the record's JSON), ttl (seconds). Expires ttl after the job
//                  finished; while unfinished its owner's heartbeat keeps it for ttl + 3 leases.
//   P lease:{id}   exists while the owning replica is alive: set at submit, renewed every
//                  lease / 3, deleted at the end. An unfinished job without a lease has lost its
//                  replica (kill -9, a crash): the first reader ends it `failed`, saying so.
//   P cancel:{id}  a DELETE through any replica; the owner sees it at its next heartbeat.
//   P idem:{route}:{key}  the job id an Idempotency-Key made, for the route's ttl.
// A finished state is never overwritten: every write checks the stored state first.

#include <string>

#include "config/config.hpp"
#include "server/jobs/job_store.hpp"

namespace edged::server::jobs {

class redis_client;
struct redis_reply;

class redis_store final : public job_store {
public:
    explicit redis_store(const config::redis_config& cfg);
    ~redis_store() override;

    net::awaitable<created> create(const job_record& r, std::chrono::seconds ttl,
                                   std::string idempotency_key) override;
    net::awaitable<std::optional<job_record>> get(std::string id) override;
    net::awaitable<bool> update(const job_record& r, std::chrono::seconds ttl) override;
    net::awaitable<std::optional<job_record>> request_cancel(std::string id) override;
    net::awaitable<std::vector<std::string>> renew(std::vector<std::string> ids) override;
    net::awaitable<std::optional<job_record>> wait(std::string id,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   net::io_context::executor_type io) override;
    bool shared() const override { return true; }

private:
    // The calling I/O thread's connection (made on first use).
    net::awaitable<redis_client*> client();
    // A record read with its lease: an unfinished one whose lease is gone is ended here.
    net::awaitable<std::optional<job_record>> settle(std::string id, const redis_reply& r);
    std::string key(std::string_view kind, std::string_view id) const;

    config::redis_config cfg_;
};

}  // namespace edged::server::jobs

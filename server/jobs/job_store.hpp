#pragma once
// Where jobs live: one interface, two stores (memory_store in the process, redis_store shared by
// replicas), chosen by jobs.store.
//
// Every call runs on the calling I/O thread's executor and never blocks it. A store that cannot
// answer (Redis unreachable) throws store_unavailable: callers answer 503, never a wrong 404.
//
// Invariants:
// - A finished record never changes again: update() refuses it (returns false).
// - A record is kept until `ttl` after it finished; an unfinished one until it finishes (the
//   owner's lease keeps it, see redis_store), then for `ttl`.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "server/jobs/job.hpp"
#include "server/net.hpp"

namespace edged::server::jobs {

struct store_unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class job_store {
public:
    virtual ~job_store() = default;

    struct created {
        std::string id;         // the new record's, or the existing one's
        bool existing = false;  // the idempotency key was taken: nothing was added
    };
    // Adds `r` (pending). With a non-empty `idempotency_key` (scoped to r.route) already used
    // within `ttl`, adds nothing and returns the job that used it.
    virtual net::awaitable<created> create(const job_record& r, std::chrono::seconds ttl,
                                           std::string idempotency_key) = 0;
    virtual net::awaitable<std::optional<job_record>> get(std::string id) = 0;
    // The owner's writes (running, then the final state). False when the stored record is
    // already finished or gone: something else ended it (a cancel, an expired lease).
    virtual net::awaitable<bool> update(const job_record& r, std::chrono::seconds ttl) = 0;
    // Asks the job's owner, wherever it runs, to cancel it. Returns the record as it is (nullopt:
    // unknown or expired).
    virtual net::awaitable<std::optional<job_record>> request_cancel(std::string id) = 0;
    // The owner's heartbeat for its unfinished jobs; returns those whose cancel was requested.
    virtual net::awaitable<std::vector<std::string>> renew(std::vector<std::string> ids) = 0;
    // The record once it is finished, or as it is when `deadline` passes.
    // `io` is the calling I/O thread's own executor (a waiter is woken there).
    virtual net::awaitable<std::optional<job_record>> wait(
        std::string id, std::chrono::steady_clock::time_point deadline,
        net::io_context::executor_type io) = 0;
    // Whether renew() matters (jobs of other processes can see a cancel only through it).
    virtual bool shared() const = 0;
};

}  // namespace edged::server::jobs

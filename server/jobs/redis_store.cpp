#include "server/jobs/redis_store.hpp"

#include <map>
#include <memory>

#include "server/jobs/redis_client.hpp"

namespace edged::server::jobs {

namespace {

// KEYS: job, lease, idem ("" for none). ARGV: id, doc, keep (s), lease (ms), ttl (s).
// Returns {1, existing id} when the idempotency key was taken, else {0, id}.
constexpr std::string_view create_script = R"(
if KEYS[3] ~= '' then
  if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'EX', ARGV[5]) then
    return {1, redis.call('GET', KEYS[3])}
  end
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'doc', ARGV[2], 'ttl', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
return {0, ARGV[1]}
)";

// KEYS: job, lease. Returns {state, doc, lease exists} or nil.
constexpr std::string_view get_script = R"(
local v = redis.call('HMGET', KEYS[1], 'state', 'doc')
if not v[1] then return nil end
return {v[1], v[2], redis.call('EXISTS', KEYS[2])}
)";

// KEYS: job, lease. ARGV: state, doc, finished (0/1). 1 when written, 0 when the stored record
// is finished or gone.
constexpr std::string_view update_script = R"(
local s = redis.call('HGET', KEYS[1], 'state')
if not s or s == 'succeeded' or s == 'failed' or s == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'doc', ARGV[2])
if ARGV[3] == '1' then
  redis.call('EXPIRE', KEYS[1], redis.call('HGET', KEYS[1], 'ttl'))
  redis.call('DEL', KEYS[2])
end
return 1
)";

// KEYS: job, lease. ARGV: doc (failed: replica lost). Ends an unfinished job whose lease is gone;
// returns {state, doc} as stored afterwards, or nil.
constexpr std::string_view lost_script = R"(
local s = redis.call('HGET', KEYS[1], 'state')
if not s then return nil end
if (s == 'pending' or s == 'running') and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'doc', ARGV[1])
  redis.call('EXPIRE', KEYS[1], redis.call('HGET', KEYS[1], 'ttl'))
end
local v = redis.call('HMGET', KEYS[1], 'state', 'doc')
return {v[1], v[2], redis.call('EXISTS', KEYS[2])}
)";

// KEYS: job, lease, cancel. ARGV: cancel key life (ms). Returns {state, doc, lease exists} or nil;
// marks an unfinished job for cancelling.
constexpr std::string_view cancel_script = R"(
local v = redis.call('HMGET', KEYS[1], 'state', 'doc')
if not v[1] then return nil end
if v[1] == 'pending' or v[1] == 'running' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
end
return {v[1], v[2], redis.call('EXISTS', KEYS[2])}
)";

// KEYS: job, lease, cancel for each job. ARGV: lease (ms), extra keep (s). Renews the lease and
// the record of each unfinished job; returns the job keys that should stop (cancel asked, or
// ended by someone else).
constexpr std::string_view renew_script = R"(
local out = {}
for i = 1, #KEYS, 3 do
  local s = redis.call('HGET', KEYS[i], 'state')
  if s == 'pending' or s == 'running' then
    redis.call('SET', KEYS[i + 1], '1', 'PX', ARGV[1])
    redis.call('EXPIRE', KEYS[i], tonumber(redis.call('HGET', KEYS[i], 'ttl')) + tonumber(ARGV[2]))
    if redis.call('EXISTS', KEYS[i + 2]) == 1 then out[#out + 1] = KEYS[i] end
  else
    out[#out + 1] = KEYS[i]
  end
end
return out
)";

// One connection per I/O thread and store.
thread_local std::map<const redis_store*, std::unique_ptr<redis_client>> clients;

[[noreturn]] void bad_reply(const redis_reply& r) {
    throw store_unavailable("redis: unexpected reply" +
                            (r.type == redis_reply::kind::error ? ": " + r.str : std::string()));
}

}  // namespace

redis_store::redis_store(const config::redis_config& cfg) : cfg_(cfg) {}

redis_store::~redis_store() = default;

std::string redis_store::key(std::string_view kind, std::string_view id) const {
    std::string k = cfg_.key_prefix;
    k += kind;
    k += ':';
    k += id;
    return k;
}

net::awaitable<redis_client*> redis_store::client() {
    auto& slot = clients[this];
    if (!slot) {
        auto ex = co_await net::this_coro::executor;
        auto& ioc = static_cast<net::io_context&>(net::query(ex, net::execution::context));
        slot = std::make_unique<redis_client>(ioc, cfg_);
    }
    co_return slot.get();
}

net::awaitable<job_store::created> redis_store::create(const job_record& r,
                                                       std::chrono::seconds ttl,
                                                       std::string idempotency_key) {
    auto* c = co_await client();
    const auto lease_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.lease);
    const auto keep = ttl + 3 * std::chrono::duration_cast<std::chrono::seconds>(cfg_.lease) +
                      std::chrono::seconds(1);
    std::string idem =
        idempotency_key.empty() ? std::string() : key("idem", r.route + ":" + idempotency_key);
    std::vector<std::string> cmd{"EVAL",
                                 std::string(create_script),
                                 "3",
                                 key("job", r.id),
                                 key("lease", r.id),
                                 idem,
                                 r.id,
                                 to_json(r).dump(),
                                 std::to_string(keep.count()),
                                 std::to_string(lease_ms.count()),
                                 std::to_string(ttl.count())};
    auto reply = co_await c->command(std::move(cmd));
    if (reply.type != redis_reply::kind::array || reply.elements.size() != 2) bad_reply(reply);
    co_return created{reply.elements[1].str, reply.elements[0].integer == 1};
}

net::awaitable<std::optional<job_record>> redis_store::settle(std::string id,
                                                              const redis_reply& r) {
    if (r.type == redis_reply::kind::nil) co_return std::nullopt;
    if (r.type != redis_reply::kind::array || r.elements.size() != 3) bad_reply(r);
    job_record rec;
    try {
        rec = record_from_json(nlohmann::json::parse(r.elements[1].str));
    } catch (const std::exception& e) {
        throw store_unavailable(std::string("redis: a record edged cannot read: ") + e.what());
    }
    if (auto s = parse_state(r.elements[0].str)) rec.state = *s;
    if (finished(rec.state) || r.elements[2].integer == 1) co_return rec;
    // Unfinished and no lease: its replica is gone.
    job_record lost = rec;
    lost.state = job_state::failed;
    lost.finished_at = wall_clock::now();
    lost.error =
        "the replica running this job stopped renewing its lease (it crashed or was killed)";
    auto* c = co_await client();
    std::vector<std::string> cmd{"EVAL",         std::string(lost_script), "2",
                                 key("job", id), key("lease", id),         to_json(lost).dump()};
    auto reply = co_await c->command(std::move(cmd));
    if (reply.type == redis_reply::kind::nil) co_return std::nullopt;
    if (reply.type != redis_reply::kind::array || reply.elements.size() != 3) bad_reply(reply);
    auto now = record_from_json(nlohmann::json::parse(reply.elements[1].str));
    co_return now;
}

net::awaitable<std::optional<job_record>> redis_store::get(std::string id) {
    auto* c = co_await client();
    std::vector<std::string> cmd{"EVAL", std::string(get_script), "2", key("job", id),
                                 key("lease", id)};
    auto reply = co_await c->command(std::move(cmd));
    co_return co_await settle(std::move(id), reply);
}

net::awaitable<bool> redis_store::update(const job_record& r, std::chrono::seconds) {
    auto* c = co_await client();
    std::vector<std::string> cmd{"EVAL",
                                 std::string(update_script),
                                 "2",
                                 key("job", r.id),
                                 key("lease", r.id),
                                 std::string(to_string(r.state)),
                                 to_json(r).dump(),
                                 finished(r.state) ? "1" : "0"};
    auto reply = co_await c->command(std::move(cmd));
    if (reply.type != redis_reply::kind::integer) bad_reply(reply);
    co_return reply.integer == 1;
}

net::awaitable<std::optional<job_record>> redis_store::request_cancel(std::string id) {
    auto* c = co_await client();
    const auto life = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.lease) * 10;
    std::vector<std::string> cmd{"EVAL",
                                 std::string(cancel_script),
                                 "3",
                                 key("job", id),
                                 key("lease", id),
                                 key("cancel", id),
                                 std::to_string(life.count())};
    auto reply = co_await c->command(std::move(cmd));
    co_return co_await settle(std::move(id), reply);
}

net::awaitable<std::vector<std::string>> redis_store::renew(std::vector<std::string> ids) {
    std::vector<std::string> stop;
    if (ids.empty()) co_return stop;
    auto* c = co_await client();
    std::vector<std::string> args{"EVAL", std::string(renew_script),
                                  std::to_string(ids.size() * 3)};
    for (const auto& id : ids) {
        args.push_back(key("job", id));
        args.push_back(key("lease", id));
        args.push_back(key("cancel", id));
    }
    const auto lease_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.lease);
    args.push_back(std::to_string(lease_ms.count()));
    args.push_back(std::to_string(
        3 * std::chrono::duration_cast<std::chrono::seconds>(cfg_.lease).count() + 1));
    auto reply = co_await c->command(std::move(args));
    if (reply.type != redis_reply::kind::array) bad_reply(reply);
    const std::string prefix = key("job", "");
    for (const auto& e : reply.elements)
        if (e.str.starts_with(prefix)) stop.push_back(e.str.substr(prefix.size()));
    co_return stop;
}

net::awaitable<std::optional<job_record>> redis_store::wait(
    std::string id, std::chrono::steady_clock::time_point deadline,
    net::io_context::executor_type io) {
    // Polls: a job may end on any replica. Every 100 ms, then up to every 500 ms.
    auto every = std::chrono::milliseconds(100);
    net::steady_timer timer(io);
    for (;;) {
        auto rec = co_await get(id);
        if (!rec || finished(rec->state) || std::chrono::steady_clock::now() >= deadline)
            co_return rec;
        timer.expires_at(std::min(deadline, std::chrono::steady_clock::now() + every));
        auto [ec] = co_await timer.async_wait(token);
        if (ec) co_return rec;  // cancelled
        every = std::min(every * 2, std::chrono::milliseconds(500));
    }
}

}  // namespace edged::server::jobs

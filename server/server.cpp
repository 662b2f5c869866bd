#include "server/server.hpp"

#include <stdexcept>
#include <thread>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "lifecycle/log.hpp"
#include "server/io_thread.hpp"
#include "server/jobs/memory_store.hpp"
#include "server/jobs/redis_store.hpp"

namespace edged::server {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

tcp::endpoint to_endpoint(const config::listen_address& addr) {
    error_code ec;
    auto ip = net::ip::make_address(addr.host, ec);
    if (ec) throw std::invalid_argument("invalid listen address " + addr.text);
    return {ip, addr.port};
}

namespace {

// A job service when some route has a job handler: jobs.store names where the jobs live.
std::unique_ptr<jobs::job_service> make_job_service(const config::config& cfg) {
    const bool wanted = std::any_of(cfg.routes.begin(), cfg.routes.end(), [](const auto& r) {
        return std::holds_alternative<config::job_handler>(r.handler);
    });
    if (!wanted) return nullptr;
    std::unique_ptr<jobs::job_store> store;
    if (cfg.jobs.store == "redis")
        store = std::make_unique<jobs::redis_store>(cfg.jobs.redis);
    else
        store = std::make_unique<jobs::memory_store>();
    return std::make_unique<jobs::job_service>(cfg.jobs, std::move(store));
}

}  // namespace

server::server(config::config cfg)
    : cfg_(std::move(cfg)),
      threads_(cfg_.server.threads ? cfg_.server.threads
                                   : std::max(1u, std::thread::hardware_concurrency())),
      jobs_(make_job_service(cfg_)),
      routes_(std::make_shared<router>(cfg_, jobs_.get())),
      control_(1),
      admin_(control_, state_.ready, [this] { return stats(); }),
      admin_listener_(control_, "admin"),
      gates_closed_(control_) {}

server::~server() {
    for (auto& t : io_threads_) t->stop();
    if (pool_) pool_->stop();
}

void server::set_handler(std::string_view route, std::unique_ptr<lifecycle::handler> h) {
    if (!io_threads_.empty()) throw std::logic_error("set_handler after start");
    routes_->set_handler(route, std::move(h));
}

void server::start() {
    const auto& wp = cfg_.worker_pool;
    pool_ = std::make_unique<lifecycle::worker_pool>(lifecycle::worker_pool::settings{
        wp.min_threads, wp.max_threads, wp.idle_timeout, wp.queue, wp.nice});
    for (unsigned i = 0; i < threads_; ++i)
        io_threads_.push_back(
            std::make_unique<io_thread>(cfg_, routes_, state_, *pool_, jobs_.get()));

    const auto bind = [](auto&& fn, const std::string& what) {
        try {
            return fn();
        } catch (const boost::system::system_error& e) {
            throw std::runtime_error("cannot listen on " + what + ": " + e.code().message());
        }
    };
    for (const auto& addr : cfg_.server.listen) {
        tcp::endpoint ep = to_endpoint(addr);
        // Port 0: the first thread picks the port, the others join it with SO_REUSEPORT.
        tcp::endpoint bound = bind([&] { return io_threads_[0]->listen(ep); }, addr.text);
        for (unsigned i = 1; i < threads_; ++i)
            bind([&] { return io_threads_[i]->listen(bound); }, addr.text);
        endpoints_.push_back(bound);
    }
    admin_endpoint_ =
        bind([&] { return admin_listener_.open(to_endpoint(cfg_.admin.listen), false); },
             cfg_.admin.listen.text);

    guard_.emplace(control_.get_executor());
    state_.ready = true;
    admin_listener_.start([this](tcp::socket s, tcp::endpoint) { admin_.serve(std::move(s)); });
    for (auto& t : io_threads_) t->start();
    for (const auto& ep : endpoints_) {
        lifecycle::log::event("listening")
            .str("address", ep.address().to_string())
            .unum("port", ep.port())
            .unum("threads", threads_)
            .info();
    }
    lifecycle::log::event("admin listening")
        .str("address", admin_endpoint_.address().to_string())
        .unum("port", admin_endpoint_.port())
        .info();
}

void server::run() {
    control_.run();
}

void server::shutdown() {
    if (shutdown_requested_.exchange(true)) return;
    net::post(control_, [this] {
        net::co_spawn(control_, shut_down(), lifecycle::log::on_failure("shutdown failed"));
    });
}

net::awaitable<void> server::shut_down() {
    using namespace boost::asio::experimental::awaitable_operators;
    constexpr auto token = net::as_tuple(net::use_awaitable);
    const auto started = std::chrono::steady_clock::now();
    const auto grace_end = started + cfg_.shutdown.grace;

    // 1. Readiness turns 503: the load balancer stops sending new connections.
    state_.ready = false;
    const auto tasks_at_start = lifecycle::mark_shutdown(state_.tasks);
    const auto pool_at_start = pool_->get_stats();
    lifecycle::log::event("shutdown started")
        .str("drain_delay", config::format_duration(cfg_.shutdown.drain_delay))
        .str("grace", config::format_duration(cfg_.shutdown.grace))
        .unum("open_connections", state_.open_connections.load())
        .unum("unfinished_jobs", jobs_ ? jobs_->unfinished_here() : 0)
        .info();

    // 2. After the drain delay (never past the grace): every I/O thread closes its listeners and
    //    its gate. Each reports here when its gate is empty.
    net::steady_timer delay(control_, std::min(started + cfg_.shutdown.drain_delay, grace_end));
    co_await delay.async_wait(token);
    lifecycle::log::event("listeners closed; draining connections")
        .unum("open_connections", state_.open_connections.load())
        .info();
    open_gates_ = io_threads_.size();
    gates_closed_.expires_at(std::chrono::steady_clock::time_point::max());
    for (auto& t : io_threads_) {
        t->shut_down([this] {
            net::post(control_, [this] {
                if (--open_gates_ == 0) gates_closed_.cancel();
            });
        });
    }

    // 3. Wait for every gate, or for the end of the grace. (The reports above are posted to this
    //    thread, so none can arrive before the wait has started.)
    net::steady_timer grace(control_, grace_end);
    auto first = co_await (gates_closed_.async_wait(token) || grace.async_wait(token));
    if (first.index() == 1) {
        summary_.graceful = false;
        summary_.connections_forced = state_.open_connections.load();
        lifecycle::log::event("shutdown grace exceeded; closing connections, cancelling jobs")
            .unum("open_connections", summary_.connections_forced)
            .unum("unfinished_jobs", jobs_ ? jobs_->unfinished_here() : 0)
            .warn();
    }

    // 4. Stop: each I/O thread closes what is left, cancels its tasks (and the offloaded work
    //    they await) and is joined; then the worker pool.
    admin_listener_.close();
    for (auto& t : io_threads_) t->stop();
    pool_->stop();

    // 5. The summary; the lifecycle side tallies its tasks.
    const auto tasks = lifecycle::tally_shutdown(state_.tasks, tasks_at_start);
    summary_.tasks_pending = tasks.pending;
    summary_.tasks_drained = tasks.drained;
    summary_.tasks_cancelled = tasks.cancelled;
    const auto pool_at_end = pool_->get_stats();
    summary_.offload_queued = pool_at_start.queued;
    summary_.offload_running = pool_at_start.busy;
    summary_.offload_completed = pool_at_end.completed - pool_at_start.completed;
    summary_.offload_failed = pool_at_end.failed - pool_at_start.failed;
    // A timed-out item is cancelled by the pool itself (queue_timeout, run_timeout).
    summary_.offload_cancelled = pool_at_end.cancelled + pool_at_end.timed_out -
                                 pool_at_start.cancelled - pool_at_start.timed_out;
    summary_.requests = state_.requests.load();
    summary_.connections_accepted = state_.connections_accepted.load();
    summary_.connections_rejected = state_.connections_rejected.load();
    summary_.drain_time = duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
    guard_.reset();
    control_.stop();
}

nlohmann::json server::stats() const {
    nlohmann::json j = {
        {"ready", state_.ready.load()},
        {"open_connections", state_.open_connections.load()},
        {"connections_accepted", state_.connections_accepted.load()},
        {"connections_rejected", state_.connections_rejected.load()},
        {"requests", state_.requests.load()},
    };
    auto& tasks = j["tasks"];
    tasks["registered"] = state_.tasks.registered.load();
    tasks["running"] = state_.tasks.running.load();
    for (std::size_t i = 0; i < lifecycle::outcome_count; ++i) {
        auto o = static_cast<lifecycle::outcome>(i);
        tasks[std::string(lifecycle::to_string(o))] = state_.tasks.get(o);
    }
    if (jobs_) j["jobs"] = jobs_->stats();
    if (pool_) {
        const auto p = pool_->get_stats();
        j["worker_pool"] = {
            {"threads", p.threads},
            {"busy", p.busy},
            {"idle", p.idle},
            {"queued", p.queued},
            {"completed", p.completed},
            {"failed", p.failed},
            {"cancelled", p.cancelled},
            {"timed_out", p.timed_out},
            {"rejected", p.rejected},
            {"overrun", p.overrun},
            {"cpu_seconds", p.cpu_seconds},
        };
    }
    return j;
}

}  // namespace edged::server

#include "server/server.hpp"

#include <stdexcept>
#include <thread>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "config/to_json.hpp"
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
    : boot_(std::move(cfg)),
      threads_(boot_.server.threads ? boot_.server.threads
                                    : std::max(1u, std::thread::hardware_concurrency())),
      state_(threads_),
      jobs_(make_job_service(boot_)),
      current_(build(boot_, 1)),
      control_(1),
      admin_(control_, state_.ready, [this] { return snapshot(); }),
      admin_listener_(control_, "admin"),
      gates_closed_(control_) {}

server::~server() {
    for (auto& t : io_threads_) t->stop();
    if (pool_) pool_->stop();
}

std::shared_ptr<generation> server::build(config::config cfg, std::uint64_t number,
                                          const generation* before) {
    auto g =
        std::make_shared<generation>(std::move(cfg), number, jobs_.get(), &state_.routes, before);
    for (const auto& entry : overrides_) {
        const auto& route = entry.first;  // (not a structured binding: clang 15 cannot capture one)
        // A route a reload removed has no handler to replace.
        if (std::any_of(g->routes.routes().begin(), g->routes.routes().end(),
                        [&](const auto& r) { return r.name() == route; }))
            g->routes.set_handler(route, entry.second);
    }
    return g;
}

std::shared_ptr<const generation> server::current() const {
    std::lock_guard lock(current_mutex_);
    return current_;
}

void server::set_handler(std::string_view route, std::unique_ptr<lifecycle::handler> h) {
    if (!io_threads_.empty()) throw std::logic_error("set_handler after start");
    std::shared_ptr<lifecycle::handler> shared = std::move(h);
    current_->routes.set_handler(route, shared);  // throws for an unknown route
    overrides_.emplace_back(std::string(route), std::move(shared));
}

namespace {

// The value at a dotted key path ("server.listen") of the config as JSON.
const nlohmann::json& at_path(const nlohmann::json& j, std::string_view path) {
    static const nlohmann::json missing;
    const nlohmann::json* at = &j;
    while (!path.empty()) {
        const auto dot = path.find('.');
        const std::string key(path.substr(0, dot));
        if (!at->is_object() || !at->contains(key)) return missing;
        at = &(*at)[key];
        path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    }
    return *at;
}

// Gives `next` the running values of every restart key (server::restart_keys).
void keep_restart_keys(config::config& next, const config::config& running) {
    next.server.listen = running.server.listen;
    next.server.threads = running.server.threads;
    next.admin = running.admin;
    next.worker_pool = running.worker_pool;
    next.jobs = running.jobs;
    next.lifecycle.max_background_tasks = running.lifecycle.max_background_tasks;
    next.lifecycle.background_share = running.lifecycle.background_share;
}

}  // namespace

reload_result server::reload(const std::string& path) {
    try {
        return reload(config::load_file(path));
    } catch (const config::config_error& e) {
        reload_result r;
        r.errors = e.errors();
        r.generation = current()->number;
        ++reloads_error_;
        auto ev = lifecycle::log::event(
            "config reload refused: invalid config; the running "
            "config stays");
        ev.str("config", path).unum("generation", r.generation).unum("errors", r.errors.size());
        ev.error();
        for (const auto& err : r.errors)
            lifecycle::log::event("config error").str("config", path).str("error", err).error();
        return r;
    } catch (const std::exception& e) {
        reload_result r;
        r.errors = {e.what()};
        r.generation = current()->number;
        ++reloads_error_;
        lifecycle::log::event(
            "config reload refused: cannot read the config; the running "
            "config stays")
            .str("config", path)
            .str("error", e.what())
            .error();
        return r;
    }
}

reload_result server::reload(config::config next) {
    reload_result r;
    const nlohmann::json was = config::to_json(boot_);
    const nlohmann::json now = config::to_json(next);
    for (auto key : restart_keys)
        if (at_path(was, key) != at_path(now, key)) r.restart_needed.emplace_back(key);
    if (jobs_) {
        // Job routes' exchanges use the upstreams as they were at start (server/io_thread.hpp).
        for (const auto& route : next.routes) {
            const auto* job = std::get_if<config::job_handler>(&route.handler);
            if (!job) continue;
            const std::string key = "upstreams." + job->upstream;
            if (at_path(was, key) != at_path(now, key) &&
                std::find(r.restart_needed.begin(), r.restart_needed.end(), key) ==
                    r.restart_needed.end())
                r.restart_needed.push_back(key);
        }
    }
    keep_restart_keys(next, boot_);
    std::shared_ptr<generation> g;
    try {
        if (!jobs_) {
            for (std::size_t i = 0; i < next.routes.size(); ++i)
                if (std::holds_alternative<config::job_handler>(next.routes[i].handler))
                    throw std::runtime_error(
                        "routes[" + std::to_string(i) + "] (" + next.routes[i].name +
                        "): a job route needs the job service, which starts with the process; "
                        "restart edged to add the first one");
        }
        const auto serving = current();
        g = build(std::move(next), serving->number + 1, serving.get());
    } catch (const std::exception& e) {
        r.errors = {e.what()};
        r.generation = current()->number;
        r.restart_needed.clear();
        ++reloads_error_;
        lifecycle::log::event(
            "config reload refused: the config cannot be served; the running "
            "config stays")
            .str("error", e.what())
            .error();
        return r;
    }
    lifecycle::log::init(g->cfg.log.level);
    {
        std::lock_guard lock(current_mutex_);
        current_ = g;
    }
    ++reloads_ok_;
    r.ok = true;
    r.generation = g->number;
    // "config reloaded" is logged once every I/O thread serves its next request with `g`.
    auto announce = [number = g->number, routes = g->cfg.routes.size(),
                     restart = r.restart_needed] {
        auto ev = lifecycle::log::event("config reloaded");
        ev.unum("generation", number).unum("routes", routes);
        if (restart.empty()) {
            ev.info();
            return;
        }
        std::string keys;
        for (const auto& k : restart) keys += (keys.empty() ? "" : ", ") + k;
        ev.str("restart_needed", keys).str("note", "these keys keep their running values");
        ev.warn();
    };
    if (io_threads_.empty()) {
        announce();
        return r;
    }
    auto left = std::make_shared<std::size_t>(io_threads_.size());
    for (auto& t : io_threads_) {
        t->use(g, [this, left, announce] {
            net::post(control_, [left, announce] {
                if (--*left == 0) announce();
            });
        });
    }
    return r;
}

void server::start() {
    const auto& wp = boot_.worker_pool;
    pool_ = std::make_unique<lifecycle::worker_pool>(lifecycle::worker_pool::settings{
        wp.min_threads, wp.max_threads, wp.idle_timeout, wp.queue, wp.nice});
    const std::shared_ptr<const generation> g = current();
    for (unsigned i = 0; i < threads_; ++i)
        io_threads_.push_back(std::make_unique<io_thread>(i, g, state_, *pool_, jobs_.get()));

    const auto bind = [](auto&& fn, const std::string& what) {
        try {
            return fn();
        } catch (const boost::system::system_error& e) {
            throw std::runtime_error("cannot listen on " + what + ": " + e.code().message());
        }
    };
    for (const auto& addr : boot_.server.listen) {
        tcp::endpoint ep = to_endpoint(addr);
        // Port 0: the first thread picks the port, the others join it with SO_REUSEPORT.
        tcp::endpoint bound = bind([&] { return io_threads_[0]->listen(ep); }, addr.text);
        for (unsigned i = 1; i < threads_; ++i)
            bind([&] { return io_threads_[i]->listen(bound); }, addr.text);
        endpoints_.push_back(bound);
    }
    admin_endpoint_ =
        bind([&] { return admin_listener_.open(to_endpoint(boot_.admin.listen), false); },
             boot_.admin.listen.text);

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
    const auto started = std::chrono::steady_clock::now();
    const config::shutdown_config cfg = current()->cfg.shutdown;  // as the last reload left it
    const auto grace_end = started + cfg.grace;

    // 1. Readiness turns 503: the load balancer stops sending new connections.
    state_.ready = false;
    const auto tasks_at_start = lifecycle::mark_shutdown(snapshot().tasks);
    const auto pool_at_start = pool_->get_stats();
    lifecycle::log::event("shutdown started")
        .str("drain_delay", config::format_duration(cfg.drain_delay))
        .str("grace", config::format_duration(cfg.grace))
        .unum("open_connections", state_.open_connections.load())
        .unum("unfinished_jobs", jobs_ ? jobs_->unfinished_here() : 0)
        .info();

    // 2. After the drain delay (never past the grace): every I/O thread closes its listeners and
    //    its gate. Each reports here when its gate is empty.
    net::steady_timer delay(control_, std::min(started + cfg.drain_delay, grace_end));
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
    const figures end = snapshot();
    const auto tasks = lifecycle::tally_shutdown(end.tasks, tasks_at_start);
    summary_.tasks_pending = tasks.pending;
    summary_.tasks_drained = tasks.drained;
    summary_.tasks_cancelled = tasks.cancelled;
    const auto pool_at_end = pool_->get_stats();
    summary_.offload_queued = pool_at_start.queued;
    summary_.offload_running = pool_at_start.busy;
    summary_.offload_submitted = pool_at_end.submitted - pool_at_start.submitted;
    summary_.offload_completed = pool_at_end.completed - pool_at_start.completed;
    summary_.offload_failed = pool_at_end.failed - pool_at_start.failed;
    // A timed-out item is cancelled by the pool itself (queue_timeout, run_timeout).
    summary_.offload_cancelled = pool_at_end.cancelled + pool_at_end.timed_out -
                                 pool_at_start.cancelled - pool_at_start.timed_out;
    summary_.requests = end.requests();
    summary_.connections_accepted = end.connections_accepted;
    summary_.connections_rejected = end.connections_rejected;
    summary_.drain_time = duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
    guard_.reset();
    control_.stop();
}

figures server::snapshot() const {
    figures f;
    f.ready = state_.ready.load();
    const auto gen = current();
    f.generation = gen->number;
    f.connections_active = state_.open_connections.load();
    for (const auto& t : io_threads_) {
        const io_figures& io = t->figures();
        f.connections_accepted += io.accepted.get();
        f.connections_rejected += io.rejected.get();
        f.connections_evicted += io.evicted.get();
        f.tasks.add(io.tasks);
    }
    // A route's figures, every thread's slot summed; a thread not started has counted nothing.
    state_.routes.each([&](const lifecycle::route_metrics& m) {
        route_figures r;
        r.name = m.name();
        for (std::size_t i = 0; i < m.threads(); ++i) r.add(m.at(i));
        f.routes.push_back(std::move(r));
    });
    state_.upstreams.each([&](const upstream_metrics& m) {
        upstream_figures u;
        u.name = m.name();
        for (std::size_t i = 0; i < m.threads(); ++i) u.add(m.at(i));
        if (auto table = gen->addresses.find(u.name)) {
            const auto now = address_table::clock::now();
            for (const auto& e : *table->addresses()) {
                upstream_figures::address a;
                a.text = e->text;
                if (!e->checked_healthy.load(std::memory_order_relaxed))
                    a.state = "unhealthy";
                else
                    a.state = address_table::usable(*e, now) ? "healthy" : "ejected";
                a.ejections = e->ejections.load(std::memory_order_relaxed);
                a.failures = e->failures.load(std::memory_order_relaxed);
                u.addresses.push_back(std::move(a));
            }
            u.lookup_error = table->lookup_error();
        }
        f.upstreams.push_back(std::move(u));
    });
    if (pool_) f.pool = pool_->get_stats();
    if (jobs_) {
        auto& c = jobs_->count();
        job_figures j;
        j.store = jobs_->cfg().store;
        j.pending = c.pending.load();
        j.running = c.running.load();
        j.unfinished = jobs_->unfinished_here();
        j.submitted = c.submitted.load();
        j.replayed = c.replayed.load();
        j.rejected = c.rejected.load();
        j.succeeded = c.succeeded.load();
        j.failed = c.failed.load();
        j.cancelled = c.cancelled.load();
        j.store_errors = c.store_errors.load();
        f.jobs = j;
    }
    f.reloads_ok = reloads_ok_.load();
    f.reloads_error = reloads_error_.load();
    return f;
}

}  // namespace edged::server

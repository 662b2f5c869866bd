#include "server/io_thread.hpp"

#include "lifecycle/log.hpp"

namespace edged::server {
namespace {

// Sent to a connection accepted over max_connections, then the socket is closed.
constexpr std::string_view over_capacity =
    "HTTP/1.1 503 Service Unavailable\r\nServer: edged\r\nContent-Type: text/plain\r\n"
    "Content-Length: 20\r\nRetry-After: 1\r\nConnection: close\r\n\r\nserver at capacity\r\n";

}  // namespace

io_thread::io_thread(std::size_t index, std::shared_ptr<const generation> boot, server_state& state,
                     lifecycle::worker_pool& pool, jobs::job_service* jobs)
    : index_(index),
      state_(state),
      server_cfg_(boot->cfg.server),
      host_(ioc_, server_cfg_, dispatch_, gate_, state.open_connections),
      ioc_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      runtime_(std::make_unique<lifecycle::runtime>(
          ioc_, figures_.tasks, boot->cfg.lifecycle.max_background_tasks,
          lifecycle::system_clock_source::instance(), boot->cfg.lifecycle.background_share, &gate_,
          &state.tasks)),
      boot_(boost::make_local_shared<thread_generation>(ioc_, boot, &state.upstreams, index)),
      jobs_(jobs ? std::make_unique<jobs::job_worker>(ioc_, boot_->upstreams, gate_, *jobs)
                 : nullptr),
      checks_(ioc_),
      dispatch_(*runtime_, state),
      sweep_(ioc_) {
    runtime_->set_stats(index, state.unrouted);
    runtime_->set_fetcher(&boot_->upstreams);
    runtime_->set_worker_pool(&pool, boot->cfg.worker_pool);
    dispatch_.use(boot_);
}

void io_thread::use(std::shared_ptr<const generation> g, std::function<void()> done) {
    net::post(ioc_, [this, g = std::move(g), done = std::move(done)]() mutable {
        auto next = boost::make_local_shared<thread_generation>(ioc_, std::move(g),
                                                                &state_.upstreams, index_);
        // server.listen and server.threads need a restart; the rest of server.* applies to the
        // next request read, on old connections and new.
        auto listen = std::move(server_cfg_.listen);
        auto threads = server_cfg_.threads;
        server_cfg_ = next->shared->cfg.server;
        server_cfg_.listen = std::move(listen);
        server_cfg_.threads = threads;
        runtime_->set_fetcher(&next->upstreams);
        if (index_ == 0) checks_.start(next->shared->addresses);
        dispatch_.use(std::move(next));
        if (done) done();
    });
}

io_thread::~io_thread() {
    stop();
}

tcp::endpoint io_thread::listen(const tcp::endpoint& ep) {
    auto l = std::make_unique<listener>(ioc_, "public");
    tcp::endpoint bound = l->open(ep, true);
    listeners_.push_back(std::move(l));
    return bound;
}

void io_thread::start() {
    guard_.emplace(ioc_.get_executor());
    if (index_ == 0) checks_.start(boot_->shared->addresses);
    for (auto& l : listeners_)
        l->start([this](tcp::socket s, tcp::endpoint peer) { on_accept(std::move(s), peer); });
    thread_ = std::thread([this] {
        if (jobs_) jobs_->bind_to_this_thread();
        ioc_.run();
    });
}

void io_thread::on_accept(tcp::socket socket, tcp::endpoint peer) {
    // Shutting down (the gate may already be closed): nothing new may enter.
    if (host_.shutting_down || stopping_) return;  // the socket closes as it goes
    figures_.accepted.add();
    if (state_.open_connections.fetch_add(1, std::memory_order_relaxed) >=
        server_cfg_.limits.max_connections) {
        // Full: a connection of this thread still waiting for a request head (the one waiting
        // longest) gives way. Its slot is counted free when its session ends, a moment later:
        // until then the count is over the limit by the evictions under way.
        if (session::evict_one(host_)) {
            figures_.evicted.add();
        } else {
            state_.open_connections.fetch_sub(1, std::memory_order_relaxed);
            reject(std::move(socket));
            return;
        }
    }
    auto s = std::make_shared<session>(host_, std::move(socket), peer);
    sessions_.push_back(*s);
    if (!sweeping_) {
        // The sweep sleeps while there is no session: its clock is stale.
        host_.coarse_now = session_host::clock::now();
        arm_sweep();
    }
    s->start();
}

void io_thread::reject(tcp::socket socket) {
    figures_.rejected.add();
    // A fresh socket's send buffer takes these bytes at once; never wait on an over-capacity peer.
    error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(net::buffer(over_capacity.data(), over_capacity.size()), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
}

void io_thread::arm_sweep() {
    sweeping_ = true;
    sweep_.expires_after(session_host::sweep_interval);
    sweep_.async_wait([this](error_code ec) {
        // cancel() cannot recall a handler whose timer had already expired: without the flag, a
        // sweep queued just before stop() would re-arm and keep the thread alive forever.
        if (ec || stopping_) return;
        const auto now = session_host::clock::now();
        host_.coarse_now = now;
        // on_tick may close a socket but never destroys a session synchronously (its coroutine
        // still holds it), so iterating the list is safe.
        for (auto& s : sessions_) s.on_tick(now);
        // With no session left there is no deadline to watch: an idle thread sleeps until the
        // next accept re-arms the sweep.
        if (sessions_.empty())
            sweeping_ = false;
        else
            arm_sweep();
    });
}

void io_thread::shut_down(std::function<void()> on_closed) {
    net::post(ioc_, [this, on_closed = std::move(on_closed)]() mutable {
        if (host_.shutting_down || stopping_) return;
        host_.shutting_down = true;
        for (auto& l : listeners_) l->close();
        for (auto& s : sessions_) s.shut_down();
        gate_.close(std::move(on_closed));
    });
}

void io_thread::stop() {
    if (!thread_.joinable()) return;
    net::post(ioc_, [this] {
        stopping_ = true;
        gate_.forget();
        sweep_.cancel();
        checks_.stop();
        for (auto& l : listeners_) l->close();
        runtime_->cancel_all(lifecycle::outcome::cancelled_shutdown);
        if (jobs_) jobs_->cancel_all();  // their final writes still run before the loop ends
        for (auto& s : sessions_) s.close_now();
        guard_.reset();
    });
    thread_.join();
}

}  // namespace edged::server

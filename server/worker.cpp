#include "server/worker.hpp"

#include <sys/socket.h>

#include "lifecycle/log.hpp"

namespace edged::server {
namespace {

using namespace std::chrono_literals;

// Sent to a connection accepted over max_connections, then the socket is closed.
constexpr std::string_view over_capacity =
    "HTTP/1.1 503 Service Unavailable\r\nServer: edged\r\nContent-Type: text/plain\r\n"
    "Content-Length: 20\r\nRetry-After: 1\r\nConnection: close\r\n\r\nserver at capacity\r\n";

}  // namespace

worker::worker(unsigned index, const config::config& cfg, std::shared_ptr<const router> routes,
               server_state& state)
    : index_(index),
      cfg_(cfg),
      routes_(std::move(routes)),
      state_(state),
      default_limits_(lifecycle_limits_of(cfg.lifecycle)),
      ids_(lifecycle::id_generator::seeded()),
      ioc_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      runtime_(std::make_unique<lifecycle::runtime>(
          ioc_, state.tasks, cfg.lifecycle.max_background_tasks,
          lifecycle::system_clock_source::instance(), cfg.lifecycle.background_share)),
      upstreams_(std::make_unique<upstream_set>(ioc_, cfg)),
      sweep_(ioc_) {
    runtime_->set_fetcher(upstreams_.get());
    runtime_->on_idle([this] {
        if (draining_) net::post(ioc_, [this] { check_drained(); });
    });
}

worker::~worker() {
    stop();
}

tcp::endpoint worker::listen(const tcp::endpoint& ep) {
    auto acceptor = std::make_unique<tcp::acceptor>(ioc_);
    acceptor->open(ep.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    int one = 1;
    if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        throw boost::system::system_error(errno, boost::system::system_category(),
                                          "setsockopt(SO_REUSEPORT)");
    if (ep.address().is_v6()) acceptor->set_option(net::ip::v6_only(true));
    acceptor->bind(ep);
    acceptor->listen(net::socket_base::max_listen_connections);
    tcp::endpoint bound = acceptor->local_endpoint();
    acceptors_.push_back(std::move(acceptor));
    return bound;
}

void worker::start(std::function<void()> on_drained) {
    on_drained_ = std::move(on_drained);
    guard_.emplace(ioc_.get_executor());
    for (auto& a : acceptors_) {
        net::co_spawn(ioc_, accept_loop(*a), [this](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                lifecycle::log::event("accept loop failed").str("error", ex.what()).error();
            }
        });
    }
    thread_ = std::thread([this] { ioc_.run(); });
}

net::awaitable<void> worker::accept_loop(tcp::acceptor& acceptor) {
    const auto max_connections = cfg_.server.limits.max_connections;
    for (;;) {
        // Accepting into an endpoint saves a getpeername(2) per connection.
        tcp::socket socket(ioc_);
        tcp::endpoint peer;
        auto [ec] = co_await acceptor.async_accept(socket, peer, net::as_tuple(net::use_awaitable));
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
            // EMFILE and friends: log, back off briefly, go on accepting.
            lifecycle::log::event("accept failed").str("error", ec.message()).warn();
            net::steady_timer pause(ioc_, 50ms);
            co_await pause.async_wait(net::as_tuple(net::use_awaitable));
            continue;
        }
        state_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
        if (state_.open_connections.fetch_add(1, std::memory_order_relaxed) >= max_connections) {
            state_.open_connections.fetch_sub(1, std::memory_order_relaxed);
            reject(std::move(socket));
            continue;
        }
        auto conn = std::make_shared<connection>(*this, std::move(socket), peer);
        connections_.push_back(*conn);
        if (!sweeping_) {
            // The sweep sleeps while there is no connection: its clock is stale.
            coarse_now_ = connection::clock::now();
            arm_sweep();
        }
        conn->start();
    }
}

void worker::reject(tcp::socket socket) {
    state_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
    // A fresh socket's send buffer takes these bytes at once; never wait on an over-capacity peer.
    error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(net::buffer(over_capacity.data(), over_capacity.size()), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
}

void worker::connection_closed() {
    state_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    if (draining_) net::post(ioc_, [this] { check_drained(); });
}

void worker::arm_sweep() {
    sweeping_ = true;
    sweep_.expires_after(sweep_interval);
    sweep_.async_wait([this](error_code ec) {
        // cancel() cannot recall a handler whose timer had already expired: without the flag, a
        // sweep queued just before stop() would re-arm and keep the thread alive forever.
        if (ec || stopping_) return;
        const auto now = connection::clock::now();
        coarse_now_ = now;
        // on_tick may close a socket but never destroys a connection synchronously (its
        // coroutine still holds it), so iterating the list is safe.
        for (auto& c : connections_) c.on_tick(now);
        // With no connection left there is no deadline to watch: an idle thread sleeps until
        // the next accept re-arms the sweep.
        if (connections_.empty())
            sweeping_ = false;
        else
            arm_sweep();
    });
}

void worker::begin_drain() {
    net::post(ioc_, [this] {
        if (draining_) return;
        draining_ = true;
        for (auto& a : acceptors_) {
            error_code ec;
            a->close(ec);
        }
        for (auto& c : connections_) c.drain();
        check_drained();
    });
}

void worker::force_close() {
    net::post(ioc_, [this] {
        runtime_->cancel_all(lifecycle::outcome::cancelled_shutdown);
        for (auto& c : connections_) c.close_now();
    });
}

void worker::check_drained() {
    if (!draining_ || drained_notified_ || !connections_.empty() || runtime_->draining() > 0)
        return;
    drained_notified_ = true;
    if (on_drained_) on_drained_();
}

void worker::stop() {
    if (!thread_.joinable()) return;
    net::post(ioc_, [this] {
        drained_notified_ = true;
        stopping_ = true;
        error_code ec;
        sweep_.cancel();
        for (auto& a : acceptors_) a->close(ec);
        runtime_->cancel_all(lifecycle::outcome::cancelled_shutdown);
        for (auto& c : connections_) c.close_now();
        guard_.reset();
    });
    thread_.join();
}

}  // namespace edged::server

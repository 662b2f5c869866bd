#include "server/server.hpp"

#include <stdexcept>
#include <thread>

#include "lifecycle/log.hpp"
#include "server/worker.hpp"

namespace edged::server {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

tcp::endpoint to_endpoint(const config::listen_address& addr) {
    error_code ec;
    auto ip = net::ip::make_address(addr.host, ec);
    if (ec) throw std::invalid_argument("invalid listen address " + addr.text);
    return {ip, addr.port};
}

server::server(config::config cfg)
    : cfg_(std::move(cfg)),
      threads_(cfg_.server.threads ? cfg_.server.threads
                                   : std::max(1u, std::thread::hardware_concurrency())),
      routes_(std::make_shared<router>(cfg_)),
      control_(1),
      admin_(control_, state_),
      drain_timer_(control_),
      grace_timer_(control_) {}

server::~server() {
    for (auto& w : workers_) w->stop();
}

void server::set_handler(std::string_view route, std::unique_ptr<lifecycle::handler> h) {
    if (!workers_.empty()) throw std::logic_error("set_handler after start");
    routes_->set_handler(route, std::move(h));
}

void server::start() {
    for (unsigned i = 0; i < threads_; ++i)
        workers_.push_back(std::make_unique<worker>(i, cfg_, routes_, state_));

    const auto bind = [](auto&& fn, const std::string& what) {
        try {
            return fn();
        } catch (const boost::system::system_error& e) {
            throw std::runtime_error("cannot listen on " + what + ": " + e.code().message());
        }
    };
    for (const auto& addr : cfg_.server.listen) {
        tcp::endpoint ep = to_endpoint(addr);
        // Port 0: the first worker picks the port, the others join it with SO_REUSEPORT.
        tcp::endpoint bound = bind([&] { return workers_[0]->listen(ep); }, addr.text);
        for (unsigned i = 1; i < threads_; ++i)
            bind([&] { return workers_[i]->listen(bound); }, addr.text);
        endpoints_.push_back(bound);
    }
    admin_endpoint_ =
        bind([&] { return admin_.listen(to_endpoint(cfg_.admin.listen)); }, cfg_.admin.listen.text);

    guard_.emplace(control_.get_executor());
    state_.ready = true;
    admin_.start();
    for (auto& w : workers_) {
        w->start([this] { net::post(control_, [this] { on_worker_drained(); }); });
    }
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
        shutdown_started_ = std::chrono::steady_clock::now();
        state_.ready = false;
        summary_.tasks_pending = static_cast<std::uint64_t>(state_.tasks.running.load());
        tasks_ended_at_start_ =
            state_.tasks.ended() - state_.tasks.get(lifecycle::outcome::rejected_overflow);
        tasks_cancelled_at_start_ = state_.tasks.get(lifecycle::outcome::cancelled_shutdown);
        lifecycle::log::event("shutdown started")
            .str("drain_delay", config::format_duration(cfg_.shutdown.drain_delay))
            .str("grace", config::format_duration(cfg_.shutdown.grace))
            .unum("open_connections", state_.open_connections.load())
            .info();
        const auto grace = cfg_.shutdown.grace;
        const auto delay = std::min(cfg_.shutdown.drain_delay, grace);
        drain_timer_.expires_after(delay);
        drain_timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            lifecycle::log::event("listeners closed; draining connections")
                .unum("open_connections", state_.open_connections.load())
                .info();
            for (auto& w : workers_) w->begin_drain();
        });
        grace_timer_.expires_after(grace);
        grace_timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            summary_.graceful = false;
            summary_.connections_forced = state_.open_connections.load();
            lifecycle::log::event("shutdown grace exceeded; closing connections")
                .unum("open_connections", summary_.connections_forced)
                .warn();
            finish();
        });
    });
}

void server::on_worker_drained() {
    if (++drained_workers_ == workers_.size()) finish();
}

void server::finish() {
    if (finished_) return;
    finished_ = true;
    drain_timer_.cancel();
    grace_timer_.cancel();
    admin_.stop();
    for (auto& w : workers_) w->stop();  // closes what is left, joins
    summary_.requests = state_.requests.load();
    summary_.tasks_cancelled =
        state_.tasks.get(lifecycle::outcome::cancelled_shutdown) - tasks_cancelled_at_start_;
    // Tasks that ended on their own (completed, failed, or over their own budgets) since the
    // signal; rejections are not tasks that ran.
    summary_.tasks_drained = state_.tasks.ended() -
                             state_.tasks.get(lifecycle::outcome::rejected_overflow) -
                             tasks_ended_at_start_ - summary_.tasks_cancelled;
    summary_.connections_accepted = state_.connections_accepted.load();
    summary_.connections_rejected = state_.connections_rejected.load();
    summary_.drain_time =
        duration_cast<milliseconds>(std::chrono::steady_clock::now() - shutdown_started_);
    guard_.reset();
    control_.stop();
}

}  // namespace edged::server

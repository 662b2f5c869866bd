#include "server/upstream/health_check.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "lifecycle/log.hpp"

namespace edged::server {

struct health_checker::probe_state {
    explicit probe_state(net::io_context& ioc) : socket(ioc), timer(ioc) {}
    tcp::socket socket;
    net::steady_timer timer;
    bool stopped = false;
};

namespace {

using namespace boost::asio::experimental::awaitable_operators;
using clock = std::chrono::steady_clock;

// One probe: connect, GET, read the status line and header; true for 2xx and 3xx.
net::awaitable<bool> exchange(tcp::socket& socket, const tcp::endpoint& to,
                              const std::string& request) {
    if (auto [ec] = co_await socket.async_connect(to, token); ec) co_return false;
    if (auto [ec, n] = co_await net::async_write(socket, net::buffer(request), token); ec)
        co_return false;
    beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    parser.skip(true);  // the head is enough
    if (auto [ec, n] = co_await http::async_read_header(socket, buffer, parser, token); ec)
        co_return false;
    const unsigned status = parser.get().result_int();
    co_return status >= 200 && status < 400;
}

net::awaitable<bool> probe(health_checker::probe_state& st, const tcp::endpoint& to,
                           const std::string& request, clock::duration timeout) {
    st.socket = tcp::socket(st.socket.get_executor());
    net::steady_timer deadline(st.socket.get_executor(), timeout);
    auto r = co_await (exchange(st.socket, to, request) || deadline.async_wait(token));
    error_code ignored;
    st.socket.close(ignored);
    co_return r.index() == 0 && std::get<0>(r);
}

void record(address_table& table, address_table::entry& e, bool ok) {
    const auto& hc = table.cfg().health_check;
    const bool healthy = e.checked_healthy.load(std::memory_order_relaxed);
    if (ok) {
        e.check_failures = 0;
        if (!healthy && ++e.check_passes >= hc.healthy_threshold) {
            e.checked_healthy.store(true, std::memory_order_relaxed);
            lifecycle::log::event("upstream address healthy")
                .str("upstream", table.cfg().name)
                .str("address", e.text)
                .info();
        }
    } else {
        e.check_passes = 0;
        if (healthy && ++e.check_failures >= hc.unhealthy_threshold) {
            e.checked_healthy.store(false, std::memory_order_relaxed);
            lifecycle::log::event("upstream address unhealthy")
                .str("upstream", table.cfg().name)
                .str("address", e.text)
                .str("path", hc.path)
                .unum("failures", e.check_failures)
                .warn();
        }
    }
}

net::awaitable<void> check_loop(std::weak_ptr<address_table> weak,
                                std::shared_ptr<health_checker::probe_state> st) {
    for (;;) {
        auto table = weak.lock();
        if (!table || st->stopped) co_return;
        const auto& cfg = table->cfg();
        const std::string request =
            "GET " + cfg.base_path + cfg.health_check.path + " HTTP/1.1\r\nHost: " +
            (cfg.port == 80 ? cfg.host : cfg.host + ":" + std::to_string(cfg.port)) +
            "\r\nUser-Agent: edged-health-check\r\nConnection: "
            "close\r\n\r\n";
        if (table->claim_lookup(clock::now()) || table->addresses()->empty())
            co_await look_up(table);
        const auto list = table->addresses();
        for (const auto& e : *list) {
            const bool ok = co_await probe(
                *st, e->endpoint, request,
                std::chrono::duration_cast<clock::duration>(cfg.health_check.timeout));
            if (st->stopped) co_return;
            record(*table, *e, ok);
        }
        const auto interval = cfg.health_check.interval;
        table.reset();  // not held across the wait: a replaced generation may go
        st->timer.expires_after(interval);
        co_await st->timer.async_wait(token);
    }
}

}  // namespace

void health_checker::start(const address_directory& dir) {
    if (stopped_) return;
    std::erase_if(running_, [](const auto& w) { return w.expired(); });
    for (const auto& table : dir.tables) {
        if (table->cfg().health_check.path.empty()) continue;
        auto st = std::make_shared<probe_state>(ioc_);
        running_.push_back(st);
        net::co_spawn(ioc_, check_loop(table, st), net::detached);
    }
}

void health_checker::stop() {
    stopped_ = true;
    for (const auto& w : running_) {
        if (auto st = w.lock()) {
            st->stopped = true;
            st->timer.cancel();
            error_code ignored;
            st->socket.close(ignored);
        }
    }
    running_.clear();
}

}  // namespace edged::server

#include "server/listener.hpp"

#include <sys/socket.h>

#include "lifecycle/log.hpp"

namespace edged::server {

listener::listener(net::io_context& ioc, std::string name)
    : ioc_(ioc), name_(std::move(name)), acceptor_(ioc), pause_(ioc) {}

tcp::endpoint listener::open(const tcp::endpoint& ep, bool reuse_port) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    if (reuse_port) {
        int one = 1;
        if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one))
            throw boost::system::system_error(errno, boost::system::system_category(),
                                              "setsockopt(SO_REUSEPORT)");
    }
    if (ep.address().is_v6()) acceptor_.set_option(net::ip::v6_only(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
    return acceptor_.local_endpoint();
}

void listener::start(accept_handler on_accept, std::chrono::milliseconds backoff) {
    on_accept_ = std::move(on_accept);
    backoff_ = backoff;
    net::co_spawn(ioc_, accept_loop(), lifecycle::log::on_failure("accept loop failed"));
}

void listener::close() {
    error_code ec;
    acceptor_.close(ec);
    pause_.cancel();
}

net::awaitable<void> listener::accept_loop() {
    for (;;) {
        // Accepting into an endpoint saves a getpeername(2) per connection.
        tcp::socket socket(ioc_);
        tcp::endpoint peer;
        auto [ec] = co_await acceptor_.async_accept(socket, peer, token);
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
            accept_errors_.fetch_add(1, std::memory_order_relaxed);
            lifecycle::log::event("accept failed")
                .str("listener", name_)
                .str("error", ec.message())
                .warn();
            pause_.expires_after(backoff_);
            co_await pause_.async_wait(token);
            if (!acceptor_.is_open()) co_return;
            continue;
        }
        // An accept that completed just before close() still resumes here with success: the
        // listener is closed (shutdown), so the connection is dropped, not served.
        if (!acceptor_.is_open()) co_return;
        on_accept_(std::move(socket), peer);
    }
}

}  // namespace edged::server

#pragma once
// A Redis connection for one I/O thread: hiredis (Debian's libhiredis) writes the commands and
// parses the replies (RESP); the socket, the timeouts and the waiting are Asio's, so a command
// never blocks the thread. Commands go one at a time, in the order they were issued (each job
// store operation is one command, most of them one EVAL).
//
// Invariants:
// - Any failure (connect, I/O, timeout) closes the connection and throws store_unavailable for
//   that command; the next command connects again, at most once per reconnect_interval (in
//   between, commands fail at once), so a Redis that went away costs each caller one timeout at
//   most, and edged reconnects by itself when it is back.
// - Single-threaded: used only on the I/O thread that created it.

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "server/net.hpp"

struct redisReader;

namespace edged::server::jobs {

struct redis_reply {
    enum class kind { string, status, error, integer, nil, array };
    kind type = kind::nil;
    std::string str;
    long long integer = 0;
    std::vector<redis_reply> elements;
};

class redis_client {
public:
    redis_client(net::io_context& ioc, const config::redis_config& cfg);
    ~redis_client();
    redis_client(const redis_client&) = delete;
    redis_client& operator=(const redis_client&) = delete;

    // Sends one command and returns its reply (an error reply is returned, not thrown). Throws
    // store_unavailable.
    net::awaitable<redis_reply> command(std::vector<std::string> args);

private:
    using clock = std::chrono::steady_clock;
    struct waiter {
        explicit waiter(net::io_context& ioc) : timer(ioc, clock::time_point::max()) {}
        net::steady_timer timer;
        bool woken = false;
    };
    net::awaitable<void> connect();
    net::awaitable<redis_reply> exchange(const std::string& wire);
    void disconnect();
    void release();

    net::io_context& ioc_;
    config::redis_config cfg_;
    tcp::socket socket_;
    net::steady_timer deadline_;
    redisReader* reader_ = nullptr;
    std::array<char, 16384> buf_;  // read buffer (one read at a time: commands go one by one)
    bool connected_ = false;
    bool timed_out_ = false;
    clock::time_point next_attempt_{};
    bool busy_ = false;
    std::deque<std::shared_ptr<waiter>> waiters_;
};

}  // namespace edged::server::jobs

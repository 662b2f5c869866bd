#pragma once
// A Redis connection for one I/O thread: hiredis (Debian's libhiredis) writes the commands and
// parses the replies (RESP); the socket, the timeouts and the waiting are Asio's, so a command
// never blocks the thread. Commands are pipelined: each is written as soon as it is issued, and
// the replies, which Redis sends in order, are handed to their callers first in, first out (each
// job store operation is one command, most of them one EVAL).
//
// Invariants:
// - Any failure (connect, I/O, a reply later than redis.timeout) closes the connection and
//   throws store_unavailable for every command in flight on it; the next command connects again, at
//   most once per reconnect_interval (in between, commands fail at once), so a Redis that went away
//   costs each caller one timeout at most, and edged reconnects by itself when it is back.
// - Single-threaded: used only on the I/O thread that created it.

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
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
    // A command in flight: its reply, or why there is none; the caller waits on the timer.
    struct slot {
        explicit slot(net::io_context& ioc) : timer(ioc) {}
        net::steady_timer timer;
        std::optional<redis_reply> reply;
        std::string error;
        bool done = false;
    };
    net::awaitable<void> connect();
    net::awaitable<redis_reply> exchange(const std::string& wire);  // connect's SELECT only
    net::awaitable<void> write_loop(std::uint64_t generation);
    net::awaitable<void> read_loop(std::uint64_t generation);
    // Closes the connection and fails every command in flight with `why`.
    void fail_all(const std::string& why);
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
    bool busy_ = false;  // a connect is in progress; the others wait in waiters_
    std::deque<std::shared_ptr<waiter>> waiters_;
    std::deque<std::shared_ptr<slot>> inflight_;  // in the order their replies will come
    std::string out_;                             // written by write_loop
    bool writing_ = false, reading_ = false;
    std::uint64_t generation_ = 0;  // bumped per connection lost: the loops of an old one stop
};

}  // namespace edged::server::jobs

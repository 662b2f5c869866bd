#pragma once
// When a keep-alive connection reads at once and when it first lets the event loop poll.
//
// Asio 1.81 starts every asynchronous read with a speculative recv. After a read that did not
// fill the buffer the socket is almost always empty, so on a keep-alive connection that recv
// fails with EAGAIN: one wasted system call per request, about 5% of a small request's CPU
// (nginx saves it by remembering that a short read drained the socket). On a busy thread the
// connection does better to queue its read behind the work already waiting and let the reactor
// poll once more: by then the client's next request has usually arrived and the speculative
// recv gets it. A deferral costs one posted handler, never a system call, when the thread is busy.
//
// On a quiet thread nothing else runs in that time and the deferral only adds a poll
// (epoll_wait) to every request, so a deferral during which no other connection was served
// backs off: after k such deferrals in a row (k >= 2) the connection reads at once for its
// next 2^(k-1) - 1 reads (at most `max_skip`) before it tries again; a busy deferral ends the
// back-off. One object per connection: the connection reads, this only decides.

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace edged::server {

class read_pacing {
public:
    static constexpr std::uint8_t max_skip = 63;

    // Whether the next read should first wait behind the thread's queued work. Only after a
    // read that drained the socket, and not during a back-off.
    bool defer() {
        if (!drained_) return false;
        if (skip_ > 0) {
            --skip_;
            return false;
        }
        return true;
    }
    // A deferral ended; `busy`: other connections were served meanwhile.
    void deferred(bool busy) {
        if (busy) {
            penalty_ = 0;
            return;
        }
        skip_ = penalty_;
        penalty_ = static_cast<std::uint8_t>(std::min<unsigned>(penalty_ * 2u + 1u, max_skip));
    }
    // A read returned `got` bytes into room for `room`: fewer means the socket is now empty.
    void read(std::size_t got, std::size_t room) { drained_ = got < room; }

private:
    bool drained_ = false;      // the last read did not fill its buffer
    std::uint8_t skip_ = 0;     // reads still to make at once
    std::uint8_t penalty_ = 0;  // the back-off the next quiet deferral starts
};

}  // namespace edged::server

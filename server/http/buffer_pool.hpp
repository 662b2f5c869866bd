#pragma once
// Per-thread pool of connection buffers: the read buffer and the write buffer of a closed
// connection go back to its I/O thread and the next accepted connection takes them, so a thread
// that serves short connections stops allocating them. Bounded: at most `max_idle` pairs are
// kept, and a buffer grown past `max_keep_bytes` (a large request body, a long pipeline batch) is
// released instead of kept. Not thread-safe: one pool per I/O thread.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "server/net.hpp"

namespace edged::server {

struct connection_buffers {
    beast::flat_buffer in;  // bytes read and not yet parsed
    std::string out;        // serialised responses waiting for the next write
};

class buffer_pool {
public:
    static constexpr std::size_t default_max_idle = 256;
    static constexpr std::size_t default_max_keep_bytes = 64 * 1024;

    explicit buffer_pool(std::size_t max_idle = default_max_idle,
                         std::size_t max_keep_bytes = default_max_keep_bytes)
        : max_idle_(max_idle), max_keep_bytes_(max_keep_bytes) {}

    // Empty buffers, with the capacity of an earlier connection's when one is idle.
    connection_buffers take() {
        if (idle_.empty()) return {};
        connection_buffers b = std::move(idle_.back());
        idle_.pop_back();
        return b;
    }

    void give(connection_buffers&& b) {
        if (idle_.size() >= max_idle_) return;
        if (b.in.capacity() > max_keep_bytes_) b.in = beast::flat_buffer();
        if (b.out.capacity() > max_keep_bytes_) std::string().swap(b.out);
        b.in.clear();
        b.out.clear();
        idle_.push_back(std::move(b));
    }

    std::size_t idle() const { return idle_.size(); }

private:
    std::size_t max_idle_;
    std::size_t max_keep_bytes_;
    std::vector<connection_buffers> idle_;
};

}  // namespace edged::server

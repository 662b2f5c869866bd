#pragma once
// A local origin for the streaming proxy tests, on a loopback address of the test's choosing
// (127.0.0.1, 127.0.0.2, ...): large bodies, event streams released one event at a time, an
// endless body, bodiless answers, an upload digest. It records what a proxy in front of it made
// it see: a send that blocked (the client stopped reading), a send that failed (the proxy closed
// the connection). Thread per connection, blocking POSIX sockets: independent of edged.
//
// Paths: GET /big?n=BYTES (Content-Length, pattern bytes), GET /events (chunked, one event per
// release_event()), GET /endless (chunked, 16 KiB every 10 ms until the peer goes), /head (200,
// Content-Length: 1234), /hints (103, then 200 "hinted"), /nocontent (204), /notmodified (304),
// /upgrade (101 unasked, then a WebSocket frame), and faults: /reset (a head, part of the
// body, then a TCP reset), /stall (never answers), /stallbody (a head and 10 bytes, then
// nothing), /garbage (not HTTP at all),
// POST /upload (answers "<bytes> <fnv1a64 hex>" of the body, sent with Content-Length or
// chunked), /continue (an unasked 100 Continue at once, then as /upload), /who (answers its
// address), /fail (500). Early answers, a 413 right after the request head: /reject (then reads
// and drops the body until the peer closes), /reject-hold (then reads nothing until
// release_hold()), /reject-close (then closes, a reset since the body is unread).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace edged::test {

inline std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes) {
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}
inline constexpr std::uint64_t fnv_basis = 14695981039346656037ull;

// The byte at offset i of a /big body.
inline char pattern_byte(std::uint64_t i) {
    return static_cast<char>('a' + (i * 7 + i / 4099) % 26);
}
inline std::string pattern(std::uint64_t from, std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t k = 0; k < n; ++k) s[k] = pattern_byte(from + k);
    return s;
}

class stream_origin {
public:
    // Listens on `address`:`port` (0: a free port), with SO_REUSEADDR so a test can bring an
    // origin back on the port of one it stopped.
    explicit stream_origin(std::string address = "127.0.0.1", std::uint16_t port = 0)
        : address_(std::move(address)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        ::inet_pton(AF_INET, address_.c_str(), &a.sin_addr);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0)
            throw std::runtime_error("stream_origin: cannot listen on " + address_);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        accept_thread_ = std::thread([this] { accept_loop(); });
    }
    ~stream_origin() { stop(); }

    // Closes the listener and every connection, and joins the threads: the origin is gone.
    void stop() {
        if (stopping_.exchange(true)) return;
        release_event(1000);
        ::shutdown(fd_, SHUT_RDWR);
        if (accept_thread_.joinable()) accept_thread_.join();
        ::close(fd_);
        std::list<std::thread> threads;
        {
            std::lock_guard lock(mu_);
            for (int c : conns_) ::shutdown(c, SHUT_RDWR);
            threads.swap(threads_);
        }
        for (auto& t : threads) t.join();
    }

    std::uint16_t port() const { return port_; }

    // Lets /events send `n` more events.
    void release_event(int n = 1) {
        std::lock_guard lock(mu_);
        permits_ += n;
        cv_.notify_all();
    }

    std::atomic<bool> send_blocked{false};  // a send waited over a second: the peer stopped reading
    std::atomic<int> peer_closed{0};        // sends that failed: the peer closed the connection
    std::atomic<int> requests{0};
    std::atomic<int> connections{0};
    std::atomic<std::uint64_t> sent{0};           // body bytes handed to the kernel
    std::atomic<std::uint64_t> body_received{0};  // request body bytes read, as they arrive
    std::atomic<int> cut_bodies{0};               // request bodies the peer closed before their end
    std::atomic<int> early_answers{0};            // /reject* answers (counted as they begin)
    std::atomic<int> early_closed{0};             // /reject connections the peer then closed

    // Lets /reject-hold connections end.
    void release_hold() {
        std::lock_guard lock(mu_);
        hold_released_ = true;
        cv_.notify_all();
    }

private:
    void accept_loop() {
        for (;;) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) {
                if (stopping_) return;
                continue;
            }
            ++connections;
            timeval tv{1, 0};  // a send that cannot go on for 1 s returns EAGAIN
            ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            std::lock_guard lock(mu_);
            if (stopping_) {
                ::close(c);
                return;
            }
            conns_.push_back(c);
            threads_.emplace_back([this, c] {
                serve(c);
                std::lock_guard l(mu_);
                conns_.remove(c);
                ::close(c);
            });
        }
    }

    // Sends everything, or false when the peer went away (or the origin stops).
    bool send_all(int c, std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(c, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                send_blocked = true;
                if (stopping_) return false;
                continue;
            }
            if (n <= 0) {
                ++peer_closed;
                return false;
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    bool send_body(int c, std::string_view data) {
        if (!send_all(c, data)) return false;
        sent += data.size();
        return true;
    }
    bool send_chunk(int c, std::string_view data) {
        char head[32];
        std::snprintf(head, sizeof head, "%zx\r\n", data.size());
        return send_all(c, head) && send_body(c, data) && send_all(c, "\r\n");
    }

    void serve(int c) {
        std::string in;
        char buf[65536];
        for (;;) {
            std::size_t end;
            while ((end = in.find("\r\n\r\n")) == std::string::npos) {
                ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) return;
                in.append(buf, static_cast<std::size_t>(n));
            }
            const std::string head = in.substr(0, end + 4);
            in.erase(0, end + 4);
            std::size_t length = 0;
            bool chunked = false;
            for (std::size_t at = head.find("\r\n"); at != std::string::npos;
                 at = head.find("\r\n", at + 2)) {
                std::string line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
                for (auto& ch : line) ch = static_cast<char>(std::tolower(ch));
                if (line.rfind("content-length:", 0) == 0) length = std::stoull(line.substr(15));
                if (line.rfind("transfer-encoding:", 0) == 0 &&
                    line.find("chunked") != std::string::npos)
                    chunked = true;
            }
            const std::string method = head.substr(0, head.find(' '));
            const auto t0 = head.find(' ') + 1;
            const std::string target = head.substr(t0, head.find(' ', t0) - t0);
            if (target.rfind("/api/reject", 0) == 0) {
                reject(c, target);
                return;
            }
            if (target == "/api/continue" && !send_all(c, "HTTP/1.1 100 Continue\r\n\r\n")) return;
            const auto more = [&] {
                ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) {
                    ++cut_bodies;
                    return false;
                }
                in.append(buf, static_cast<std::size_t>(n));
                return true;
            };
            std::string body;
            if (chunked) {
                for (;;) {  // chunk-size CRLF data CRLF ..., "0" CRLF CRLF (no trailers)
                    std::size_t eol;
                    while ((eol = in.find("\r\n")) == std::string::npos)
                        if (!more()) return;
                    const std::size_t size = std::strtoull(in.c_str(), nullptr, 16);
                    in.erase(0, eol + 2);
                    while (in.size() < size + 2)
                        if (!more()) return;
                    body.append(in, 0, size);
                    body_received += size;
                    in.erase(0, size + 2);
                    if (size == 0) break;
                }
            } else {
                std::size_t counted = std::min(in.size(), length);
                body_received += counted;
                while (in.size() < length) {
                    if (!more()) return;
                    const std::size_t now = std::min(in.size(), length);
                    body_received += now - counted;
                    counted = now;
                }
                body = in.substr(0, length);
                in.erase(0, length);
            }
            ++requests;
            if (!answer(c, method, target, body)) return;
        }
    }

    // A 413 before the body, as an origin with an upload limit answers; then as the path says.
    void reject(int c, const std::string& target) {
        // Counted before it is sent: a client that has read the answer finds it counted.
        ++early_answers;
        if (!send_all(c,
                      "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n"
                      "Connection: close\r\n\r\ntoo large"))
            return;
        if (target == "/api/reject") {
            char b[65536];
            while (::recv(c, b, sizeof b, 0) > 0) {
            }
            ++early_closed;
        } else if (target == "/api/reject-hold") {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return hold_released_ || stopping_; });
        }
    }

    bool answer(int c, const std::string& method, const std::string& target,
                const std::string& body) {
        auto simple = [&](const std::string& status, const std::string& text) {
            return send_all(c, "HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\n" +
                                   "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" +
                                   (method == "HEAD" ? std::string() : text));
        };
        if (target.rfind("/api/big", 0) == 0) {
            const std::uint64_t n = std::stoull(target.substr(target.find("n=") + 2));
            if (!send_all(c,
                          "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          "Content-Length: " +
                              std::to_string(n) + "\r\n\r\n"))
                return false;
            for (std::uint64_t off = 0; off < n;) {
                const std::size_t k =
                    static_cast<std::size_t>(std::min<std::uint64_t>(65536, n - off));
                if (stopping_ || !send_body(c, pattern(off, k))) return false;
                off += k;
            }
            return true;
        }
        if (target == "/api/events") {
            if (!send_all(c,
                          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n"))
                return false;
            for (int k = 0; k < 3; ++k) {
                {
                    std::unique_lock lock(mu_);
                    cv_.wait(lock, [&] { return permits_ > 0 || stopping_; });
                    if (stopping_) return false;
                    --permits_;
                }
                if (!send_chunk(c, "data: event " + std::to_string(k) + "\n\n")) return false;
            }
            return send_all(c, "0\r\n\r\n");
        }
        if (target == "/api/endless") {
            if (!send_all(c,
                          "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n"))
                return false;
            const std::string block(16 * 1024, 'x');
            while (!stopping_) {
                if (!send_chunk(c, block)) return false;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            return false;
        }
        if (target == "/api/head")
            return send_all(c,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                            "1234\r\n\r\n" +
                                (method == "HEAD" ? std::string() : std::string(1234, 'h')));
        if (target == "/api/hints")
            return send_all(c,
                            "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhinted");
        if (target == "/api/nocontent") return send_all(c, "HTTP/1.1 204 No Content\r\n\r\n");
        if (target == "/api/upgrade")  // switches protocols unasked, then speaks something else
            return send_all(c,
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\n\r\n\x81\x05hello") &&
                   false;
        if (target == "/api/notmodified")
            return send_all(c, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n");
        if (target == "/api/upload" || target == "/api/continue") {
            char digest[40];
            std::snprintf(digest, sizeof digest, "%zu %016llx", body.size(),
                          static_cast<unsigned long long>(fnv1a(fnv_basis, body)));
            return simple("200 OK", digest);
        }
        if (target == "/api/reset") {
            send_all(c,
                     "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'r'));
            const linger hard{1, 0};  // close() sends a RST instead of a FIN
            ::setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
            return false;
        }
        if (target == "/api/stall" || target == "/api/stallbody") {
            if (target == "/api/stallbody")
                send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
            while (!stopping_) {
                pollfd p{c, POLLIN, 0};
                if (::poll(&p, 1, 50) > 0) {  // the peer closed (or sent more): done
                    char b[512];
                    if (::recv(c, b, sizeof b, 0) <= 0) break;
                }
            }
            return false;
        }
        if (target == "/api/garbage") return send_all(c, "NOT HTTP AT ALL\r\n\r\n") && false;
        if (target == "/api/who") return simple("200 OK", address_);
        if (target == "/api/fail") return simple("500 Internal Server Error", "failed\n");
        return simple("404 Not Found", "no such path\n");
    }

    std::string address_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread accept_thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    int permits_ = 0;
    bool hold_released_ = false;
    std::list<int> conns_;
    std::list<std::thread> threads_;
};

}  // namespace edged::test

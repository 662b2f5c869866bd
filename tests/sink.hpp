#pragma once
// A local upstream for tests: records every request that reaches it, in order, and when its
// peer disconnected; can hold its answers (until released or a time limit) and answer with a
// chosen status. Thread per connection, blocking sockets: simple, and independent of edged.

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace edged::test {

class sink_server {
public:
    using clock = std::chrono::steady_clock;
    struct record {
        int seq = 0;
        std::string method, target, body;
        std::map<std::string, std::string> headers;  // lower-case names
        bool answered = false;
        bool peer_closed_while_held = false;
    };

    sink_server() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
        accept_thread_ = std::thread([this] { accept_loop(); });
    }
    ~sink_server() {
        stopping_ = true;
        release();
        // shutdown(2) wakes the thread blocked in accept(2); close alone would not.
        ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
        if (accept_thread_.joinable()) accept_thread_.join();
        boost::system::error_code ec;
        acceptor_.close(ec);
        std::list<std::thread> threads;
        {
            std::lock_guard lock(mu_);
            threads.swap(threads_);
        }
        for (auto& t : threads) t.join();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    // Answers wait until release() or `limit`, whichever comes first.
    void hold(std::chrono::milliseconds limit) { hold_ = limit; }
    void release() {
        std::lock_guard lock(mu_);
        released_ = true;
        cv_.notify_all();
    }
    void answer_with(unsigned status) { status_ = status; }
    // The body (and its Content-Type, when not empty) of every answer from now on; "ok\n" before.
    void answer_body(std::string body, std::string content_type = "") {
        std::lock_guard lock(mu_);
        body_ = std::move(body);
        content_type_ = std::move(content_type);
    }

    std::vector<record> records() {
        std::lock_guard lock(mu_);
        return records_;
    }
    // Waits until at least `n` requests arrived.
    bool wait_for(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [&] { return records_.size() >= n; });
    }
    // Waits until `pred(records)` holds.
    template <class Pred>
    bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [&] { return pred(records_); });
    }
    int connections_seen() const { return connections_.load(); }

private:
    void accept_loop() {
        for (;;) {
            boost::system::error_code ec;
            boost::asio::ip::tcp::socket s(ioc_);
            acceptor_.accept(s, ec);
            if (ec || stopping_) return;
            ++connections_;
            std::lock_guard lock(mu_);
            threads_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
        }
    }

    void serve(boost::asio::ip::tcp::socket s) {
        namespace http = boost::beast::http;
        boost::beast::flat_buffer buf;
        for (;;) {
            http::request<http::string_body> req;
            boost::system::error_code ec;
            http::read(s, buf, req, ec);
            if (ec) return;
            std::size_t index;
            {
                std::lock_guard lock(mu_);
                record r;
                r.seq = static_cast<int>(records_.size());
                r.method = std::string(req.method_string());
                r.target = std::string(req.target());
                r.body = req.body();
                for (const auto& f : req) {
                    std::string name(f.name_string());
                    for (auto& c : name) c = static_cast<char>(std::tolower(c));
                    r.headers[name] = std::string(f.value());
                }
                records_.push_back(std::move(r));
                index = records_.size() - 1;
                cv_.notify_all();
            }
            // Hold: wait for release or the limit, watching for the peer to go away.
            auto until = clock::now() + hold_.load();
            bool peer_closed = false;
            for (;;) {
                {
                    std::unique_lock lock(mu_);
                    if (released_ || stopping_) break;
                }
                if (clock::now() >= until) break;
                pollfd p{s.native_handle(), POLLIN | POLLRDHUP, 0};
                if (::poll(&p, 1, 10) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                    peer_closed = true;
                    break;
                }
            }
            if (peer_closed) {
                std::lock_guard lock(mu_);
                records_[index].peer_closed_while_held = true;
                cv_.notify_all();
                return;
            }
            http::response<http::string_body> res{static_cast<http::status>(status_.load()), 11};
            {
                std::lock_guard lock(mu_);
                res.body() = body_;
                if (!content_type_.empty()) res.set(http::field::content_type, content_type_);
            }
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            http::write(s, res, ec);
            {
                std::lock_guard lock(mu_);
                records_[index].answered = true;
                cv_.notify_all();
            }
            if (ec || !req.keep_alive()) return;
        }
    }

    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::thread accept_thread_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::chrono::milliseconds> hold_{std::chrono::milliseconds(0)};
    std::atomic<unsigned> status_{200};
    std::atomic<int> connections_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    bool released_ = false;
    std::string body_ = "ok\n", content_type_;  // guarded by mu_
    std::vector<record> records_;
    std::list<std::thread> threads_;
};

}  // namespace edged::test

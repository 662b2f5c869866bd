#include "server/jobs/redis_client.hpp"

#include <hiredis/hiredis.h>

#include "server/jobs/job_store.hpp"

namespace edged::server::jobs {

namespace {

redis_reply convert(const redisReply* r) {
    redis_reply out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = redis_reply::kind::string;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = redis_reply::kind::status;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = redis_reply::kind::error;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = redis_reply::kind::integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = redis_reply::kind::array;
            for (std::size_t i = 0; i < r->elements; ++i)
                out.elements.push_back(convert(r->element[i]));
            break;
        default:
            out.type = redis_reply::kind::nil;
    }
    return out;
}

std::string format(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* cmd = nullptr;
    const int n =
        redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
    if (n < 0) throw store_unavailable("redis: cannot format a command");
    std::string wire(cmd, static_cast<std::size_t>(n));
    redisFreeCommand(cmd);
    return wire;
}

}  // namespace

redis_client::redis_client(net::io_context& ioc, const config::redis_config& cfg)
    : ioc_(ioc), cfg_(cfg), socket_(ioc), deadline_(ioc) {}

redis_client::~redis_client() {
    if (reader_) redisReaderFree(reader_);
}

void redis_client::disconnect() {
    connected_ = false;
    error_code ec;
    socket_.close(ec);
    if (reader_) {
        redisReaderFree(reader_);
        reader_ = nullptr;
    }
    next_attempt_ = clock::now() + cfg_.reconnect_interval;
}

void redis_client::release() {
    busy_ = false;
    while (!waiters_.empty()) {
        auto w = std::move(waiters_.front());
        waiters_.pop_front();
        if (w.use_count() == 1) continue;  // its caller has gone
        w->woken = true;
        busy_ = true;  // handed over
        w->timer.cancel();
        return;
    }
}

net::awaitable<void> redis_client::connect() {
    if (clock::now() < next_attempt_)
        throw store_unavailable("redis unreachable (next connect attempt soon)");
    next_attempt_ = clock::now() + cfg_.reconnect_interval;
    const auto until = clock::now() + cfg_.timeout;
    // Shared with the deadline's handler, which may run after this frame has moved on.
    auto resolver = std::make_shared<tcp::resolver>(ioc_);
    deadline_.expires_at(until);
    deadline_.async_wait([resolver](error_code ec) {
        if (!ec) resolver->cancel();
    });
    auto [rec, results] =
        co_await resolver->async_resolve(cfg_.host, std::to_string(cfg_.port), token);
    deadline_.cancel();
    if (rec) throw store_unavailable("redis: cannot resolve " + cfg_.host + ": " + rec.message());
    socket_ = tcp::socket(ioc_);
    timed_out_ = false;
    deadline_.expires_at(until);
    deadline_.async_wait([this](error_code ec) {
        if (ec) return;
        timed_out_ = true;
        error_code ignored;
        socket_.close(ignored);
    });
    auto [cec, ep] = co_await net::async_connect(socket_, results, token);
    deadline_.cancel();
    if (cec || timed_out_) {
        disconnect();
        throw store_unavailable("redis: cannot connect to " + cfg_.host + ":" +
                                std::to_string(cfg_.port) + ": " +
                                (timed_out_ ? std::string("timed out") : cec.message()));
    }
    socket_.set_option(tcp::no_delay(true));
    reader_ = redisReaderCreate();
    if (!cfg_.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!cfg_.username.empty()) auth.push_back(cfg_.username);
        auth.push_back(cfg_.password);
        const std::string wire = format(auth);
        auto r = co_await exchange(wire);
        if (r.type == redis_reply::kind::error) {
            disconnect();
            throw store_unavailable("redis: AUTH refused: " + r.str);
        }
    }
    if (cfg_.db != 0) {
        const std::string select = format({"SELECT", std::to_string(cfg_.db)});
        auto r = co_await exchange(select);
        if (r.type == redis_reply::kind::error) {
            disconnect();
            throw store_unavailable("redis: SELECT " + std::to_string(cfg_.db) + ": " + r.str);
        }
    }
    // Only now: commands pipelined before AUTH and SELECT would be refused or misplaced.
    connected_ = true;
}

net::awaitable<redis_reply> redis_client::exchange(const std::string& wire) {
    timed_out_ = false;
    deadline_.expires_after(cfg_.timeout);
    deadline_.async_wait([this](error_code ec) {
        if (ec) return;
        timed_out_ = true;
        error_code ignored;
        socket_.cancel(ignored);
    });
    auto fail = [this](const std::string& what) {
        deadline_.cancel();
        disconnect();
        return store_unavailable("redis: " + what);
    };
    auto [wec, wn] = co_await net::async_write(socket_, net::buffer(wire), token);
    if (wec || timed_out_) throw fail(timed_out_ ? "timed out" : wec.message());
    for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) throw fail("protocol error");
        if (raw) {
            deadline_.cancel();
            auto* reply = static_cast<redisReply*>(raw);
            redis_reply out = convert(reply);
            freeReplyObject(reply);
            co_return out;
        }
        auto [rec, n] = co_await socket_.async_read_some(net::buffer(buf_), token);
        if (rec || timed_out_) throw fail(timed_out_ ? "timed out" : rec.message());
        if (redisReaderFeed(reader_, buf_.data(), n) != REDIS_OK) throw fail("protocol error");
    }
}

void redis_client::fail_all(const std::string& why) {
    ++generation_;
    disconnect();
    writing_ = reading_ = false;
    out_.clear();
    auto failed = std::move(inflight_);
    inflight_.clear();
    for (auto& s : failed) {
        s->error = "redis: " + why;
        s->done = true;
        s->timer.cancel();
    }
}

net::awaitable<void> redis_client::write_loop(std::uint64_t generation) {
    writing_ = true;
    std::string buf;
    while (generation == generation_ && !out_.empty()) {
        buf.clear();
        buf.swap(out_);
        auto [ec, n] = co_await net::async_write(socket_, net::buffer(buf), token);
        if (generation != generation_) co_return;  // the connection was lost meanwhile
        if (ec) {
            fail_all(ec.message());
            co_return;
        }
    }
    writing_ = false;
}

net::awaitable<void> redis_client::read_loop(std::uint64_t generation) {
    reading_ = true;
    while (generation == generation_ && !inflight_.empty()) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
            fail_all("protocol error");
            co_return;
        }
        if (raw) {
            auto* reply = static_cast<redisReply*>(raw);
            auto s = std::move(inflight_.front());
            inflight_.pop_front();
            s->reply = convert(reply);
            freeReplyObject(reply);
            s->done = true;
            s->timer.cancel();
            continue;
        }
        auto [ec, n] = co_await socket_.async_read_some(net::buffer(buf_), token);
        if (generation != generation_) co_return;
        if (ec) {
            fail_all(ec.message());
            co_return;
        }
        if (redisReaderFeed(reader_, buf_.data(), n) != REDIS_OK) {
            fail_all("protocol error");
            co_return;
        }
    }
    reading_ = false;
}

net::awaitable<redis_reply> redis_client::command(std::vector<std::string> args) {
    const std::string wire = format(args);
    if (!connected_) {
        // One connect at a time; the callers behind it find the connection made (or fail fast).
        if (busy_) {
            auto w = std::make_shared<waiter>(ioc_);
            waiters_.push_back(w);
            co_await w->timer.async_wait(token);
            if (!w->woken) throw store_unavailable("redis: cancelled");
        }
        busy_ = true;
        struct releaser {
            redis_client& c;
            ~releaser() { c.release(); }
        } guard{*this};
        if (!connected_) co_await connect();
    }
    auto s = std::make_shared<slot>(ioc_);
    s->timer.expires_after(cfg_.timeout);
    inflight_.push_back(s);
    out_ += wire;
    if (!writing_) net::co_spawn(ioc_, write_loop(generation_), net::detached);
    if (!reading_) net::co_spawn(ioc_, read_loop(generation_), net::detached);
    auto [ec] = co_await s->timer.async_wait(token);
    if (!s->done) {
        // The reply is late: the connection is no longer trusted (a reply cannot be skipped).
        // A caller that was cancelled leaves its slot: the reply still comes, unread.
        if (!ec) fail_all("timed out");
        if (!s->done) throw store_unavailable("redis: cancelled");
    }
    if (!s->error.empty()) throw store_unavailable(s->error);
    co_return std::move(*s->reply);
}

}  // namespace edged::server::jobs

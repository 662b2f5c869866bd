// bench/tools/loadgen.cpp — a small HTTP/1.1 load generator for bench/after_actions.sh.
//
// Two modes, both with C keep-alive connections on one thread (Boost.Asio, C++20 coroutines):
//
//   loadgen --port P --path /x --connections 64 --rate 5000 --duration 10
//       open loop (constant rate): request i is scheduled at t0 + i/rate; connection c sends the
//       requests i = c, c + C, c + 2C, ... Latency is measured from the SCHEDULED send time, so a
//       late send (the previous response on that connection was slow, or this process was late)
//       counts in full: no coordinated omission. Prints p50/p90/p99/p99.9/max and the achieved
//       rate, plus how many sends left more than 1 ms after their scheduled time. --dump FILE
//       writes every latency (us, sorted), one a line, for pooling several runs.
//
//   loadgen --port P --path /x --connections 16 --rate 500 --count 10000
//       open loop until exactly `count` requests have been sent (at the same constant rate).
//
//   loadgen --port P --path /x --connections 16 --count 10000
//       closed loop: exactly `count` requests in all, each connection sending its next request
//       when the previous answer is in.
//
//   loadgen ... --method POST --body '{"n":1}'
//       any mode, with that method and (when given) that body on every request (Content-Type:
//       application/json, Content-Length); GET without a body by default (bench/jobs.sh).
//
// The last line is machine-readable: RESULT key=value ...
// A response must have a Content-Length (edged always sends one); chunked bodies are not read.
#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>

namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr auto token = net::as_tuple(net::use_awaitable);

namespace {

struct options {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    std::string path = "/";
    unsigned connections = 64;
    double rate = 0;        // open loop when > 0
    double duration = 10;   // seconds, open loop
    std::uint64_t count = 0;  // closed loop when > 0
    std::string dump;         // open loop: write every latency (us) to this file, one a line
    std::string method = "GET";
    std::string body;         // sent on every request when not empty
};

struct stats {
    std::vector<std::int64_t> latency_ns;  // open loop: one per completed request
    std::uint64_t sent = 0, done = 0, errors = 0, non2xx = 0, late = 0, conn_errors = 0;
    clock_type::time_point last_done{};
};

options opt;
stats st;
std::string request;
clock_type::time_point t0;
std::uint64_t next_index = 0;  // closed loop

// Reads one response; returns its status, or -1 on error.
net::awaitable<int> read_response(tcp::socket& s, std::string& buf) {
    for (;;) {
        auto end = buf.find("\r\n\r\n");
        if (end != std::string::npos) {
            int status = -1;
            if (buf.size() >= 12 && buf.compare(0, 5, "HTTP/") == 0) status = std::atoi(buf.c_str() + 9);
            std::size_t body = 0;
            std::string_view head(buf.data(), end + 2);
            for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos && pos + 2 < head.size();) {
                std::size_t next = head.find("\r\n", pos + 2);
                std::string_view f = head.substr(pos + 2, next - pos - 2);
                if (f.size() > 15 && (f[0] == 'C' || f[0] == 'c') &&
                    std::equal(f.begin(), f.begin() + 15, "content-length:",
                               [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
                    body = std::strtoull(f.data() + 15, nullptr, 10);
                pos = next;
            }
            std::size_t total = end + 4 + body;
            while (buf.size() < total) {
                char tmp[16384];
                auto [ec, n] = co_await s.async_read_some(net::buffer(tmp), token);
                if (ec) co_return -1;
                buf.append(tmp, n);
            }
            buf.erase(0, total);
            co_return status;
        }
        if (buf.size() > 1 << 20) co_return -1;
        char tmp[16384];
        auto [ec, n] = co_await s.async_read_some(net::buffer(tmp), token);
        if (ec) co_return -1;
        buf.append(tmp, n);
    }
}

net::awaitable<bool> connect(tcp::socket& s) {
    tcp::endpoint ep(net::ip::make_address(opt.host), opt.port);
    auto [ec] = co_await s.async_connect(ep, token);
    if (ec) {
        ++st.conn_errors;
        co_return false;
    }
    s.set_option(tcp::no_delay(true));
    co_return true;
}

net::awaitable<void> open_loop(unsigned c) {
    auto ex = co_await net::this_coro::executor;
    tcp::socket s(ex);
    if (!co_await connect(s)) co_return;
    net::steady_timer timer(ex);
    std::string buf;
    const double interval_ns = 1e9 / opt.rate;
    const auto end = t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(opt.duration * 1e9));
    for (std::uint64_t i = c;; i += opt.connections) {
        auto sched = t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(i * interval_ns));
        if (sched >= end || (opt.count && i >= opt.count)) break;
        if (clock_type::now() < sched) {
            timer.expires_at(sched);
            co_await timer.async_wait(token);
        }
        if (clock_type::now() - sched > 1ms) ++st.late;
        ++st.sent;
        auto [wec, wn] = co_await net::async_write(s, net::buffer(request), token);
        int status = wec ? -1 : co_await read_response(s, buf);
        auto now = clock_type::now();
        if (status < 0) {
            ++st.errors;
            co_return;  // the connection is gone
        }
        ++st.done;
        if (status < 200 || status > 399) ++st.non2xx;
        st.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - sched).count());
        st.last_done = std::max(st.last_done, now);
    }
    boost::system::error_code ec;
    s.shutdown(tcp::socket::shutdown_both, ec);
}

net::awaitable<void> closed_loop() {
    auto ex = co_await net::this_coro::executor;
    tcp::socket s(ex);
    if (!co_await connect(s)) co_return;
    std::string buf;
    while (next_index < opt.count) {
        ++next_index;
        ++st.sent;
        auto [wec, wn] = co_await net::async_write(s, net::buffer(request), token);
        int status = wec ? -1 : co_await read_response(s, buf);
        if (status < 0) {
            ++st.errors;
            co_return;
        }
        ++st.done;
        if (status < 200 || status > 399) ++st.non2xx;
        st.last_done = clock_type::now();
    }
    boost::system::error_code ec;
    s.shutdown(tcp::socket::shutdown_both, ec);
}

double pct(const std::vector<std::int64_t>& v, double p) {
    if (v.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size()));
    return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1e3;  // us
}

int usage() {
    std::fprintf(stderr,
                 "usage: loadgen --port P [--host 127.0.0.1] [--path /] [--connections 64]\n"
                 "               (--rate R [--duration S | --count N] [--dump FILE] | --count N)\n"
                 "               [--method GET] [--body TEXT]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc) return usage();
        const char* v = argv[++i];
        if (a == "--host") opt.host = v;
        else if (a == "--port") opt.port = static_cast<unsigned short>(std::atoi(v));
        else if (a == "--path") opt.path = v;
        else if (a == "--connections") opt.connections = static_cast<unsigned>(std::atoi(v));
        else if (a == "--rate") opt.rate = std::atof(v);
        else if (a == "--duration") opt.duration = std::atof(v);
        else if (a == "--count") opt.count = std::strtoull(v, nullptr, 10);
        else if (a == "--dump") opt.dump = v;
        else if (a == "--method") opt.method = v;
        else if (a == "--body") opt.body = v;
        else return usage();
    }
    if (!opt.port || !opt.connections || (opt.rate <= 0 && opt.count == 0)) return usage();
    // --rate with --count: open loop, exactly `count` requests at that rate.
    if (opt.rate > 0 && opt.count) opt.duration = static_cast<double>(opt.count) / opt.rate + 1;
    // Timers fire within ~1 us instead of the default 50 us slack.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    request = opt.method + " " + opt.path + " HTTP/1.1\r\nHost: " + opt.host + ":" +
              std::to_string(opt.port) + "\r\nUser-Agent: edged-bench-loadgen\r\n";
    if (!opt.body.empty())
        request += "Content-Type: application/json\r\nContent-Length: " +
                   std::to_string(opt.body.size()) + "\r\n";
    request += "\r\n" + opt.body;

    net::io_context ioc(1);
    if (opt.rate > 0) st.latency_ns.reserve(static_cast<std::size_t>(opt.rate * opt.duration * 1.05) + 16);
    // Start the schedule a little in the future so every connection is open by then.
    t0 = clock_type::now() + 100ms;
    for (unsigned c = 0; c < opt.connections; ++c) {
        if (opt.rate > 0)
            net::co_spawn(ioc, open_loop(c), net::detached);
        else
            net::co_spawn(ioc, closed_loop(), net::detached);
    }
    auto start = clock_type::now();
    ioc.run();
    if (opt.rate <= 0) t0 = start;
    double secs = std::chrono::duration<double>(st.last_done - t0).count();
    double achieved = secs > 0 ? static_cast<double>(st.done) / secs : 0;

    auto& v = st.latency_ns;
    std::sort(v.begin(), v.end());
    if (!opt.dump.empty()) {
        if (FILE* f = std::fopen(opt.dump.c_str(), "w")) {
            for (auto x : v) std::fprintf(f, "%.1f\n", static_cast<double>(x) / 1e3);
            std::fclose(f);
        }
    }
    double mean = 0;
    for (auto x : v) mean += static_cast<double>(x);
    mean = v.empty() ? 0 : mean / static_cast<double>(v.size()) / 1e3;
    if (opt.rate > 0) {
        std::printf("  offered %.0f req/s for %.1f s on %u connections: %llu sent, %llu done, "
                    "achieved %.0f req/s, %llu sent >1 ms late\n",
                    opt.rate, opt.duration, opt.connections, (unsigned long long)st.sent,
                    (unsigned long long)st.done, achieved, (unsigned long long)st.late);
        std::printf("  latency (us, from scheduled send): mean %.0f  p50 %.0f  p90 %.0f  p99 %.0f  "
                    "p99.9 %.0f  max %.0f\n",
                    mean, pct(v, 50), pct(v, 90), pct(v, 99), pct(v, 99.9),
                    v.empty() ? 0.0 : static_cast<double>(v.back()) / 1e3);
    } else {
        std::printf("  %llu requests on %u connections in %.2f s (%.0f req/s)\n",
                    (unsigned long long)st.done, opt.connections, secs, achieved);
    }
    std::printf("RESULT sent=%llu done=%llu errors=%llu conn_errors=%llu non2xx=%llu late=%llu "
                "rate=%.1f mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
                "max_us=%.1f\n",
                (unsigned long long)st.sent, (unsigned long long)st.done,
                (unsigned long long)st.errors, (unsigned long long)st.conn_errors,
                (unsigned long long)st.non2xx, (unsigned long long)st.late, achieved, mean,
                pct(v, 50), pct(v, 90), pct(v, 99), pct(v, 99.9),
                v.empty() ? 0.0 : static_cast<double>(v.back()) / 1e3);
    return (st.errors || st.conn_errors || st.done != (opt.count ? opt.count : st.sent)) ? 1 : 0;
}

// bench/tools/sink.cpp — a small HTTP/1.1 sink for bench/after_actions.sh.
//
// Every request is held for --hold-ms milliseconds, then answered `200` with an empty body
// (keep-alive). `GET /count` is answered at once with JSON counters:
//   {"received":R,"held":H,"answered":A,"connections":C,"max_held":M,"max_connections":N}
// Single thread, non-blocking sockets, level-triggered epoll. All holds have the same length, so
// deadlines are monotonic and a FIFO is the whole timer wheel; epoll_pwait2 gives the wait
// nanosecond resolution, so answers leave when due instead of in 1 ms batches. C++ standard
// library + POSIX (Linux) only.
//
//   sink --port 0 --hold-ms 50     prints "port NNNN" on stdout once listening
//   sink --hold-ms 0 --body-file doc.json --content-type application/json
//                                  answers every request with that document instead (the origin
//                                  of bench/compress.sh)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct conn {
    bool open = false;
    std::uint32_t gen = 0;    // bumped on close, so held answers for a closed fd are dropped
    std::string in;           // unparsed input
    std::string out;          // unwritten output
    bool want_write = false;  // EPOLLOUT registered
};

struct held {
    clock_type::time_point due;
    int fd;
    std::uint32_t gen;
};

int epfd = -1;
std::vector<conn> conns;
std::deque<held> queue;
std::uint64_t received = 0, answered = 0, open_conns = 0, max_held = 0, max_conns = 0;
std::uint64_t held_now = 0;
// The answer to every held request: 200 with an empty body, or --body-file's bytes.
std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

[[noreturn]] void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

void close_conn(int fd) {
    conn& c = conns[fd];
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    c.open = false;
    ++c.gen;
    c.in.clear();
    c.out.clear();
    c.want_write = false;
    --open_conns;
}

// Writes what is buffered; registers for EPOLLOUT while something is left. false: closed.
bool flush(int fd) {
    conn& c = conns[fd];
    while (!c.out.empty()) {
        ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        close_conn(fd);
        return false;
    }
    bool want = !c.out.empty();
    if (want != c.want_write) {
        epoll_event ev{};
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
        ev.data.fd = fd;
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
        c.want_write = want;
    }
    return true;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    return true;
}

std::string count_json() {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "{\"received\":%llu,\"held\":%llu,\"answered\":%llu,\"connections\":%llu,"
                  "\"max_held\":%llu,\"max_connections\":%llu}\n",
                  (unsigned long long)received, (unsigned long long)held_now,
                  (unsigned long long)answered, (unsigned long long)open_conns,
                  (unsigned long long)max_held, (unsigned long long)max_conns);
    return buf;
}

// Parses the complete requests in the input buffer. false: the connection was closed.
bool parse(int fd, std::chrono::milliseconds hold) {
    conn& c = conns[fd];
    std::size_t pos = 0;
    bool immediate = false;
    for (;;) {
        std::string_view in(c.in);
        in.remove_prefix(pos);
        auto end = in.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            if (in.size() > 64 * 1024) {
                close_conn(fd);
                return false;
            }
            break;
        }
        std::string_view head = in.substr(0, end + 2);
        std::size_t body = 0;
        for (std::size_t line = head.find("\r\n");
             line != std::string_view::npos && line + 2 < head.size();) {
            std::size_t next = head.find("\r\n", line + 2);
            std::string_view field = head.substr(line + 2, next - line - 2);
            if (iequals_prefix(field, "content-length:"))
                body = std::strtoull(field.data() + 15, nullptr, 10);
            line = next;
        }
        if (in.size() < end + 4 + body) break;  // body not complete yet
        std::string_view line = head.substr(0, head.find("\r\n"));
        pos += end + 4 + body;
        if (line.starts_with("GET /count ")) {
            std::string j = count_json();
            c.out += "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ";
            c.out += std::to_string(j.size());
            c.out += "\r\n\r\n";
            c.out += j;
            immediate = true;
            continue;
        }
        ++received;
        ++held_now;
        max_held = std::max(max_held, held_now);
        queue.push_back({clock_type::now() + hold, fd, c.gen});
    }
    if (pos) c.in.erase(0, pos);
    if (immediate) return flush(fd);
    return true;
}

void on_readable(int fd, std::chrono::milliseconds hold) {
    conn& c = conns[fd];
    char buf[16384];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            c.in.append(buf, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < sizeof buf) break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        close_conn(fd);  // EOF or error
        return;
    }
    parse(fd, hold);
}

void on_accept(int lfd) {
    for (;;) {
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) std::fprintf(stderr, "sink: out of fds\n");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (static_cast<std::size_t>(fd) >= conns.size()) conns.resize(fd * 2 + 16);
        conn& c = conns[fd];
        c.open = true;
        c.in.clear();
        c.out.clear();
        c.want_write = false;
        ++open_conns;
        max_conns = std::max(max_conns, open_conns);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    }
}

// Answers every held request whose time has come.
void answer_due() {
    auto now = clock_type::now();
    while (!queue.empty() && queue.front().due <= now) {
        held h = queue.front();
        queue.pop_front();
        --held_now;
        conn& c = conns[h.fd];
        if (!c.open || c.gen != h.gen) continue;  // the client went away
        ++answered;
        c.out += ok;
        // Flush at once when this is the only pending write; batched otherwise.
        flush(h.fd);
    }
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    long hold_ms = 50;
    const char* host = "127.0.0.1";
    const char* body_file = nullptr;
    const char* content_type = "application/octet-stream";
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--port" && i + 1 < argc)
            port = std::atoi(argv[++i]);
        else if (a == "--hold-ms" && i + 1 < argc)
            hold_ms = std::atol(argv[++i]);
        else if (a == "--host" && i + 1 < argc)
            host = argv[++i];
        else if (a == "--body-file" && i + 1 < argc)
            body_file = argv[++i];
        else if (a == "--content-type" && i + 1 < argc)
            content_type = argv[++i];
        else {
            std::fprintf(stderr,
                         "usage: sink [--host 127.0.0.1] [--port 0] [--hold-ms 50] "
                         "[--body-file F [--content-type T]]\n");
            return 2;
        }
    }
    if (body_file) {
        std::FILE* f = std::fopen(body_file, "rb");
        if (!f) die(body_file);
        std::string body;
        char chunk[65536];
        for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) body.append(chunk, n);
        std::fclose(f);
        ok = "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(content_type) +
             "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    signal(SIGPIPE, SIG_IGN);
    const auto hold = std::chrono::milliseconds(hold_ms);

    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("inet_pton");
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) die("bind");
    if (::listen(lfd, 65535) < 0) die("listen");
    socklen_t len = sizeof sa;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
    std::printf("port %d\n", ntohs(sa.sin_port));
    std::fflush(stdout);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl");
    conns.resize(1024);

    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake-ups within ~1 us, not the default 50 us
    bool have_pwait2 = true;
    std::vector<epoll_event> events(1024);
    for (;;) {
        int n;
        if (queue.empty()) {
            n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), -1);
        } else {
            auto left =
                std::max(clock_type::duration::zero(), queue.front().due - clock_type::now());
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
            n = -1;
            if (have_pwait2) {
                timespec ts{static_cast<time_t>(ns / 1000000000),
                            static_cast<long>(ns % 1000000000)};
                n = epoll_pwait2(epfd, events.data(), static_cast<int>(events.size()), &ts,
                                 nullptr);
                if (n < 0 && errno == ENOSYS) have_pwait2 = false;
            }
            if (!have_pwait2)  // round up: never answer early
                n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()),
                               static_cast<int>((ns + 999999) / 1000000));
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                on_accept(lfd);
                continue;
            }
            if (!conns[fd].open) continue;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(fd, hold);
            if (conns[fd].open && (events[i].events & EPOLLOUT)) flush(fd);
        }
        answer_due();
    }
}

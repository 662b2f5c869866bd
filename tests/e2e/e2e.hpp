#pragma once
// What the end-to-end tests share: config files, the ports the binary logs, the admin answers,
// and /metrics read through a real Prometheus parser.

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "process.hpp"

namespace edged::test {

// Writes `text` to a file of this test process; returns its path.
inline std::string write_config(const std::string& name, const std::string& text) {
    std::string path = "/tmp/edged-e2e-" + std::to_string(::getpid()) + "-" + name;
    std::ofstream(path) << text;
    return path;
}

// The port of a "listening" or "admin listening" log line.
inline std::uint16_t port_from(const std::string& line) {
    return static_cast<std::uint16_t>(nlohmann::json::parse(line).at("port").get<unsigned>());
}

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The JSON of GET /stats on the admin port.
inline nlohmann::json admin_stats(std::uint16_t admin_port) {
    raw_client c(admin_port);
    c.send(get_request("/stats"));
    return nlohmann::json::parse(c.read().body());
}

// How many file descriptors process `pid` has open (-1 if it is gone).
inline int open_fds(pid_t pid) {
    int n = 0;
    DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (!d) return -1;
    while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

// The resident set of process `pid` in KiB (-1 if it is gone).
inline long rss_kib(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// The ports an edged process bound, from its log (the configs ask for port 0).
struct bound_ports {
    std::uint16_t port = 0, admin = 0;
};
inline bound_ports wait_ports(process& edged) {
    const std::string listening = edged.wait_line("\"msg\":\"listening\"");
    const std::string admin_line = edged.wait_line("\"msg\":\"admin listening\"");
    REQUIRE(!listening.empty());
    REQUIRE(!admin_line.empty());
    return {port_from(listening), port_from(admin_line)};
}

// Sends `request` on a connection of its own; returns the status (and the body).
inline unsigned exchange_once(std::uint16_t port, const std::string& request,
                              std::string* body = nullptr) {
    raw_client c(port);
    c.send(request);
    auto res = c.read();
    if (body) *body = res.body();
    return res.result_int();
}

// True when nothing accepts on `port` (yet, or any more).
inline bool connect_refused(std::uint16_t port) {
    try {
        raw_client probe(port);
        return false;
    } catch (const boost::system::system_error&) {
        return true;
    }
}

// The body of GET `target` on the admin port.
inline std::string admin_get(std::uint16_t admin_port, const std::string& target) {
    raw_client c(admin_port);
    c.send(get_request(target));
    return c.read().body();
}

// GET /metrics parsed by Debian's python3-prometheus-client (tests/e2e/prom_parse.py), which
// also checks every histogram: buckets cumulative, ending in +Inf, _count equal to it. Each
// sample by "name{label=value,...}" (labels sorted by name). Fails the test when the
// exposition does not parse or a histogram is malformed.
inline std::map<std::string, double> scrape(std::uint16_t admin_port) {
    const std::string text = admin_get(admin_port, "/metrics");
    const std::string file = write_config("metrics.txt", text);
    process parser({"/usr/bin/python3", EDGED_SOURCE_DIR "/tests/e2e/prom_parse.py", file});
    const int rc = parser.wait_exit(std::chrono::seconds(30));
    const std::string line = parser.wait_line("{");  // the reader thread may lag the exit
    INFO(parser.output());
    REQUIRE(rc == 0);
    const auto j = nlohmann::json::parse(line);
    std::map<std::string, double> out;
    for (const auto& [k, v] : j.items()) out[k] = v.get<double>();
    return out;
}

// A sample of scrape(), 0 when absent (a counter that has not moved may be missing).
inline double metric(const std::map<std::string, double>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? 0 : it->second;
}

}  // namespace edged::test

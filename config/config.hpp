#pragma once
// The effective configuration of edged: one schema, read from YAML or JSON.
//
// Every field carries its default here; the loader (config/load.cpp) fills in only what the file
// says and validates the whole tree, collecting every error before it throws. Nothing else in the
// daemon parses configuration text.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace edged::config {

using duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

// "host:port"; IPv6 as "[::1]:8080". `text` keeps the form the user wrote.
struct listen_address {
    std::string host;
    std::uint16_t port = 0;
    std::string text;
};

struct limits_config {
    std::size_t max_connections = 10000;   // per process; over it: 503 + close (see README)
    std::size_t header_bytes = 16 * 1024;  // request line + fields; over it: 431
    std::size_t body_bytes = 1024 * 1024;  // over it: 413
    std::size_t pipeline_depth = 16;       // requests answered per write; 1..1024
};

struct timeouts_config {
    duration header_read = 10s;  // first byte of a request to the end of its header: 408
    duration body_read = 30s;    // end of the header to the end of the body: 408
    duration idle = 60s;         // keep-alive wait for the next request: silent close
    duration write = 30s;        // a response write waiting on a full socket buffer: close
    duration handler = 10s;      // a handler's own time: 504
};

struct server_config {
    std::vector<listen_address> listen;  // default {"0.0.0.0:8080"}
    unsigned threads = 0;                // 0 = auto (number of cores); "auto" in the file
    limits_config limits;
    timeouts_config timeouts;
    // Addresses and CIDR blocks ("10.0.0.0/8", "::1") of the load balancers in front: only a
    // connection from one of them has its X-Forwarded-For/-Proto/-Host believed (README).
    std::vector<std::string> trusted_proxies;
};

struct admin_config {
    listen_address listen;  // default "127.0.0.1:9901"
};

struct shutdown_config {
    duration drain_delay = 0s;  // from the signal (readiness 503) to closing the listeners
    duration grace = 30s;       // from the signal, drain_delay included, to closing what is left
};

// The fields an access log line may carry (README, "Access log").
inline const std::vector<std::string>& access_log_field_names() {
    static const std::vector<std::string> names = {
        "request_id",  "method",         "path",     "query",      "status", "bytes",
        "duration_us", "route",          "remote",   "peer",       "host",   "user_agent",
        "referer",     "bytes_received", "upstream", "upstream_us"};
    return names;
}

struct log_config {
    std::string level = "info";  // trace, debug, info, warn, error, critical, off
    bool access = true;          // one line per request, whatever `level` says
    std::vector<std::string> access_fields = {"request_id", "method",      "path",  "status",
                                              "bytes",      "duration_us", "route", "remote"};
};

// Per-request lifecycle limits. A route may override max_wait_until, max_subrequests,
// wall_budget and cpu_budget (lifecycle_overrides); the other two are process-wide.
struct lifecycle_config {
    static constexpr unsigned default_background_share = 50;
    std::size_t max_wait_until = 16;
    std::size_t max_subrequests = 50;
    duration wall_budget = 30s;
    duration cpu_budget = 50ms;
    std::size_t max_background_tasks = 10000;  // process-wide
    // Percent of an I/O thread that background work gets under contention.
    unsigned background_share = default_background_share;
};

struct lifecycle_overrides {
    std::optional<std::size_t> max_wait_until;
    std::optional<std::size_t> max_subrequests;
    std::optional<duration> wall_budget;
    std::optional<duration> cpu_budget;
};

// The offload pool for CPU-heavy work (ctx.offload), shared by every I/O thread.
struct worker_pool_config {
    unsigned min_threads = 0;     // kept running even when idle
    unsigned max_threads = 4;     // started on demand
    duration idle_timeout = 30s;  // a thread above min_threads exits after this long without work
    std::size_t queue = 1024;     // items waiting for a thread; over it: rejected at once
    duration queue_timeout = 1s;  // an item not started by then never runs
    duration run_timeout = 10s;   // an item running longer is cancelled (its stop token fires)
    int nice = 10;                // pool threads' nice value (0..19): I/O threads come first
};

struct upstream_config {
    std::string name;
    std::string url;  // http://host[:port][/base]; only http is supported
    std::string host;
    std::uint16_t port = 80;
    std::string base_path;  // "" or "/base" without trailing slash
    duration connect_timeout = 1s;
    duration timeout = 5s;        // a subrequest's whole exchange; a proxied one's until its head
    duration read_timeout = 60s;  // a streamed (proxied) body: the longest wait between reads
    std::size_t max_connections = 1024;   // per address per I/O thread
    std::size_t idle_connections = 16;    // kept open per address per I/O thread
    duration resolve_interval = 30s;      // the name is looked up again this often (0: only on
                                          // start and after a connect failure)
    std::string balance = "round_robin";  // round_robin | least_outstanding

    // Passive outlier detection: an address that fails `consecutive_failures` times in a row
    // (connect failure, reset, timeout or a 5xx answer) is left out for `ejection_time`, longer
    // each time it is ejected again (up to `max_ejection_time`); at most `max_ejected_percent`
    // of the addresses are out at once.
    struct outlier_config {
        unsigned consecutive_failures = 5;  // 0: never eject
        duration ejection_time = 30s;
        duration max_ejection_time = 300s;
        unsigned max_ejected_percent = 50;
    } outlier;

    // Active health checks (off unless `path` is set): GET `path` on every address every
    // `interval`; `unhealthy_threshold` failures in a row take it out of rotation,
    // `healthy_threshold` successes bring it back. A 2xx or 3xx answer within `timeout` passes.
    struct health_check_config {
        std::string path;  // "" = no active checks
        duration interval = 5s;
        duration timeout = 1s;
        unsigned healthy_threshold = 2;
        unsigned unhealthy_threshold = 2;
    } health_check;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

struct static_handler {
    unsigned status = 200;
    header_list headers;
    std::string body;                 // inline body, or the file's content once loaded
    std::optional<std::string> file;  // path; read at start-up (relative to the config file)
};

struct redirect_handler {
    unsigned status = 302;  // 301, 302, 303, 307, 308
    std::string location;
    bool keep_path = false;   // append the part of the path after the route's prefix
    bool keep_query = false;  // append the request's query string
};

struct proxy_handler {
    std::string upstream;
    std::size_t max_response_bytes = 0;    // 0 = no limit; a longer body is cut (see README)
    std::size_t buffer_bytes = 64 * 1024;  // one block of a streamed body, each way
    unsigned retries = 0;  // idempotent requests only, before any response byte (see README)
};

// An async job route: 202 and a job id at once, the request forwarded to `upstream` in the
// background, its status and result at jobs.prefix + id.
struct job_handler {
    std::string upstream;
    duration timeout = 60s;        // the job's whole upstream exchange
    duration ttl = 10min;          // a finished job (and an Idempotency-Key) is kept this long
    std::size_t max_jobs = 10000;  // unfinished jobs of this route in this process
    std::size_t result_bytes = 1024 * 1024;  // body kept in the result; more is cut (truncated)
    std::size_t max_response_bytes = 8 * 1024 * 1024;  // larger upstream bodies fail the job
};

struct redis_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    unsigned db = 0;
    std::string key_prefix = "edged:";
    std::string username;                 // with password: AUTH username password (Redis 6 ACL)
    std::string password;                 // "" = no AUTH
    duration timeout = 1s;                // connect and each command; past it Redis is unavailable
    duration lease = 10s;                 // a replica renews its jobs' leases every lease / 3
    duration reconnect_interval = 500ms;  // at most one connect attempt per thread this often
};

struct jobs_config {
    std::string store = "memory";  // memory | redis
    std::string prefix = "/tasks/";
    std::size_t concurrency = 64;  // running jobs per I/O thread; the others wait (pending)
    duration max_wait = 30s;       // the longest ?wait= and Prefer: wait= may hold an answer
    duration retry_after = 1s;     // Retry-After on 202 and 503
    redis_config redis;
};

using handler_config = std::variant<static_handler, redirect_handler, proxy_handler, job_handler>;

struct http_action {
    std::string upstream;
    std::string method = "POST";
    std::string path = "/";
    header_list headers;
    std::string body;    // template: ${request.id}, ${response.status}, ...
    bool retry = false;  // retry non-idempotent methods too
};
struct mirror_action {
    std::string upstream;
};
struct log_action {
    std::string message;  // template
};
using after_action = std::variant<http_action, mirror_action, log_action>;

struct match_config {
    std::optional<std::string> path;    // exact path; exactly one of path/prefix is set
    std::optional<std::string> prefix;  // path prefix
    std::vector<std::string> methods;   // empty = any method; upper case
    std::optional<std::string> host;    // exact host, lower case, no port
};

// Response compression for a route (static bodies once at start-up, others on the worker pool).
struct compress_config {
    std::vector<std::string> encodings{"br", "gzip"};  // the server's preference, first wins ties
    std::size_t min_bytes = 1024;                      // smaller bodies are sent as they are
    int gzip_level = 6;                                // 1..9
    int br_level = 5;                                  // 0..11
    // Media types compressed ("type/subtype", or "type/*"), compared without parameters.
    std::vector<std::string> types{"text/html",
                                   "text/plain",
                                   "text/css",
                                   "text/javascript",
                                   "application/javascript",
                                   "application/json",
                                   "application/xml",
                                   "image/svg+xml"};
};

struct route_config {
    std::string name;
    match_config match;
    handler_config handler;
    lifecycle_overrides lifecycle;
    std::vector<after_action> after;
    std::optional<compress_config> compress;  // none: responses go out as the handler made them
};

struct config {
    std::string source;  // the file it was read from, "" for strings
    server_config server;
    admin_config admin;
    shutdown_config shutdown;
    log_config log;
    lifecycle_config lifecycle;
    worker_pool_config worker_pool;
    jobs_config jobs;
    std::vector<upstream_config> upstreams;  // in file order
    std::vector<route_config> routes;        // in file order; first match wins

    const upstream_config* find_upstream(std::string_view name) const;
};

enum class format { yaml, json };

// Thrown with every error of the file: each entry reads "path: message", path like
// "routes[2].handler.static.status", prefixed with "line N: " for YAML where known.
class config_error : public std::runtime_error {
public:
    explicit config_error(std::vector<std::string> errors);
    const std::vector<std::string>& errors() const { return errors_; }

private:
    std::vector<std::string> errors_;
};

// Reads a file; the format follows the extension (.json = JSON, else YAML).
// Static bodies given as `file` are read here, relative to the config file's folder.
config load_file(const std::string& path);
config load_string(std::string_view text, format fmt, const std::string& base_dir = ".");

// "250ms", "30s", "5m", "1h", "0" -> duration; nullopt when malformed.
std::optional<duration> parse_duration(std::string_view text);
// "16KiB", "1MiB", "1GiB", "512", "512B" -> bytes; nullopt when malformed.
std::optional<std::size_t> parse_size(std::string_view text);
// Formats back: durations in the largest exact unit ("1500ms", "30s"), sizes likewise ("16KiB").
std::string format_duration(duration d);
std::string format_size(std::size_t bytes);

}  // namespace edged::config

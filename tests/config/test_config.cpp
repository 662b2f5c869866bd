// Tests for config/: units, loading from YAML and JSON, every validation error, to_json.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include <yaml-cpp/yaml.h>

#include "config/to_json.hpp"

namespace cfg = edged::config;
using namespace std::chrono_literals;

namespace {

cfg::config yaml(std::string_view text, const std::string& base_dir = ".") {
    return cfg::load_string(text, cfg::format::yaml, base_dir);
}
cfg::config json(std::string_view text) {
    return cfg::load_string(text, cfg::format::json);
}

// The errors of a config that must not load; fails the test when it loads.
std::vector<std::string> errors_of(std::string_view text, cfg::format fmt,
                                   const std::string& base_dir = ".") {
    try {
        cfg::load_string(text, fmt, base_dir);
    } catch (const cfg::config_error& e) {
        return e.errors();
    }
    FAIL("expected a config_error for:\n" << text);
    return {};
}
std::vector<std::string> yaml_errors(std::string_view text, const std::string& base_dir = ".") {
    return errors_of(text, cfg::format::yaml, base_dir);
}
std::vector<std::string> json_errors(std::string_view text) {
    return errors_of(text, cfg::format::json);
}

// The single error of `errors`, after checking there is exactly one.
std::string only(const std::vector<std::string>& errors) {
    INFO("errors: " << Catch::Detail::stringify(errors));
    REQUIRE(errors.size() == 1);
    return errors.front();
}

bool starts_with(const std::string& s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

bool contains(const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
}

// A scratch directory removed at the end of the test.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               ("edged-config-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& content) const {
        auto p = path / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }
};

// A config touching every section and handler kind, in both formats. Kept equivalent by hand;
// the test below proves it through to_json.
constexpr std::string_view full_yaml = R"(
server:
  listen: ["127.0.0.1:8081", "[::1]:8082"]
  threads: 3
  limits: { max_connections: 500, header_bytes: 8KiB, body_bytes: 2097152, pipeline_depth: 4 }
  timeouts: { header_read: 5s, body_read: 1m, idle: 90s, write: 1500ms, handler: 2h }
admin: { listen: "127.0.0.1:9999" }
shutdown: { drain_delay: 0, grace: 45s }
log: { level: off, access: false }
lifecycle:
  max_wait_until: 0
  max_subrequests: 10
  wall_budget: 3s
  cpu_budget: 20ms
  max_background_tasks: 77
  background_share: 25
worker_pool: { min_threads: 2, max_threads: 8, idle_timeout: 5m, queue: 64, queue_timeout: 2s,
               run_timeout: 1m, nice: 5 }
upstreams:
  origin: { url: "http://Origin.example:9000/base/", connect_timeout: 250ms, timeout: 3s,
            max_connections: 10, idle_connections: 0 }
  collector: { url: "http://127.0.0.1" }
routes:
  - name: hello
    match: { path: /hello, methods: [get, HEAD], host: Example.COM }
    handler:
      static:
        status: 201
        headers: { x-b: "2", content-type: text/plain, x-a: "1" }
        body: "hello, world\n"
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin, max_response_bytes: 4MiB } }
    lifecycle: { wall_budget: 5s, max_subrequests: 3 }
    after:
      - http: { upstream: collector, method: put, path: /events, headers: { x-id: "${request.id}" },
                body: '{"status":${response.status}}', retry: true }
      - mirror: { upstream: origin }
      - log: { message: "served ${request.path}" }
  - name: jobs
    match: { prefix: /jobs/, methods: [POST] }
    handler: { job: { upstream: origin, timeout: 2m, ttl: 1h, max_jobs: 5 } }
  - name: old
    match: { prefix: /old }
    handler: { redirect: { status: 308, location: "https://example.com/new", keep_path: true, keep_query: true } }
)";

constexpr std::string_view full_json = R"({
  "server": {
    "listen": ["127.0.0.1:8081", "[::1]:8082"],
    "threads": 3,
    "limits": { "max_connections": 500, "header_bytes": "8KiB", "body_bytes": 2097152, "pipeline_depth": 4 },
    "timeouts": { "header_read": "5s", "body_read": "1m", "idle": "90s", "write": "1500ms", "handler": "2h" }
  },
  "admin": { "listen": "127.0.0.1:9999" },
  "shutdown": { "drain_delay": 0, "grace": "45s" },
  "log": { "level": "off", "access": false },
  "lifecycle": { "max_wait_until": 0, "max_subrequests": 10, "wall_budget": "3s", "cpu_budget": "20ms",
                 "max_background_tasks": 77, "background_share": 25 },
  "worker_pool": { "min_threads": 2, "max_threads": 8, "idle_timeout": "5m", "queue": 64,
                   "queue_timeout": "2s", "run_timeout": "1m", "nice": 5 },
  "upstreams": {
    "origin": { "url": "http://Origin.example:9000/base/", "connect_timeout": "250ms", "timeout": "3s",
                "max_connections": 10, "idle_connections": 0 },
    "collector": { "url": "http://127.0.0.1" }
  },
  "routes": [
    { "name": "hello",
      "match": { "path": "/hello", "methods": ["get", "HEAD"], "host": "Example.COM" },
      "handler": { "static": { "status": 201,
                               "headers": { "x-b": "2", "content-type": "text/plain", "x-a": "1" },
                               "body": "hello, world\n" } } },
    { "name": "api",
      "match": { "prefix": "/api/" },
      "handler": { "proxy": { "upstream": "origin", "max_response_bytes": "4MiB" } },
      "lifecycle": { "wall_budget": "5s", "max_subrequests": 3 },
      "after": [
        { "http": { "upstream": "collector", "method": "put", "path": "/events",
                    "headers": { "x-id": "${request.id}" },
                    "body": "{\"status\":${response.status}}", "retry": true } },
        { "mirror": { "upstream": "origin" } },
        { "log": { "message": "served ${request.path}" } } ] },
    { "name": "jobs",
      "match": { "prefix": "/jobs/", "methods": ["POST"] },
      "handler": { "job": { "upstream": "origin", "timeout": "2m", "ttl": "1h", "max_jobs": 5 } } },
    { "name": "old",
      "match": { "prefix": "/old" },
      "handler": { "redirect": { "status": 308, "location": "https://example.com/new",
                                 "keep_path": true, "keep_query": true } } }
  ]
})";

}  // namespace

// ---- units ----------------------------------------------------------------------------------

TEST_CASE("parse_duration accepts an integer and one unit", "[config][units]") {
    CHECK(cfg::parse_duration("250ms") == 250ms);
    CHECK(cfg::parse_duration("30s") == 30s);
    CHECK(cfg::parse_duration("5m") == 5min);
    CHECK(cfg::parse_duration("1h") == 1h);
    CHECK(cfg::parse_duration("0") == 0ms);
    CHECK(cfg::parse_duration("0s") == 0ms);
    CHECK(cfg::parse_duration("0ms") == 0ms);
    CHECK(cfg::parse_duration("007s") == 7s);
}

TEST_CASE("parse_duration rejects anything else", "[config][units]") {
    for (const char* bad : {"",
                            "s",
                            "10",
                            "-1s",
                            "+1s",
                            "1.5s",
                            ".5s",
                            "10 s",
                            " 10s",
                            "10s ",
                            "10sec",
                            "10min",
                            "10S",
                            "1d",
                            "1h30m",
                            "ms",
                            "0x10s",
                            "99999999999999999999s",
                            "9223372036854775807s",
                            "2562047788015216h"}) {
        INFO("input: \"" << bad << "\"");
        CHECK_FALSE(cfg::parse_duration(bad).has_value());
    }
    // The largest value that fits in milliseconds still parses.
    CHECK(cfg::parse_duration("9223372036854775807ms") == cfg::duration{9223372036854775807});
}

TEST_CASE("format_duration uses the largest exact unit", "[config][units]") {
    CHECK(cfg::format_duration(0ms) == "0s");
    CHECK(cfg::format_duration(250ms) == "250ms");
    CHECK(cfg::format_duration(1500ms) == "1500ms");
    CHECK(cfg::format_duration(30s) == "30s");
    CHECK(cfg::format_duration(90s) == "90s");
    CHECK(cfg::format_duration(10min) == "10m");
    CHECK(cfg::format_duration(2h) == "2h");
    CHECK(cfg::format_duration(61min) == "61m");
    for (auto d : {1ms, 999ms, 1001ms, 60000ms, 3600000ms, 86400000ms, 3599999ms}) {
        CHECK(cfg::parse_duration(cfg::format_duration(d)) == d);
    }
}

TEST_CASE("parse_size accepts bytes and binary units", "[config][units]") {
    CHECK(cfg::parse_size("0") == 0u);
    CHECK(cfg::parse_size("512") == 512u);
    CHECK(cfg::parse_size("512B") == 512u);
    CHECK(cfg::parse_size("16KiB") == 16u * 1024);
    CHECK(cfg::parse_size("1MiB") == 1024u * 1024);
    CHECK(cfg::parse_size("1GiB") == 1024ull * 1024 * 1024);
    for (const char* bad :
         {"", "KiB", "-1", "+1", "1.5KiB", "16 KiB", "16KB", "16kb", "16kB", "16K", "1M", "1MB",
          "1G", "16kib", "16KIB", "1TiB", "1b", "99999999999999999999", "17179869184GiB"}) {
        INFO("input: \"" << bad << "\"");
        CHECK_FALSE(cfg::parse_size(bad).has_value());
    }
}

TEST_CASE("format_size uses the largest exact unit", "[config][units]") {
    CHECK(cfg::format_size(0) == "0B");
    CHECK(cfg::format_size(1) == "1B");
    CHECK(cfg::format_size(1000) == "1000B");
    CHECK(cfg::format_size(1024) == "1KiB");
    CHECK(cfg::format_size(1536) == "1536B");
    CHECK(cfg::format_size(16 * 1024) == "16KiB");
    CHECK(cfg::format_size(1024 * 1024) == "1MiB");
    CHECK(cfg::format_size(3 * 1024 * 1024 / 2) == "1536KiB");
    CHECK(cfg::format_size(1024ull * 1024 * 1024) == "1GiB");
    for (std::size_t s : {std::size_t{7}, std::size_t{4096}, std::size_t{5} << 30}) {
        CHECK(cfg::parse_size(cfg::format_size(s)) == s);
    }
}

// ---- defaults -------------------------------------------------------------------------------

TEST_CASE("an empty file means every default", "[config][defaults]") {
    for (auto c :
         {yaml(""), yaml("# only a comment\n"), yaml("---\n"), json(""), json(" \n"), json("{}")}) {
        REQUIRE(c.server.listen.size() == 1);
        CHECK(c.server.listen[0].host == "0.0.0.0");
        CHECK(c.server.listen[0].port == 8080);
        CHECK(c.server.listen[0].text == "0.0.0.0:8080");
        CHECK(c.server.threads == 0);
        CHECK(c.server.limits.max_connections == 10000);
        CHECK(c.server.limits.header_bytes == 16 * 1024);
        CHECK(c.server.limits.body_bytes == 1024 * 1024);
        CHECK(c.server.limits.pipeline_depth == 16);
        CHECK(c.server.timeouts.header_read == 10s);
        CHECK(c.server.timeouts.body_read == 30s);
        CHECK(c.server.timeouts.idle == 60s);
        CHECK(c.server.timeouts.write == 30s);
        CHECK(c.server.timeouts.handler == 10s);
        CHECK(c.admin.listen.host == "127.0.0.1");
        CHECK(c.admin.listen.port == 9901);
        CHECK(c.shutdown.drain_delay == 0s);
        CHECK(c.shutdown.grace == 30s);
        CHECK(c.log.level == "info");
        CHECK(c.log.access);
        CHECK(c.lifecycle.max_wait_until == 16);
        CHECK(c.lifecycle.max_subrequests == 50);
        CHECK(c.lifecycle.wall_budget == 30s);
        CHECK(c.lifecycle.cpu_budget == 50ms);
        CHECK(c.lifecycle.max_background_tasks == 10000);
        CHECK(c.lifecycle.background_share == 50);
        CHECK(c.worker_pool.min_threads == 0);
        CHECK(c.worker_pool.max_threads == 4);
        CHECK(c.worker_pool.idle_timeout == 30s);
        CHECK(c.worker_pool.queue == 1024);
        CHECK(c.upstreams.empty());
        CHECK(c.routes.empty());
        CHECK(c.source.empty());
    }
}

TEST_CASE("to_json of the defaults spells out every key", "[config][defaults][to_json]") {
    auto j = cfg::to_json(yaml(""));
    CHECK(j == nlohmann::json::parse(R"({
      "server": { "listen": ["0.0.0.0:8080"], "threads": "auto",
                  "limits": { "max_connections": 10000, "header_bytes": "16KiB",
                              "body_bytes": "1MiB", "pipeline_depth": 16 },
                  "timeouts": { "header_read": "10s", "body_read": "30s", "idle": "1m",
                                "write": "30s", "handler": "10s" },
                  "trusted_proxies": [] },
      "admin": { "listen": "127.0.0.1:9901" },
      "shutdown": { "drain_delay": "0s", "grace": "30s" },
      "log": { "level": "info", "access": true,
               "access_fields": ["request_id", "method", "path", "status", "bytes",
                                 "duration_us", "route", "remote"] },
      "lifecycle": { "max_wait_until": 16, "max_subrequests": 50, "wall_budget": "30s",
                     "cpu_budget": "50ms", "max_background_tasks": 10000,
                     "background_share": 50 },
      "worker_pool": { "min_threads": 0, "max_threads": 4, "idle_timeout": "30s", "queue": 1024,
                       "queue_timeout": "1s", "run_timeout": "10s", "nice": 10 },
      "jobs": { "store": "memory", "prefix": "/tasks/", "concurrency": 64, "max_wait": "30s",
                "retry_after": "1s",
                "redis": { "address": "127.0.0.1:6379", "db": 0, "key_prefix": "edged:", "username": "", "password": "",
                           "timeout": "1s", "lease": "10s", "reconnect_interval": "500ms" } },
      "upstreams": {},
      "routes": []
    })"));
}

TEST_CASE("an empty routes list and empty sections are allowed", "[config][defaults]") {
    CHECK(yaml("routes: []\n").routes.empty());
    CHECK(yaml("routes:\n").routes.empty());
    CHECK(yaml("server:\nlog: {}\nupstreams: {}\n").log.level == "info");
    CHECK(json(R"({"routes": [], "upstreams": {}})").routes.empty());
}

// ---- a full config --------------------------------------------------------------------------

TEST_CASE("a full YAML config fills every struct", "[config][load]") {
    auto c = yaml(full_yaml);
    REQUIRE(c.server.listen.size() == 2);
    CHECK(c.server.listen[1].host == "::1");
    CHECK(c.server.listen[1].port == 8082);
    CHECK(c.server.listen[1].text == "[::1]:8082");
    CHECK(c.server.threads == 3);
    CHECK(c.server.limits.header_bytes == 8 * 1024);
    CHECK(c.server.limits.body_bytes == 2 * 1024 * 1024);
    CHECK(c.server.timeouts.write == 1500ms);
    CHECK(c.server.timeouts.handler == 2h);
    CHECK(c.admin.listen.port == 9999);
    CHECK(c.shutdown.grace == 45s);
    CHECK(c.log.level == "off");  // a YAML 1.1 boolean spelling, read as the level
    CHECK_FALSE(c.log.access);
    CHECK(c.lifecycle.max_wait_until == 0);
    CHECK(c.worker_pool.idle_timeout == 5min);
    CHECK(c.worker_pool.queue_timeout == 2s);
    CHECK(c.worker_pool.run_timeout == 1min);
    CHECK(c.worker_pool.nice == 5);

    REQUIRE(c.upstreams.size() == 2);
    const auto* origin = c.find_upstream("origin");
    REQUIRE(origin != nullptr);
    CHECK(origin->host == "origin.example");
    CHECK(origin->port == 9000);
    CHECK(origin->base_path == "/base");
    CHECK(origin->url == "http://Origin.example:9000/base/");
    CHECK(origin->connect_timeout == 250ms);
    CHECK(origin->idle_connections == 0);
    const auto* collector = c.find_upstream("collector");
    REQUIRE(collector != nullptr);
    CHECK(collector->port == 80);
    CHECK(collector->base_path.empty());
    CHECK(collector->timeout == 5s);
    CHECK(c.find_upstream("nope") == nullptr);

    REQUIRE(c.routes.size() == 4);
    const auto& hello = c.routes[0];
    CHECK(hello.name == "hello");
    CHECK(hello.match.path == "/hello");
    CHECK_FALSE(hello.match.prefix.has_value());
    CHECK(hello.match.methods == std::vector<std::string>{"GET", "HEAD"});
    CHECK(hello.match.host == "example.com");
    const auto* st = std::get_if<cfg::static_handler>(&hello.handler);
    REQUIRE(st != nullptr);
    CHECK(st->status == 201);
    CHECK(st->body == "hello, world\n");
    CHECK_FALSE(st->file.has_value());
    CHECK(st->headers ==
          cfg::header_list{{"x-b", "2"}, {"content-type", "text/plain"}, {"x-a", "1"}});

    const auto& api = c.routes[1];
    const auto* proxy = std::get_if<cfg::proxy_handler>(&api.handler);
    REQUIRE(proxy != nullptr);
    CHECK(proxy->upstream == "origin");
    CHECK(proxy->max_response_bytes == 4 * 1024 * 1024);
    CHECK(api.lifecycle.wall_budget == 5s);
    CHECK(api.lifecycle.max_subrequests == 3u);
    CHECK_FALSE(api.lifecycle.cpu_budget.has_value());
    CHECK_FALSE(api.lifecycle.max_wait_until.has_value());
    REQUIRE(api.after.size() == 3);
    const auto* http = std::get_if<cfg::http_action>(&api.after[0]);
    REQUIRE(http != nullptr);
    CHECK(http->upstream == "collector");
    CHECK(http->method == "PUT");
    CHECK(http->path == "/events");
    CHECK(http->headers == cfg::header_list{{"x-id", "${request.id}"}});
    CHECK(http->body == R"({"status":${response.status}})");
    CHECK(http->retry);
    REQUIRE(std::holds_alternative<cfg::mirror_action>(api.after[1]));
    CHECK(std::get<cfg::mirror_action>(api.after[1]).upstream == "origin");
    REQUIRE(std::holds_alternative<cfg::log_action>(api.after[2]));
    CHECK(std::get<cfg::log_action>(api.after[2]).message == "served ${request.path}");

    const auto* job = std::get_if<cfg::job_handler>(&c.routes[2].handler);
    REQUIRE(job != nullptr);
    CHECK(job->timeout == 2min);
    CHECK(job->ttl == 1h);
    CHECK(job->max_jobs == 5);

    const auto* redirect = std::get_if<cfg::redirect_handler>(&c.routes[3].handler);
    REQUIRE(redirect != nullptr);
    CHECK(redirect->status == 308);
    CHECK(redirect->location == "https://example.com/new");
    CHECK(redirect->keep_path);
    CHECK(redirect->keep_query);
}

TEST_CASE("the YAML and JSON forms of a config are the same config", "[config][load][to_json]") {
    auto from_yaml = cfg::to_ordered_json(yaml(full_yaml));
    auto from_json = cfg::to_ordered_json(json(full_json));
    CHECK(from_yaml.dump(2) == from_json.dump(2));
    CHECK(cfg::to_json(yaml(full_yaml)) == cfg::to_json(json(full_json)));
    // Not trivially equal: the config differs from the defaults in every section.
    CHECK(cfg::to_json(yaml(full_yaml)) != cfg::to_json(yaml("")));
}

TEST_CASE("to_json loads back into the same config", "[config][to_json]") {
    auto original = yaml(full_yaml);
    auto j = cfg::to_ordered_json(original);
    auto again = cfg::load_string(j.dump(), cfg::format::json);
    CHECK(cfg::to_ordered_json(again).dump() == j.dump());
    // And through the sorted nlohmann::json that to_json returns.
    auto sorted = cfg::load_string(cfg::to_json(original).dump(), cfg::format::json);
    CHECK(cfg::to_json(sorted) == cfg::to_json(original));

    // Spot checks on the structs, not only on their JSON.
    CHECK(again.server.threads == 3);
    CHECK(again.server.timeouts.write == 1500ms);
    CHECK(again.shutdown.drain_delay == 0ms);
    CHECK(again.upstreams[0].base_path == "/base");
    CHECK(again.routes[1].lifecycle.wall_budget == 5s);
    CHECK_FALSE(again.routes[1].lifecycle.cpu_budget.has_value());
    const auto& headers = std::get<cfg::static_handler>(again.routes[0].handler).headers;
    CHECK(headers == cfg::header_list{{"x-b", "2"}, {"content-type", "text/plain"}, {"x-a", "1"}});

    // threads "auto" survives as 0.
    auto defaults = cfg::load_string(cfg::to_json(yaml("")).dump(), cfg::format::json);
    CHECK(defaults.server.threads == 0);
    CHECK(cfg::to_json(defaults)["server"]["threads"] == "auto");
}

TEST_CASE("to_ordered_json keeps schema order and header order", "[config][to_json]") {
    auto j = cfg::to_ordered_json(yaml(full_yaml));
    std::vector<std::string> top;
    for (const auto& item : j.items()) top.push_back(item.key());
    CHECK(top == std::vector<std::string>{"server", "admin", "shutdown", "log", "lifecycle",
                                          "worker_pool", "jobs", "upstreams", "routes"});
    std::vector<std::string> headers;
    for (const auto& item : j["routes"][0]["handler"]["static"]["headers"].items()) {
        headers.push_back(item.key());
    }
    CHECK(headers == std::vector<std::string>{"x-b", "content-type", "x-a"});
    CHECK(j["routes"][1]["lifecycle"] ==
          nlohmann::ordered_json{{"max_subrequests", 3}, {"wall_budget", "5s"}});
}

// ---- scalars and shapes ---------------------------------------------------------------------

TEST_CASE("listen takes a single string, threads takes auto", "[config][load]") {
    auto c = yaml("server: { listen: \"127.0.0.1:0\", threads: auto }\n");
    REQUIRE(c.server.listen.size() == 1);
    CHECK(c.server.listen[0].host == "127.0.0.1");
    CHECK(c.server.listen[0].port == 0);
    CHECK(c.server.threads == 0);
    CHECK(json(R"({"server": {"threads": "auto", "listen": "[::]:80"}})").server.listen[0].host ==
          "::");
    CHECK(yaml("server: { threads: 256 }\n").server.threads == 256);
}

TEST_CASE("sizes may be plain integers, durations may be a bare 0", "[config][load]") {
    auto c = yaml(
        "server: { limits: { body_bytes: 0, header_bytes: 2048 } }\n"
        "shutdown: { drain_delay: 0, grace: 0s }\n");
    CHECK(c.server.limits.body_bytes == 0);
    CHECK(c.server.limits.header_bytes == 2048);
    CHECK(c.shutdown.drain_delay == 0ms);
    CHECK(c.shutdown.grace == 0ms);
}

// ---- errors: one test per kind --------------------------------------------------------------

TEST_CASE("unknown keys name their path and line", "[config][errors]") {
    CHECK(only(yaml_errors("server:\n  listn: x\n")) == "line 2: server.listn: unknown key");
    CHECK(only(yaml_errors("servre: {}\n")) == "line 1: servre: unknown key");
    CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: /, bogus: 1 }\n"
                           "    handler: { static: {} }\n")) ==
          "line 3: routes[0].match.bogus: unknown key");
    CHECK(only(json_errors(R"({"log": {"level": "info", "colour": true}})")) ==
          "log.colour: unknown key");
    CHECK(only(json_errors(R"({"upstreams": {"o": {"url": "http://a", "tls": true}}})")) ==
          "upstreams.o.tls: unknown key");
    // A route's lifecycle overrides only the per-request limits.
    CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: / }\n"
                           "    handler: { static: {} }\n"
                           "    lifecycle: { max_background_tasks: 5 }\n")) ==
          "line 5: routes[0].lifecycle.max_background_tasks: unknown key");
}

TEST_CASE("wrong types say what was expected", "[config][errors]") {
    CHECK(only(yaml_errors("admin:\n  listen: [a]\n")) ==
          "line 2: admin.listen: expected a string, got a list");
    CHECK(only(yaml_errors("server:\n  limits:\n    pipeline_depth: many\n")) ==
          "line 3: server.limits.pipeline_depth: expected an integer, got a string");
    CHECK(
        only(yaml_errors("server: { limits: { pipeline_depth: 1.5 } }\n")) ==
        "line 1: server.limits.pipeline_depth: expected an integer, got a number with a fraction");
    CHECK(only(yaml_errors("log:\n  access: yes\n")) ==
          "line 2: log.access: expected a boolean (true or false), got a string");
    CHECK(only(yaml_errors("routes: {}\n")) ==
          "line 1: routes: expected a list of routes, got a map");
    CHECK(only(yaml_errors("server: [1]\n")) == "line 1: server: expected a map, got a list");
    CHECK(only(yaml_errors("- 1\n")) == "line 1: (top level): expected a map, got a list");
    // A quoted "8" is a string in YAML and in JSON.
    CHECK(contains(only(yaml_errors("worker_pool: { queue: \"8\" }\n")),
                   "worker_pool.queue: expected an integer, got a string"));
    CHECK(only(json_errors(R"({"log": {"level": 3}})")) ==
          "log.level: expected a string, got an integer");
    CHECK(only(json_errors(R"({"log": {"access": "true"}})")) ==
          "log.access: expected a boolean (true or false), got a string");
    CHECK(only(json_errors(R"({"routes": [{"name": "a", "match": {"path": "/", "methods": "GET"},
                                           "handler": {"static": {}}}]})")) ==
          "routes[0].match.methods: expected a list of methods, got a string");
    CHECK(starts_with(only(json_errors(R"({"shutdown": {"grace": 30}})")),
                      "shutdown.grace: expected a duration"));
    CHECK(starts_with(only(json_errors(R"({"shutdown": {"grace": true}})")),
                      "shutdown.grace: expected a duration"));
    CHECK(starts_with(only(json_errors(R"({"server": {"limits": {"body_bytes": [1]}}})")),
                      "server.limits.body_bytes: expected a size"));
    CHECK(starts_with(only(yaml_errors("server:\n  threads: [1]\n")),
                      "line 2: server.threads: expected \"auto\" or an integer 1..256"));
}

TEST_CASE("out-of-range values state the range", "[config][errors]") {
    CHECK(only(yaml_errors("server:\n  threads: 0\n")) ==
          "line 2: server.threads: out of range: 0 is not between 1 and 256");
    CHECK(only(yaml_errors("server:\n  threads: 257\n")) ==
          "line 2: server.threads: out of range: 257 is not between 1 and 256");
    CHECK(only(yaml_errors("server: { limits: { max_connections: 0 } }\n")) ==
          "line 1: server.limits.max_connections: out of range: 0 is not between 1 and 1000000");
    CHECK(only(yaml_errors("server: { limits: { pipeline_depth: 99999999999999999999999 } }\n")) ==
          "line 1: server.limits.pipeline_depth: out of range: 99999999999999999999999 is not "
          "between 1 and 1024");
    CHECK(only(yaml_errors("server: { limits: { header_bytes: 512 } }\n")) ==
          "line 1: server.limits.header_bytes: out of range: 512B is not between 1KiB and 1MiB");
    CHECK(only(yaml_errors("server: { limits: { body_bytes: 2GiB } }\n")) ==
          "line 1: server.limits.body_bytes: out of range: 2GiB is not between 0B and 1GiB");
    CHECK(only(yaml_errors("server: { limits: { body_bytes: -1 } }\n")) ==
          "line 1: server.limits.body_bytes: out of range: -1 is not between 0B and 1GiB");
    CHECK(only(yaml_errors("server:\n  timeouts:\n    idle: 0s\n")) ==
          "line 3: server.timeouts.idle: out of range: must be greater than 0");
    CHECK(only(yaml_errors("lifecycle: { max_wait_until: 1025 }\n")) ==
          "line 1: lifecycle.max_wait_until: out of range: 1025 is not between 0 and 1024");
    CHECK(only(yaml_errors("lifecycle: { max_subrequests: -1 }\n")) ==
          "line 1: lifecycle.max_subrequests: out of range: -1 is not between 0 and 10000");
    CHECK(only(yaml_errors("lifecycle: { max_background_tasks: 0 }\n")) ==
          "line 1: lifecycle.max_background_tasks: out of range: 0 is not between 1 and 10000000");
    CHECK(only(yaml_errors("lifecycle: { background_share: 100 }\n")) ==
          "line 1: lifecycle.background_share: out of range: 100 is not between 1 and 99");
    CHECK(only(json_errors(R"({"worker_pool": {"max_threads": 0}})")) ==
          "worker_pool.max_threads: out of range: 0 is not between 1 and 256");
    CHECK(only(json_errors(R"({"worker_pool": {"queue": 1000001}})")) ==
          "worker_pool.queue: out of range: 1000001 is not between 1 and 1000000");
    CHECK(only(json_errors(R"({"worker_pool": {"nice": 20}})")) ==
          "worker_pool.nice: out of range: 20 is not between 0 and 19");
    CHECK(only(json_errors(R"({"worker_pool": {"run_timeout": "0s"}})")) ==
          "worker_pool.run_timeout: out of range: must be greater than 0");
    CHECK(only(yaml_errors("worker_pool:\n  min_threads: 5\n  max_threads: 2\n")) ==
          "line 2: worker_pool.min_threads: out of range: 5 is more than max_threads (2)");
    CHECK(only(yaml_errors("upstreams:\n  o: { url: \"http://a\", max_connections: 0 }\n")) ==
          "line 2: upstreams.o.max_connections: out of range: 0 is not between 1 and 100000");
    CHECK(only(yaml_errors("upstreams:\n  o: { url: \"http://a\", idle_connections: 100001 }\n")) ==
          "line 2: upstreams.o.idle_connections: out of range: 100001 is not between 0 and 100000");
    CHECK(
        only(yaml_errors("routes:\n  - name: a\n    match: { path: / }\n"
                         "    lifecycle: { max_wait_until: 2000 }\n"
                         "    handler: { static: {} }\n")) ==
        "line 4: routes[0].lifecycle.max_wait_until: out of range: 2000 is not between 0 and 1024");
}

TEST_CASE("malformed durations and sizes", "[config][errors]") {
    auto e = only(yaml_errors("shutdown:\n  grace: 1.5s\n"));
    CHECK(starts_with(e, "line 2: shutdown.grace: malformed duration \"1.5s\""));
    e = only(yaml_errors("server:\n  timeouts:\n    write: 30\n"));
    CHECK(starts_with(e, "line 3: server.timeouts.write: malformed duration \"30\""));
    CHECK(contains(e, "unit"));
    e = only(yaml_errors("shutdown:\n  grace: -5s\n"));
    CHECK(starts_with(e, "line 2: shutdown.grace: malformed duration \"-5s\""));
    e = only(yaml_errors("shutdown:\n  grace: 99999999999999999h\n"));
    CHECK(starts_with(e, "line 2: shutdown.grace: malformed duration"));
    e = only(yaml_errors("server:\n  limits:\n    body_bytes: 16KB\n"));
    CHECK(starts_with(e, "line 3: server.limits.body_bytes: malformed size \"16KB\""));
    CHECK(contains(e, "use KiB"));
    e = only(yaml_errors("server: { limits: { body_bytes: 1mb } }\n"));
    CHECK(contains(e, "use KiB, MiB or GiB"));
    e = only(json_errors(R"({"server": {"limits": {"header_bytes": "16 KiB"}}})"));
    CHECK(starts_with(e, "server.limits.header_bytes: malformed size \"16 KiB\""));
    e = only(yaml_errors("server: { limits: { header_bytes: 1.5KiB } }\n"));
    CHECK(starts_with(e, "line 1: server.limits.header_bytes: malformed size"));
}

TEST_CASE("route errors name the route's key path", "[config][errors]") {
    SECTION("duplicate route names") {
        CHECK(only(yaml_errors("routes:\n"
                               "  - { name: a, match: { path: /a }, handler: { static: {} } }\n"
                               "  - { name: b, match: { path: /b }, handler: { static: {} } }\n"
                               "  - name: a\n"
                               "    match: { path: /c }\n"
                               "    handler: { static: {} }\n")) ==
              "line 4: routes[2].name: duplicate route name \"a\" (also routes[0])");
    }
    SECTION("missing name and handler") {
        auto errors = yaml_errors("routes:\n  - match: { path: /a }\n");
        REQUIRE(errors.size() == 2);
        CHECK(errors[0] == "line 2: routes[0].name: missing required key");
        CHECK(errors[1] == "line 2: routes[0].handler: missing required key");
        CHECK(only(json_errors(R"({"routes": [{"name": "a", "handler": {"static": {}}}]})")) ==
              "routes[0].match: missing required key");
        CHECK(only(yaml_errors("routes:\n  - name: \"\"\n    match: { path: / }\n"
                               "    handler: { static: {} }\n")) ==
              "line 2: routes[0].name: must not be empty");
    }
    SECTION("match needs exactly one of path and prefix") {
        CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { methods: [GET] }\n"
                               "    handler: { static: {} }\n")) ==
              "line 3: routes[0].match: needs one of path or prefix");
        CHECK(only(yaml_errors("routes:\n  - name: a\n    match:\n      path: /a\n"
                               "      prefix: /b\n    handler: { static: {} }\n")) ==
              "line 5: routes[0].match: has both path and prefix; keep one");
    }
    SECTION("paths and prefixes start with a slash") {
        CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: hello }\n"
                               "    handler: { static: {} }\n")) ==
              "line 3: routes[0].match.path: \"hello\" must start with '/'");
        CHECK(starts_with(only(json_errors(R"({"routes": [{"name": "a", "match": {"prefix": "api/"},
                                                           "handler": {"static": {}}}]})")),
                          "routes[0].match.prefix: \"api/\" must start with '/'"));
        CHECK(starts_with(only(json_errors(R"({"routes": [{"name": "a", "match": {"path": "/a b"},
                                                           "handler": {"static": {}}}]})")),
                          "routes[0].match.path:"));
    }
    SECTION("methods are tokens, upper-cased") {
        auto c = yaml(
            "routes:\n  - name: a\n    match: { path: /, methods: [get, Post, GET] }\n"
            "    handler: { static: {} }\n");
        CHECK(c.routes[0].match.methods == std::vector<std::string>{"GET", "POST"});
        CHECK(only(yaml_errors("routes:\n  - name: a\n    match:\n      path: /\n"
                               "      methods: [GET, \"BAD METHOD\"]\n"
                               "    handler: { static: {} }\n")) ==
              "line 5: routes[0].match.methods[1]: invalid method \"BAD METHOD\"");
    }
    SECTION("host is lower-cased and has no port") {
        auto c = yaml(
            "routes:\n  - name: a\n    match: { path: /, host: WWW.Example.org }\n"
            "    handler: { static: {} }\n");
        CHECK(c.routes[0].match.host == "www.example.org");
        CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: /, host: \"a.com:80\" }\n"
                               "    handler: { static: {} }\n")) ==
              "line 3: routes[0].match.host: \"a.com:80\" must not include a port");
        CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: /, host: \"a b\" }\n"
                               "    handler: { static: {} }\n")) ==
              "line 3: routes[0].match.host: invalid host \"a b\"");
    }
}

TEST_CASE("a handler has exactly one kind", "[config][errors]") {
    CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: / }\n    handler: {}\n")) ==
          "line 4: routes[0].handler: needs exactly one of static, redirect, proxy, job");
    CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: / }\n    handler:\n"
                           "      static: {}\n      redirect: { location: /x }\n")) ==
          "line 5: routes[0].handler: has more than one kind (static, redirect); keep exactly one");
    // A typo gives one error, not two.
    CHECK(only(yaml_errors("routes:\n  - name: a\n    match: { path: / }\n    handler:\n"
                           "      statik: {}\n")) ==
          "line 5: routes[0].handler.statik: unknown key");
    CHECK(only(json_errors(
              R"({"routes": [{"name": "a", "match": {"path": "/"}, "handler": "static"}]})")) ==
          "routes[0].handler: expected a map, got a string");
}

TEST_CASE("static handler errors", "[config][errors]") {
    const std::string head =
        "routes:\n  - name: s\n    match: { path: / }\n    handler:\n      static:\n";
    SECTION("status range") {
        CHECK(only(yaml_errors(head + "        status: 700\n")) ==
              "line 6: routes[0].handler.static.status: out of range: 700 is not between 100 and "
              "599");
        CHECK(
            only(yaml_errors(head + "        status: 99\n")) ==
            "line 6: routes[0].handler.static.status: out of range: 99 is not between 100 and 599");
        CHECK(std::get<cfg::static_handler>(yaml(head + "        status: 404\n").routes[0].handler)
                  .status == 404);
        CHECK(std::get<cfg::static_handler>(yaml(head + "        {}\n").routes[0].handler).status ==
              200);
    }
    SECTION("header names are tokens, values have no CR, LF or NUL") {
        CHECK(only(yaml_errors(head + "        headers:\n          \"bad name\": x\n")) ==
              "line 7: routes[0].handler.static.headers.bad name: invalid header name \"bad "
              "name\": use token characters");
        CHECK(
            only(yaml_errors(head + "        headers:\n          x-a: \"one\\r\\nx-b: two\"\n")) ==
            "line 7: routes[0].handler.static.headers.x-a: invalid header value: must not "
            "contain CR, LF or NUL");
        CHECK(only(json_errors(R"({"routes": [{"name": "s", "match": {"path": "/"},
              "handler": {"static": {"headers": {"x-a": "a\u0000b"}}}}]})")) ==
              "routes[0].handler.static.headers.x-a: invalid header value: must not contain CR, "
              "LF or NUL");
        CHECK(only(yaml_errors(head + "        headers:\n          content-length: 5\n")) ==
              "line 7: routes[0].handler.static.headers.content-length: is set by the server; "
              "remove it");
        CHECK(only(yaml_errors(head + "        headers: [a]\n")) ==
              "line 6: routes[0].handler.static.headers: expected a map of header name to value, "
              "got a list");
    }
    SECTION("body and file are mutually exclusive") {
        CHECK(only(yaml_errors(head + "        body: x\n        file: x.txt\n")) ==
              "line 7: routes[0].handler.static: set either body or file, not both");
    }
}

TEST_CASE("static file is read relative to the config's folder", "[config][file]") {
    temp_dir dir;
    dir.write("pages/hello.txt", "from a file\n");
    const std::string text =
        "routes:\n  - name: f\n    match: { path: /f }\n"
        "    handler: { static: { file: pages/hello.txt, headers: { content-type: text/plain } } "
        "}\n";

    SECTION("load_string with a base dir") {
        auto c = yaml(text, dir.path.string());
        const auto& h = std::get<cfg::static_handler>(c.routes[0].handler);
        CHECK(h.body == "from a file\n");
        REQUIRE(h.file.has_value());
        CHECK(std::filesystem::equivalent(*h.file, dir.path / "pages/hello.txt"));
        // to_json names the file, and loading that back from elsewhere reads the same body.
        auto j = cfg::to_json(c);
        CHECK(j["routes"][0]["handler"]["static"].contains("file"));
        CHECK_FALSE(j["routes"][0]["handler"]["static"].contains("body"));
        auto again = cfg::load_string(j.dump(), cfg::format::json, "/nonexistent-dir");
        CHECK(std::get<cfg::static_handler>(again.routes[0].handler).body == "from a file\n");
    }
    SECTION("load_file takes the file's folder") {
        auto path = dir.write("edged.yaml", text);
        auto c = cfg::load_file(path);
        CHECK(c.source == path);
        CHECK(std::get<cfg::static_handler>(c.routes[0].handler).body == "from a file\n");
    }
    SECTION("an unreadable file is an error naming the path") {
        auto e = only(yaml_errors(text, (dir.path / "elsewhere").string()));
        CHECK(starts_with(e, "line 4: routes[0].handler.static.file: cannot read \""));
        CHECK(contains(e, (dir.path / "elsewhere" / "pages" / "hello.txt").string()));
    }
    SECTION("a directory or a device is refused") {
        auto e =
            only(yaml_errors("routes:\n  - name: f\n    match: { path: /f }\n"
                             "    handler: { static: { file: /dev/zero } }\n"));
        CHECK(e ==
              "line 4: routes[0].handler.static.file: cannot read \"/dev/zero\": not a regular "
              "file");
        e =
            only(yaml_errors("routes:\n  - name: f\n    match: { path: /f }\n"
                             "    handler: { static: { file: pages } }\n",
                             dir.path.string()));
        CHECK(starts_with(e, "line 4: routes[0].handler.static.file: cannot read \""));
        CHECK(contains(e, "\": not a regular file"));
    }
    SECTION("an absolute path is used as is") {
        auto abs = (dir.path / "pages/hello.txt").string();
        auto c = yaml(
            "routes:\n  - name: f\n    match: { path: /f }\n"
            "    handler: { static: { file: \"" +
                abs + "\" } }\n",
            "/nonexistent-dir");
        CHECK(std::get<cfg::static_handler>(c.routes[0].handler).body == "from a file\n");
    }
}

TEST_CASE("redirect handler errors", "[config][errors]") {
    const std::string head =
        "routes:\n  - name: r\n    match: { prefix: /r }\n    handler:\n      redirect:\n";
    CHECK(only(yaml_errors(head + "        status: 302\n")) ==
          "line 6: routes[0].handler.redirect.location: missing required key");
    CHECK(only(yaml_errors(head + "        location: /x\n        status: 200\n")) ==
          "line 7: routes[0].handler.redirect.status: out of range: 200 is not one of 301, 302, "
          "303, 307, 308");
    CHECK(only(yaml_errors(head + "        location: \"/x\\r\\nSet-Cookie: a\"\n")) ==
          "line 6: routes[0].handler.redirect.location: must be non-empty and contain no CR, LF "
          "or NUL");
    CHECK(only(yaml_errors("routes:\n  - name: r\n    match: { prefix: /r }\n    handler:\n"
                           "      redirect:\n")) ==
          "line 5: routes[0].handler.redirect.location: missing required key");
    auto c = yaml(head + "        location: /x\n");
    const auto& r = std::get<cfg::redirect_handler>(c.routes[0].handler);
    CHECK(r.status == 302);
    CHECK_FALSE(r.keep_path);
    CHECK_FALSE(r.keep_query);
}

TEST_CASE("upstream errors", "[config][errors]") {
    SECTION("url is required and parsed") {
        CHECK(only(yaml_errors("upstreams:\n  o: { timeout: 1s }\n")) ==
              "line 2: upstreams.o.url: missing required key");
        CHECK(only(yaml_errors("upstreams:\n  o:\n")) ==
              "line 2: upstreams.o.url: missing required key");
        CHECK(only(yaml_errors("upstreams:\n  o: { url: \"https://a\" }\n")) ==
              "line 2: upstreams.o.url: invalid url \"https://a\": only http:// upstreams are "
              "supported");
        for (const char* bad :
             {"a:80", "http://", "http://:80", "http://a:0", "http://a:65536", "http://a:x",
              "http://u@a", "http://a/b?c", "http://a:", "http://[::1", "ftp://a"}) {
            INFO(bad);
            auto e =
                only(json_errors(std::string(R"({"upstreams": {"o": {"url": ")") + bad + "\"}}}"));
            CHECK(starts_with(e, std::string("upstreams.o.url: invalid url \"") + bad + "\""));
        }
        auto c = json(R"({"upstreams": {"v6": {"url": "http://[::1]:9000/"},
                                        "plain": {"url": "http://b.example/x/y"}}})");
        CHECK(c.upstreams[0].host == "::1");
        CHECK(c.upstreams[0].port == 9000);
        CHECK(c.upstreams[0].base_path.empty());
        CHECK(c.upstreams[1].port == 80);
        CHECK(c.upstreams[1].base_path == "/x/y");
    }
    SECTION("balance, outlier detection and health checks") {
        auto c = yaml(
            "upstreams:\n  o:\n    url: \"http://a\"\n    balance: least_outstanding\n"
            "    resolve_interval: 0\n    read_timeout: 2s\n"
            "    outlier: { consecutive_failures: 3, ejection_time: 5s, max_ejection_time: 1m, "
            "max_ejected_percent: 100 }\n"
            "    health_check: { path: /healthz, interval: 2s, timeout: 300ms, "
            "healthy_threshold: 3, unhealthy_threshold: 4 }\n");
        const auto& u = c.upstreams.at(0);
        CHECK(u.balance == "least_outstanding");
        CHECK(u.resolve_interval == std::chrono::milliseconds(0));
        CHECK(u.read_timeout == std::chrono::seconds(2));
        CHECK(u.outlier.consecutive_failures == 3);
        CHECK(u.outlier.max_ejection_time == std::chrono::minutes(1));
        CHECK(u.outlier.max_ejected_percent == 100);
        CHECK(u.health_check.path == "/healthz");
        CHECK(u.health_check.timeout == std::chrono::milliseconds(300));
        CHECK(u.health_check.unhealthy_threshold == 4);
        // Without health_check, no active checks.
        CHECK(yaml("upstreams:\n  o: { url: \"http://a\" }\n")
                  .upstreams[0]
                  .health_check.path.empty());

        CHECK(only(yaml_errors("upstreams:\n  o: { url: \"http://a\", balance: random }\n")) ==
              "line 2: upstreams.o.balance: unknown balance \"random\": expected round_robin or "
              "least_outstanding");
        CHECK(only(yaml_errors(
                  "upstreams:\n  o: { url: \"http://a\", health_check: { interval: 1s } }\n")) ==
              "line 2: upstreams.o.health_check.path: missing required key");
        CHECK(only(yaml_errors(
                  "upstreams:\n  o: { url: \"http://a\", health_check: { path: nope } }\n")) ==
              "line 2: upstreams.o.health_check.path: invalid path \"nope\": expected a path that "
              "starts with '/', without spaces");
        CHECK(only(yaml_errors("upstreams:\n  o: { url: \"http://a\", outlier: { ejection_time: "
                               "1m, max_ejection_time: 10s } }\n")) ==
              "line 2: upstreams.o.outlier.max_ejection_time: out of range: 10s is less than "
              "ejection_time (1m)");
        CHECK(only(yaml_errors("upstreams:\n  o: { url: \"http://a\", outlier: { "
                               "max_ejected_percent: 101 } }\n")) ==
              "line 2: upstreams.o.outlier.max_ejected_percent: out of range: 101 is not between 0 "
              "and 100");
        CHECK(only(yaml_errors("upstreams:\n  o: { url: \"http://a\", outlier: { typo: 1 } }\n")) ==
              "line 2: upstreams.o.outlier.typo: unknown key");
    }
    SECTION("names are restricted") {
        CHECK(only(yaml_errors("upstreams:\n  \"bad name\": { url: \"http://a\" }\n")) ==
              "line 2: upstreams.bad name: invalid upstream name: use letters, digits, '_', '.' "
              "and '-'");
        CHECK(yaml("upstreams:\n  a-b_c.9: { url: \"http://a\" }\n").upstreams[0].name ==
              "a-b_c.9");
    }
    SECTION("routes and actions must name a known upstream") {
        auto errors = yaml_errors(
            "upstreams:\n"
            "  origin: { url: \"http://a\" }\n"
            "routes:\n"
            "  - name: p\n"
            "    match: { prefix: /p }\n"
            "    handler: { proxy: { upstream: orgin } }\n"
            "    after:\n"
            "      - http: { upstream: nope, path: /e }\n"
            "      - mirror: { upstream: gone }\n"
            "      - log: { message: ok }\n"
            "  - name: j\n"
            "    match: { prefix: /j }\n"
            "    handler: { job: { upstream: missing } }\n"
            "  - name: q\n"
            "    match: { prefix: /q }\n"
            "    handler: { proxy: {} }\n");
        CHECK(errors == std::vector<std::string>{
                            "line 6: routes[0].handler.proxy.upstream: unknown upstream \"orgin\"",
                            "line 8: routes[0].after[0].http.upstream: unknown upstream \"nope\"",
                            "line 9: routes[0].after[1].mirror.upstream: unknown upstream \"gone\"",
                            "line 13: routes[1].handler.job.upstream: unknown upstream \"missing\"",
                            "line 16: routes[2].handler.proxy.upstream: missing required key",
                        });
    }
}

TEST_CASE("after-action errors", "[config][errors]") {
    const std::string head =
        "upstreams: { c: { url: \"http://c\" } }\n"
        "routes:\n  - name: a\n    match: { path: / }\n    handler: { static: {} }\n    after:\n";
    CHECK(only(yaml_errors(head + "      - {}\n")) ==
          "line 7: routes[0].after[0]: needs exactly one of http, mirror, log");
    CHECK(only(yaml_errors(head + "      - { log: { message: a }, mirror: { upstream: c } }\n")) ==
          "line 7: routes[0].after[0]: needs exactly one of http, mirror, log");
    CHECK(only(yaml_errors(head + "      - webhook: {}\n")) ==
          "line 7: routes[0].after[0].webhook: unknown key");
    CHECK(only(yaml_errors(head + "      - log: {}\n")) ==
          "line 7: routes[0].after[0].log.message: missing required key");
    CHECK(only(yaml_errors(head + "      - http: { upstream: c, method: \"P O\" }\n")) ==
          "line 7: routes[0].after[0].http.method: invalid method \"P O\"");
    CHECK(only(yaml_errors(head + "      - http: { upstream: c, path: events }\n")) ==
          "line 7: routes[0].after[0].http.path: \"events\" must start with '/'");
    CHECK(only(yaml_errors(head + "      - http: { upstream: c, headers: { \"a:b\": c } }\n")) ==
          "line 7: routes[0].after[0].http.headers.a:b: invalid header name \"a:b\": use token "
          "characters");
    auto c = yaml(head + "      - http: { upstream: c }\n");
    const auto& h = std::get<cfg::http_action>(c.routes[0].after[0]);
    CHECK(h.method == "POST");
    CHECK(h.path == "/");
    CHECK_FALSE(h.retry);
}

TEST_CASE("listen addresses and log level", "[config][errors]") {
    // A listener binds an address: a host name is refused here, not at start-up.
    for (const char* bad : {"8080", "localhost", ":8080", "host:", "host:99999", "host:-1",
                            "[::1]8080", "[::1", "[zz]:80", "a b:80", "1.2.3.4:80x",
                            "localhost:8080", "1.2.3.4:99999", "u@1.2.3.4:80", "1.2.3:80"}) {
        INFO(bad);
        auto e = only(yaml_errors(std::string("server:\n  listen: [\"") + bad + "\"]\n"));
        CHECK(starts_with(
            e, std::string("line 2: server.listen[0]: invalid listen address \"") + bad + "\""));
    }
    CHECK(starts_with(only(yaml_errors("admin:\n  listen: nowhere\n")),
                      "line 2: admin.listen: invalid listen address \"nowhere\""));
    CHECK(only(yaml_errors("server:\n  listen: []\n")) ==
          "line 2: server.listen: expected at least one address");
    CHECK(only(yaml_errors("log:\n  level: verbose\n")) ==
          "line 2: log.level: unknown level \"verbose\": expected one of trace, debug, info, "
          "warn, error, critical, off");
    for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
        CHECK(yaml(std::string("log: { level: ") + level + " }\n").log.level == level);
    }
}

TEST_CASE("duplicate keys are errors", "[config][errors]") {
    CHECK(only(yaml_errors("log:\n  level: info\n  level: debug\n")) ==
          "line 3: log.level: duplicate key");
    CHECK(
        only(yaml_errors("upstreams:\n  o: { url: \"http://a\" }\n  o: { url: \"http://b\" }\n")) ==
        "line 3: upstreams.o: duplicate key");
    CHECK(only(json_errors(R"({"log": {"access": true, "access": false}})")) ==
          "log.access: duplicate key");
    CHECK(only(yaml_errors("routes:\n  - name: s\n    match: { path: / }\n    handler:\n"
                           "      static:\n        headers: { x-a: 1, X-A: 2 }\n")) ==
          "line 6: routes[0].handler.static.headers.X-A: duplicate header name");
}

TEST_CASE("syntax errors give one message with the line", "[config][errors]") {
    auto e = only(yaml_errors("server:\n  listen: [\"a:1\"\nlog: {}\n"));
    CHECK(starts_with(e, "line "));
    CHECK(contains(e, "end of sequence flow not found"));
    e = only(yaml_errors("a: b\n c: d\n  - e\n"));
    CHECK(starts_with(e, "line "));
    e = only(json_errors("{\n  \"log\": {\"level\": \"info\",}\n}"));
    CHECK(starts_with(e, "line 2: "));
    CHECK(contains(e, "syntax error"));
    CHECK_FALSE(contains(e, "json.exception"));
    CHECK(starts_with(only(json_errors("{} {}")), "line 1: "));
}

TEST_CASE("every error of a file is reported at once, in file order", "[config][errors]") {
    auto errors = yaml_errors(
        "server:\n"
        "  threads: 0\n"                        // 2: out of range
        "  limits: { header_bytes: 16KB }\n"    // 3: malformed size
        "log: { level: loud, colour: true }\n"  // 4: bad level, unknown key
        "upstreams:\n"
        "  o: { url: \"https://x\" }\n"  // 6: https
        "routes:\n"
        "  - name: a\n"
        "    match: { path: /a }\n"
        "    handler: { static: { status: 42 } }\n"  // 10: status range
        "  - name: a\n"                              // 11: duplicate name
        "    match: { prefix: b }\n"                 // 12: prefix without '/'
        "    handler: { proxy: { upstream: p } }\n"  // 13: unknown upstream
        "shutdown: { grace: soon }\n");              // 14: malformed duration
    INFO(Catch::Detail::stringify(errors));
    REQUIRE(errors.size() == 10);
    CHECK(starts_with(errors[0], "line 2: server.threads:"));
    CHECK(starts_with(errors[1], "line 3: server.limits.header_bytes:"));
    CHECK(starts_with(errors[2], "line 4: log."));
    CHECK(starts_with(errors[3], "line 4: log."));
    CHECK(starts_with(errors[4], "line 6: upstreams.o.url:"));
    CHECK(starts_with(errors[5], "line 10: routes[0].handler.static.status:"));
    CHECK(starts_with(errors[6], "line 11: routes[1].name: duplicate route name"));
    CHECK(starts_with(errors[7], "line 12: routes[1].match.prefix:"));
    CHECK(starts_with(errors[8], "line 13: routes[1].handler.proxy.upstream: unknown upstream"));
    CHECK(starts_with(errors[9], "line 14: shutdown.grace: malformed duration"));

    // The exception's message is all of them, one per line.
    try {
        yaml("server: { threads: 0 }\nlog: { level: loud }\n");
        FAIL("no error");
    } catch (const cfg::config_error& e) {
        REQUIRE(e.errors().size() == 2);
        CHECK(std::string(e.what()) == e.errors()[0] + "\n" + e.errors()[1]);
    }

    // JSON too, without lines.
    auto json_list = json_errors(R"({"server": {"threads": 0}, "log": {"level": "loud"},
                                     "routes": [{"match": {"path": "/"}}]})");
    CHECK(json_list.size() == 4);
    CHECK(json_list[0] == "server.threads: out of range: 0 is not between 1 and 256");
}

TEST_CASE("load_file picks the format from the extension", "[config][file]") {
    temp_dir dir;
    auto json_path = dir.write("c.json", R"({"log": {"level": "debug"}})");
    auto c = cfg::load_file(json_path);
    CHECK(c.log.level == "debug");
    CHECK(c.source == json_path);
    auto yaml_path = dir.write("c.yml", "log: { level: warn }\n");
    CHECK(cfg::load_file(yaml_path).log.level == "warn");
    // JSON is also YAML, but a .json file gets JSON's stricter parser.
    auto bad = dir.write("bad.json", "{\"log\": {level: \"debug\"}}");
    CHECK_THROWS_AS(cfg::load_file(bad), cfg::config_error);
    try {
        cfg::load_file((dir.path / "missing.yaml").string());
        FAIL("no error");
    } catch (const cfg::config_error& e) {
        CHECK(contains(only(e.errors()), "missing.yaml: cannot read the file"));
    }
}

TEST_CASE("deploy/edged.yaml loads and serves the documented routes", "[config][deploy]") {
    auto c = cfg::load_file(EDGED_SOURCE_DIR "/deploy/edged.yaml");
    REQUIRE(c.server.listen.size() == 1);
    CHECK(c.server.listen[0].text == "0.0.0.0:8080");
    CHECK(c.admin.listen.text == "127.0.0.1:9901");
    CHECK(c.upstreams.empty());

    auto route = [&](std::string_view name) -> const cfg::route_config& {
        auto it = std::find_if(c.routes.begin(), c.routes.end(),
                               [&](const auto& r) { return r.name == name; });
        REQUIRE(it != c.routes.end());
        return *it;
    };
    const auto& hello = route("hello");
    CHECK(hello.match.path == "/hello");
    CHECK(hello.match.methods == std::vector<std::string>{"GET", "HEAD"});
    const auto& hs = std::get<cfg::static_handler>(hello.handler);
    CHECK(hs.status == 200);
    CHECK(hs.body == "hello, world\n");
    CHECK(hs.headers == cfg::header_list{{"content-type", "text/plain"}});

    const auto& root = route("root");
    CHECK(root.match.path == "/");
    const auto& rs = std::get<cfg::static_handler>(root.handler);
    CHECK(rs.status == 200);
    CHECK(contains(rs.body, "/hello"));

    const auto& docs = route("docs");
    CHECK(docs.match.path == "/docs");
    const auto& rd = std::get<cfg::redirect_handler>(docs.handler);
    CHECK(rd.status == 301);
    CHECK(rd.location == "https://example.com/edged");
    CHECK_FALSE(rd.keep_path);

    // The shipped file spells out the defaults rather than changing them.
    auto defaults = cfg::to_json(yaml(""));
    auto shipped = cfg::to_json(c);
    for (const char* section : {"server", "admin", "shutdown", "log", "lifecycle", "worker_pool"}) {
        INFO(section);
        CHECK(shipped[section] == defaults[section]);
    }
}

TEST_CASE("jobs: store, prefix and the Redis address are checked", "[config][jobs]") {
    auto c = yaml(
        "jobs: { store: redis, prefix: /jobs/status/, redis: { address: \"redis:6380\", "
        "db: 2, lease: 3s } }\n");
    CHECK(c.jobs.store == "redis");
    CHECK(c.jobs.prefix == "/jobs/status/");
    CHECK(c.jobs.redis.host == "redis");
    CHECK(c.jobs.redis.port == 6380);
    CHECK(c.jobs.redis.db == 2);
    CHECK(c.jobs.redis.lease == 3s);
    CHECK(yaml("jobs: { redis: { address: \"[::1]\" } }\n").jobs.redis.port == 6379);
    CHECK(yaml("jobs: { redis: { address: \"[::1]:7000\" } }\n").jobs.redis.host == "::1");
    auto errors = yaml_errors(
        "jobs:\n  store: disk\n  prefix: tasks\n  redis: { address: \"a b:1\", db: -1, colour: red "
        "}\n");
    REQUIRE(errors.size() == 5);
    CHECK_THAT(errors[0], Catch::Contains("jobs.store: unknown store \"disk\""));
    CHECK_THAT(errors[1], Catch::Contains("jobs.prefix: invalid prefix"));
    CHECK_THAT(errors[2], Catch::Contains("jobs.redis.colour"));
}

TEST_CASE("the configs in the Kubernetes examples load", "[config][deploy]") {
    for (const char* file : {"/deploy/kubernetes.yaml", "/deploy/kubernetes-jobs.yaml"}) {
        INFO(file);
        int configs = 0;
        for (const auto& doc : YAML::LoadAllFromFile(std::string(EDGED_SOURCE_DIR) + file)) {
            if (doc["kind"].as<std::string>() != "ConfigMap") continue;
            const auto text = doc["data"]["edged.yaml"].as<std::string>();
            CHECK_NOTHROW(cfg::load_string(text, cfg::format::yaml));
            ++configs;
        }
        CHECK(configs == 1);
    }
}

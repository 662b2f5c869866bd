// config -> JSON in the file schema, every default spelled out. load_string() of the result gives
// back the same config, which is what makes `--check-config` output a valid config file.

#include "config/to_json.hpp"

namespace edged::config {

namespace {

using ojson = nlohmann::ordered_json;

ojson headers_json(const header_list& headers) {
    ojson out = ojson::object();
    for (const auto& [name, value] : headers) out[name] = value;
    return out;
}

struct handler_visitor {
    ojson operator()(const static_handler& h) const {
        ojson s{{"status", h.status}, {"headers", headers_json(h.headers)}};
        // A body read from a file is shown as the file, so the output stays a config.
        if (h.file) {
            s["file"] = *h.file;
        } else {
            s["body"] = h.body;
        }
        return {{"static", s}};
    }
    ojson operator()(const redirect_handler& h) const {
        return {{"redirect",
                 {{"status", h.status},
                  {"location", h.location},
                  {"keep_path", h.keep_path},
                  {"keep_query", h.keep_query}}}};
    }
    ojson operator()(const proxy_handler& h) const {
        return {{"proxy",
                 {{"upstream", h.upstream},
                  {"max_response_bytes", format_size(h.max_response_bytes)},
                  {"buffer_bytes", format_size(h.buffer_bytes)},
                  {"retries", h.retries}}}};
    }
    ojson operator()(const job_handler& h) const {
        return {{"job",
                 {{"upstream", h.upstream},
                  {"timeout", format_duration(h.timeout)},
                  {"ttl", format_duration(h.ttl)},
                  {"max_jobs", h.max_jobs},
                  {"result_bytes", format_size(h.result_bytes)},
                  {"max_response_bytes", format_size(h.max_response_bytes)}}}};
    }
};

struct action_visitor {
    ojson operator()(const http_action& a) const {
        return {{"http",
                 {{"upstream", a.upstream},
                  {"method", a.method},
                  {"path", a.path},
                  {"headers", headers_json(a.headers)},
                  {"body", a.body},
                  {"retry", a.retry}}}};
    }
    ojson operator()(const mirror_action& a) const {
        return {{"mirror", {{"upstream", a.upstream}}}};
    }
    ojson operator()(const log_action& a) const { return {{"log", {{"message", a.message}}}}; }
};

ojson route_json(const route_config& r) {
    ojson match = ojson::object();
    if (r.match.path) match["path"] = *r.match.path;
    if (r.match.prefix) match["prefix"] = *r.match.prefix;
    match["methods"] = r.match.methods;
    if (r.match.host) match["host"] = *r.match.host;

    // Only what the route overrides: anything else follows the top-level lifecycle section.
    ojson lifecycle = ojson::object();
    if (r.lifecycle.max_wait_until) lifecycle["max_wait_until"] = *r.lifecycle.max_wait_until;
    if (r.lifecycle.max_subrequests) lifecycle["max_subrequests"] = *r.lifecycle.max_subrequests;
    if (r.lifecycle.wall_budget)
        lifecycle["wall_budget"] = format_duration(*r.lifecycle.wall_budget);
    if (r.lifecycle.cpu_budget) lifecycle["cpu_budget"] = format_duration(*r.lifecycle.cpu_budget);

    ojson after = ojson::array();
    for (const auto& a : r.after) after.push_back(std::visit(action_visitor{}, a));

    ojson route = {{"name", r.name},
                   {"match", match},
                   {"handler", std::visit(handler_visitor{}, r.handler)},
                   {"lifecycle", lifecycle},
                   {"after", after}};
    if (r.compress) {
        route["compress"] = {{"encodings", r.compress->encodings},
                             {"min_bytes", format_size(r.compress->min_bytes)},
                             {"gzip_level", r.compress->gzip_level},
                             {"br_level", r.compress->br_level},
                             {"types", r.compress->types}};
    }
    return route;
}

}  // namespace

nlohmann::ordered_json to_ordered_json(const config& c) {
    ojson listen = ojson::array();
    for (const auto& l : c.server.listen) listen.push_back(l.text);

    ojson threads = c.server.threads == 0 ? ojson("auto") : ojson(c.server.threads);

    ojson upstreams = ojson::object();
    for (const auto& u : c.upstreams) {
        upstreams[u.name] = {{"url", u.url},
                             {"connect_timeout", format_duration(u.connect_timeout)},
                             {"timeout", format_duration(u.timeout)},
                             {"max_connections", u.max_connections},
                             {"idle_connections", u.idle_connections},
                             {"read_timeout", format_duration(u.read_timeout)},
                             {"resolve_interval", format_duration(u.resolve_interval)},
                             {"balance", u.balance},
                             {"outlier",
                              {{"consecutive_failures", u.outlier.consecutive_failures},
                               {"ejection_time", format_duration(u.outlier.ejection_time)},
                               {"max_ejection_time", format_duration(u.outlier.max_ejection_time)},
                               {"max_ejected_percent", u.outlier.max_ejected_percent}}}};
        if (!u.health_check.path.empty())
            upstreams[u.name]["health_check"] = {
                {"path", u.health_check.path},
                {"interval", format_duration(u.health_check.interval)},
                {"timeout", format_duration(u.health_check.timeout)},
                {"healthy_threshold", u.health_check.healthy_threshold},
                {"unhealthy_threshold", u.health_check.unhealthy_threshold}};
    }

    ojson routes = ojson::array();
    for (const auto& r : c.routes) routes.push_back(route_json(r));

    const auto& lim = c.server.limits;
    const auto& to = c.server.timeouts;
    return {
        {"server",
         {{"listen", listen},
          {"threads", threads},
          {"limits",
           {{"max_connections", lim.max_connections},
            {"header_bytes", format_size(lim.header_bytes)},
            {"body_bytes", format_size(lim.body_bytes)},
            {"pipeline_depth", lim.pipeline_depth}}},
          {"timeouts",
           {{"header_read", format_duration(to.header_read)},
            {"body_read", format_duration(to.body_read)},
            {"idle", format_duration(to.idle)},
            {"write", format_duration(to.write)},
            {"handler", format_duration(to.handler)}}},
          {"trusted_proxies", c.server.trusted_proxies}}},
        {"admin", {{"listen", c.admin.listen.text}}},
        {"shutdown",
         {{"drain_delay", format_duration(c.shutdown.drain_delay)},
          {"grace", format_duration(c.shutdown.grace)}}},
        {"log",
         {{"level", c.log.level},
          {"access", c.log.access},
          {"access_fields", c.log.access_fields}}},
        {"lifecycle",
         {{"max_wait_until", c.lifecycle.max_wait_until},
          {"max_subrequests", c.lifecycle.max_subrequests},
          {"wall_budget", format_duration(c.lifecycle.wall_budget)},
          {"cpu_budget", format_duration(c.lifecycle.cpu_budget)},
          {"max_background_tasks", c.lifecycle.max_background_tasks},
          {"background_share", c.lifecycle.background_share}}},
        {"worker_pool",
         {{"min_threads", c.worker_pool.min_threads},
          {"max_threads", c.worker_pool.max_threads},
          {"idle_timeout", format_duration(c.worker_pool.idle_timeout)},
          {"queue", c.worker_pool.queue},
          {"queue_timeout", format_duration(c.worker_pool.queue_timeout)},
          {"run_timeout", format_duration(c.worker_pool.run_timeout)},
          {"nice", c.worker_pool.nice}}},
        {"jobs",
         {{"store", c.jobs.store},
          {"prefix", c.jobs.prefix},
          {"concurrency", c.jobs.concurrency},
          {"max_wait", format_duration(c.jobs.max_wait)},
          {"retry_after", format_duration(c.jobs.retry_after)},
          {"redis",
           {{"address", c.jobs.redis.host + ":" + std::to_string(c.jobs.redis.port)},
            {"db", c.jobs.redis.db},
            {"key_prefix", c.jobs.redis.key_prefix},
            {"username", c.jobs.redis.username},
            // Never printed: --check-config output may land in logs.
            {"password", c.jobs.redis.password.empty() ? "" : "(set)"},
            {"timeout", format_duration(c.jobs.redis.timeout)},
            {"lease", format_duration(c.jobs.redis.lease)},
            {"reconnect_interval", format_duration(c.jobs.redis.reconnect_interval)}}}}},
        {"upstreams", upstreams},
        {"routes", routes},
    };
}

nlohmann::json to_json(const config& c) {
    return nlohmann::json(to_ordered_json(c));
}

}  // namespace edged::config

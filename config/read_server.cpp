// The top level of the file and its process-wide sections: server, admin, log, shutdown,
// lifecycle, worker_pool, jobs.

#include "config/validator.hpp"

namespace edged::config::detail {

config validator::run(const node& root) {
    config c;
    c.server.listen.push_back(*parse_listen("0.0.0.0:8080"));
    c.admin.listen = *parse_listen("127.0.0.1:9901");

    section top(*this, &root, "");
    if (!top.ok()) return c;

    read_server(top.get("server"), c.server);

    section admin(*this, top.get("admin"), "admin");
    if (const node* n = admin.get("listen")) {
        if (auto a = listen(*n, admin.key("listen"))) c.admin.listen = *a;
    }

    section shutdown(*this, top.get("shutdown"), "shutdown");
    read_dur(shutdown, "drain_delay", c.shutdown.drain_delay, true);
    read_dur(shutdown, "grace", c.shutdown.grace, true);

    section log(*this, top.get("log"), "log");
    if (const node* n = log.get("level")) {
        if (auto level = str(*n, log.key("level"))) {
            static const std::set<std::string, std::less<>> levels = {
                "trace", "debug", "info", "warn", "error", "critical", "off"};
            if (levels.count(*level)) {
                c.log.level = *level;
            } else {
                error(n->line, log.key("level"),
                      "unknown level " + quote(*level) +
                          ": expected one of trace, debug, info, warn, error, critical, off");
            }
        }
    }
    read_bool(log, "access", c.log.access);
    read_list(log, "access_fields", c.log.access_fields, [](const std::string& f) {
        const auto& names = access_log_field_names();
        return std::find(names.begin(), names.end(), f) != names.end();
    });

    read_lifecycle(top.get("lifecycle"), c.lifecycle);
    read_worker_pool(top.get("worker_pool"), c.worker_pool);
    read_jobs(top.get("jobs"), c.jobs);
    // Upstreams before routes, whatever the file order, so routes can be checked against them.
    read_upstreams(top.get("upstreams"), c.upstreams);
    read_routes(top.get("routes"), c.routes);
    return c;
}

void validator::read_server(const node* n, server_config& out) {
    section s(*this, n, "server");
    read_list(s, "trusted_proxies", out.trusted_proxies, is_address_or_cidr, true);

    if (const node* l = s.get("listen")) {
        const std::string path = s.key("listen");
        std::vector<listen_address> addresses;
        bool ok = true;
        if (l->type == kind::list) {
            for (std::size_t i = 0; i < l->items.size(); ++i) {
                auto a = listen(l->items[i], path + "[" + std::to_string(i) + "]");
                if (a) addresses.push_back(*a);
                ok = ok && a.has_value();
            }
            if (l->items.empty()) {
                error(l->line, path, "expected at least one address");
                ok = false;
            }
        } else if (l->type == kind::string || (l->plain && l->type != kind::null)) {
            auto a = listen(*l, path);  // a single address is a list of one
            if (a) addresses.push_back(*a);
            ok = a.has_value();
        } else {
            wrong_type(*l, path, "a list of addresses or a single address");
            ok = false;
        }
        if (ok) out.listen = std::move(addresses);
    }

    if (const node* t = s.get("threads")) {
        if ((t->type == kind::string || t->plain) && t->text == "auto") {
            out.threads = 0;
        } else if (t->type == kind::integer) {
            read_int(s, "threads", out.threads);
        } else {
            wrong_type(*t, s.key("threads"), "\"auto\" or an integer 1..256");
        }
    }

    section limits(*this, s.get("limits"), s.key("limits"));
    read_int(limits, "max_connections", out.limits.max_connections);
    read_size(limits, "header_bytes", out.limits.header_bytes, 1024, 1024 * 1024);
    read_size(limits, "body_bytes", out.limits.body_bytes, 0, 1024ull * 1024 * 1024);
    read_int(limits, "pipeline_depth", out.limits.pipeline_depth);

    section timeouts(*this, s.get("timeouts"), s.key("timeouts"));
    read_dur(timeouts, "header_read", out.timeouts.header_read, false);
    read_dur(timeouts, "body_read", out.timeouts.body_read, false);
    read_dur(timeouts, "idle", out.timeouts.idle, false);
    read_dur(timeouts, "write", out.timeouts.write, false);
    read_dur(timeouts, "handler", out.timeouts.handler, false);
}

void validator::read_lifecycle(const node* n, lifecycle_config& out) {
    section s(*this, n, "lifecycle");
    read_int(s, "max_wait_until", out.max_wait_until);
    read_int(s, "max_subrequests", out.max_subrequests);
    read_dur(s, "wall_budget", out.wall_budget, false);
    read_dur(s, "cpu_budget", out.cpu_budget, false);
    read_int(s, "max_background_tasks", out.max_background_tasks);
    read_int(s, "background_share", out.background_share);
}

void validator::read_overrides(const node* n, const std::string& path, lifecycle_overrides& out) {
    section s(*this, n, path);
    if (const node* v = s.get("max_wait_until")) {
        if (auto i = integer(*v, s, "max_wait_until")) out.max_wait_until = *i;
    }
    if (const node* v = s.get("max_subrequests")) {
        if (auto i = integer(*v, s, "max_subrequests")) out.max_subrequests = *i;
    }
    if (const node* v = s.get("wall_budget")) {
        if (auto d = dur(*v, s.key("wall_budget"), false)) out.wall_budget = *d;
    }
    if (const node* v = s.get("cpu_budget")) {
        if (auto d = dur(*v, s.key("cpu_budget"), false)) out.cpu_budget = *d;
    }
}

void validator::read_worker_pool(const node* n, worker_pool_config& out) {
    section s(*this, n, "worker_pool");
    bool min_ok = true;
    if (const node* v = s.get("min_threads")) {
        auto i = integer(*v, s, "min_threads");
        if (i) out.min_threads = static_cast<unsigned>(*i);
        min_ok = i.has_value();
    }
    bool max_ok = true;
    if (const node* v = s.get("max_threads")) {
        auto i = integer(*v, s, "max_threads");
        if (i) out.max_threads = static_cast<unsigned>(*i);
        max_ok = i.has_value();
    }
    if (min_ok && max_ok && out.min_threads > out.max_threads) {
        const node* v = s.get("min_threads");
        error(v ? v->line : s.line(), s.key("min_threads"),
              "out of range: " + std::to_string(out.min_threads) + " is more than max_threads (" +
                  std::to_string(out.max_threads) + ")");
    }
    read_dur(s, "idle_timeout", out.idle_timeout, false);
    read_int(s, "queue", out.queue);
    read_dur(s, "queue_timeout", out.queue_timeout, false);
    read_dur(s, "run_timeout", out.run_timeout, false);
    read_int(s, "nice", out.nice);
}

void validator::read_jobs(const node* n, jobs_config& out) {
    section s(*this, n, "jobs");
    if (const node* v = s.get("store")) {
        if (auto store = str(*v, s.key("store"))) {
            if (*store == "memory" || *store == "redis")
                out.store = *store;
            else
                error(v->line, s.key("store"),
                      "unknown store " + quote(*store) + ": expected memory or redis");
        }
    }
    if (const node* v = s.get("prefix")) {
        if (auto p = str(*v, s.key("prefix"))) {
            if (p->size() < 2 || p->front() != '/' || p->back() != '/' ||
                p->find_first_of("?#% \t") != std::string::npos)
                error(v->line, s.key("prefix"),
                      "invalid prefix " + quote(*p) +
                          ": expected a path that starts and ends "
                          "with '/', such as /tasks/");
            else
                out.prefix = *p;
        }
    }
    read_int(s, "concurrency", out.concurrency);
    read_dur(s, "max_wait", out.max_wait, true);
    read_dur(s, "retry_after", out.retry_after, true);
    section r(*this, s.get("redis"), s.key("redis"));
    if (const node* v = r.get("address")) {
        if (auto text = str(*v, r.key("address"))) {
            if (!parse_redis_address(*text, out.redis))
                error(v->line, r.key("address"),
                      "invalid address " + quote(*text) +
                          ": expected host:port (a name or an IP address; the port defaults to "
                          "6379), such as redis:6379 or 127.0.0.1:6379");
        }
    }
    read_int(r, "db", out.redis.db);
    if (const node* v = r.get("key_prefix")) {
        if (auto k = str(*v, r.key("key_prefix"))) out.redis.key_prefix = *k;
    }
    if (const node* v = r.get("username")) {
        if (auto u = str(*v, r.key("username"))) out.redis.username = *u;
    }
    if (const node* v = r.get("password")) {
        if (auto p = str(*v, r.key("password"))) out.redis.password = *p;
    }
    if (!out.redis.username.empty() && out.redis.password.empty())
        error(r.get("username")->line, r.key("username"), "needs a password");
    read_dur(r, "timeout", out.redis.timeout, false);
    read_dur(r, "lease", out.redis.lease, false);
    read_dur(r, "reconnect_interval", out.redis.reconnect_interval, true);
}

// http://host[:port][/base], parsed by Boost.URL. Fills host, port and base_path; returns why
// not, or "".

}  // namespace edged::config::detail

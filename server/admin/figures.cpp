#include "server/admin/figures.hpp"

#include <limits>
#include <sstream>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace edged::server {
namespace {

namespace prom = prometheus;
using label_list = std::vector<prom::ClientMetric::Label>;

prom::MetricFamily& family(std::vector<prom::MetricFamily>& out, std::string name, std::string help,
                           prom::MetricType type) {
    out.push_back({std::move(name), std::move(help), type, {}});
    return out.back();
}

void sample(prom::MetricFamily& f, label_list labels, double value) {
    prom::ClientMetric m;
    m.label = std::move(labels);
    if (f.type == prom::MetricType::Counter)
        m.counter.value = value;
    else
        m.gauge.value = value;
    f.metric.push_back(std::move(m));
}

// One sample per value of `label`.
void by_label(prom::MetricFamily& f, const std::string& label,
              std::initializer_list<std::pair<const char*, double>> values) {
    for (const auto& [value, x] : values) sample(f, {{label, value}}, x);
}

void histogram(prom::MetricFamily& f, label_list labels, const lifecycle::histogram_totals& h) {
    prom::ClientMetric m;
    m.label = std::move(labels);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < lifecycle::histogram_buckets; ++i) {
        cumulative += h.buckets[i];
        const double bound = i < lifecycle::histogram_bounds.size()
                                 ? lifecycle::histogram_bounds[i]
                                 : std::numeric_limits<double>::infinity();
        m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(h.sum_ns) / 1e9;
    f.metric.push_back(std::move(m));
}

}  // namespace

std::uint64_t route_figures::requests() const {
    std::uint64_t n = other_status;
    for (const auto& [status, count] : by_status) n += count;
    return n;
}

void route_figures::add(const lifecycle::route_stats& s) {
    for (std::size_t i = 0; i < s.by_status.size(); ++i) {
        const std::uint64_t n = s.by_status[i].get();
        if (n == 0) continue;
        const unsigned status = lifecycle::route_stats::first_status + static_cast<unsigned>(i);
        auto it = std::lower_bound(by_status.begin(), by_status.end(), status,
                                   [](const auto& p, unsigned v) { return p.first < v; });
        if (it != by_status.end() && it->first == status)
            it->second += n;
        else
            by_status.insert(it, {status, n});
    }
    other_status += s.other_status.get();
    to_flush.add(s.to_flush);
    post_response.add(s.post_response);
    cpu.add(s.cpu);
    for (std::size_t i = 0; i < tasks.size(); ++i) tasks[i] += s.tasks[i].get();
}

void upstream_figures::add(const upstream_stats& s) {
    for (std::size_t i = 0; i < by_outcome.size(); ++i) by_outcome[i] += s.by_outcome[i].get();
    idle += s.idle.get();
    active += s.active.get();
}

std::uint64_t figures::requests() const {
    std::uint64_t n = 0;
    for (const auto& r : routes) n += r.requests();
    return n;
}

std::string to_prometheus(const figures& f) {
    using prom::MetricType;
    std::vector<prom::MetricFamily> out;
    out.reserve(24);

    sample(family(out, "edged_build_info", "edged's version (always 1)", MetricType::Gauge),
           {{"version", EDGED_VERSION}}, 1);
    sample(family(out, "edged_ready", "1 while /readyz answers 200, 0 once shutdown began",
                  MetricType::Gauge),
           {}, f.ready ? 1 : 0);
    sample(family(out, "edged_config_generation",
                  "The config generation new requests are served with (1 at start, +1 per "
                  "reload that took effect)",
                  MetricType::Gauge),
           {}, static_cast<double>(f.generation));
    {
        auto& r = family(out, "edged_config_reloads_total", "Config reloads (SIGHUP) by result",
                         MetricType::Counter);
        sample(r, {{"result", "ok"}}, static_cast<double>(f.reloads_ok));
        sample(r, {{"result", "error"}}, static_cast<double>(f.reloads_error));
    }
    sample(family(out, "edged_connections_active", "Open client connections", MetricType::Gauge),
           {}, static_cast<double>(f.connections_active));
    {
        auto& c = family(out, "edged_connections_total",
                         "Client connections by result (rejected: over "
                         "server.limits.max_connections)",
                         MetricType::Counter);
        sample(c, {{"result", "accepted"}},
               static_cast<double>(f.connections_accepted - f.connections_rejected));
        sample(c, {{"result", "rejected"}}, static_cast<double>(f.connections_rejected));
    }
    sample(family(out, "edged_connections_evicted_total",
                  "Connections closed at server.limits.max_connections to make room, while "
                  "they were still waiting for a request head (the one waiting longest first)",
                  MetricType::Counter),
           {}, static_cast<double>(f.connections_evicted));

    auto& requests = family(out, "edged_requests_total", "Requests answered, by route and status",
                            MetricType::Counter);
    auto& duration = family(out, "edged_request_duration_seconds",
                            "End of the request head to the response handed to the kernel",
                            MetricType::Histogram);
    auto& post = family(out, "edged_post_response_seconds",
                        "Flush of the response to the end of its last background task "
                        "(requests with background tasks)",
                        MetricType::Histogram);
    auto& cpu = family(out, "edged_request_cpu_seconds",
                       "Thread CPU of the handler and the background tasks, offloaded work "
                       "included (requests with background tasks)",
                       MetricType::Histogram);
    auto& tasks = family(out, "edged_background_tasks_total",
                         "Background tasks (wait_until) by route and outcome", MetricType::Counter);
    for (const auto& r : f.routes) {
        for (const auto& [status, n] : r.by_status)
            sample(requests, {{"code", std::to_string(status)}, {"route", r.name}},
                   static_cast<double>(n));
        if (r.other_status)
            sample(requests, {{"code", "other"}, {"route", r.name}},
                   static_cast<double>(r.other_status));
        histogram(duration, {{"route", r.name}}, r.to_flush);
        histogram(post, {{"route", r.name}}, r.post_response);
        histogram(cpu, {{"route", r.name}}, r.cpu);
        for (std::size_t i = 0; i < lifecycle::outcome_count; ++i) {
            const auto o = static_cast<lifecycle::outcome>(i);
            sample(tasks, {{"outcome", std::string(lifecycle::to_string(o))}, {"route", r.name}},
                   static_cast<double>(r.tasks[i]));
        }
    }
    sample(family(out, "edged_background_tasks_running",
                  "Background tasks accepted and not yet ended", MetricType::Gauge),
           {}, static_cast<double>(f.tasks.running));

    auto& subrequests = family(out, "edged_subrequests_total",
                               "Subrequests (proxy, ctx.fetch, after-actions, jobs) by upstream "
                               "and outcome",
                               MetricType::Counter);
    auto& conns = family(out, "edged_upstream_connections", "Pooled upstream connections by state",
                         MetricType::Gauge);
    auto& healthy = family(out, "edged_upstream_address_healthy",
                           "1 when the upstream address gets requests, 0 when ejected or failing "
                           "its health check",
                           MetricType::Gauge);
    auto& ejections = family(out, "edged_upstream_address_ejections_total",
                             "Passive ejections of the upstream address", MetricType::Counter);
    for (const auto& u : f.upstreams) {
        for (std::size_t i = 0; i < subrequest_outcome_count; ++i) {
            const auto o = static_cast<subrequest_outcome>(i);
            sample(subrequests, {{"outcome", std::string(to_string(o))}, {"upstream", u.name}},
                   static_cast<double>(u.by_outcome[i]));
        }
        sample(conns, {{"state", "active"}, {"upstream", u.name}}, static_cast<double>(u.active));
        sample(conns, {{"state", "idle"}, {"upstream", u.name}}, static_cast<double>(u.idle));
        for (const auto& a : u.addresses) {
            sample(healthy, {{"address", a.text}, {"upstream", u.name}},
                   a.state == "healthy" ? 1.0 : 0.0);
            sample(ejections, {{"address", a.text}, {"upstream", u.name}},
                   static_cast<double>(a.ejections));
        }
    }

    if (f.pool) {
        const auto& p = *f.pool;
        sample(family(out, "edged_worker_pool_threads", "Worker pool threads", MetricType::Gauge),
               {}, static_cast<double>(p.threads));
        sample(family(out, "edged_worker_pool_busy", "Worker pool threads running an item",
                      MetricType::Gauge),
               {}, static_cast<double>(p.busy));
        sample(family(out, "edged_worker_pool_queued", "Items waiting for a pool thread",
                      MetricType::Gauge),
               {}, static_cast<double>(p.queued));
        auto& items = family(out, "edged_worker_pool_items_total", "Worker pool items by outcome",
                             MetricType::Counter);
        by_label(items, "outcome",
                 {{"completed", static_cast<double>(p.completed)},
                  {"failed", static_cast<double>(p.failed)},
                  {"cancelled", static_cast<double>(p.cancelled)},
                  {"timed_out", static_cast<double>(p.timed_out)},
                  {"rejected", static_cast<double>(p.rejected)}});
        sample(family(out, "edged_worker_pool_cpu_seconds_total",
                      "Thread CPU the worker pool's items used", MetricType::Counter),
               {}, p.cpu_seconds);
    }

    if (f.jobs) {
        const auto& j = *f.jobs;
        auto& now = family(out, "edged_jobs", "Jobs of this process not finished, by state",
                           MetricType::Gauge);
        by_label(now, "state",
                 {{"pending", static_cast<double>(j.pending)},
                  {"running", static_cast<double>(j.running)}});
        auto& ended = family(out, "edged_jobs_total",
                             "Jobs of this process by how they ended, and submissions refused "
                             "(rejected) or answered from an Idempotency-Key (replayed)",
                             MetricType::Counter);
        by_label(ended, "result",
                 {{"submitted", static_cast<double>(j.submitted)},
                  {"replayed", static_cast<double>(j.replayed)},
                  {"rejected", static_cast<double>(j.rejected)},
                  {"succeeded", static_cast<double>(j.succeeded)},
                  {"failed", static_cast<double>(j.failed)},
                  {"cancelled", static_cast<double>(j.cancelled)}});
        sample(family(out, "edged_job_store_errors_total",
                      "Job store commands that failed (store unavailable)", MetricType::Counter),
               {}, static_cast<double>(j.store_errors));
    }

    std::ostringstream text;
    prom::TextSerializer().Serialize(text, out);
    return text.str();
}

nlohmann::json to_json(const figures& f) {
    nlohmann::json j = {
        {"ready", f.ready},
        {"open_connections", f.connections_active},
        {"connections_accepted", f.connections_accepted},
        {"connections_rejected", f.connections_rejected},
        {"connections_evicted", f.connections_evicted},
        {"requests", f.requests()},
        {"config",
         {{"generation", f.generation},
          {"reloads_ok", f.reloads_ok},
          {"reloads_error", f.reloads_error}}},
    };
    auto& tasks = j["tasks"];
    tasks["registered"] = f.tasks.registered;
    tasks["running"] = f.tasks.running;
    for (std::size_t i = 0; i < lifecycle::outcome_count; ++i) {
        const auto o = static_cast<lifecycle::outcome>(i);
        tasks[std::string(lifecycle::to_string(o))] = f.tasks.get(o);
    }
    j["subrequests"] = {{"started", f.tasks.subrequests},
                        {"rejected", f.tasks.subrequests_rejected}};
    auto& routes = j["routes"];
    routes = nlohmann::json::object();
    for (const auto& r : f.routes) {
        auto& out = routes[r.name];
        out["requests"] = r.requests();
        auto& by = out["by_status"];
        by = nlohmann::json::object();
        for (const auto& [status, n] : r.by_status) by[std::to_string(status)] = n;
        if (r.other_status) by["other"] = r.other_status;
        auto& t = out["tasks"];
        for (std::size_t i = 0; i < lifecycle::outcome_count; ++i)
            t[std::string(lifecycle::to_string(static_cast<lifecycle::outcome>(i)))] = r.tasks[i];
    }
    auto& upstreams = j["upstreams"];
    upstreams = nlohmann::json::object();
    for (const auto& u : f.upstreams) {
        auto& out = upstreams[u.name];
        for (std::size_t i = 0; i < subrequest_outcome_count; ++i)
            out[std::string(to_string(static_cast<subrequest_outcome>(i)))] = u.by_outcome[i];
        out["connections_active"] = u.active;
        out["connections_idle"] = u.idle;
        auto& list = out["addresses"];
        list = nlohmann::json::array();
        for (const auto& a : u.addresses)
            list.push_back({{"address", a.text},
                            {"state", a.state},
                            {"ejections", a.ejections},
                            {"failures", a.failures}});
        if (!u.lookup_error.empty()) out["lookup_error"] = u.lookup_error;
    }
    if (f.jobs) {
        const auto& jf = *f.jobs;
        j["jobs"] = {
            {"store", jf.store},
            {"unfinished_here", jf.unfinished},
            {"pending", jf.pending},
            {"running", jf.running},
            {"submitted", jf.submitted},
            {"replayed", jf.replayed},
            {"rejected", jf.rejected},
            {"succeeded", jf.succeeded},
            {"failed", jf.failed},
            {"cancelled", jf.cancelled},
            {"store_errors", jf.store_errors},
        };
    }
    if (f.pool) {
        const auto& p = *f.pool;
        j["worker_pool"] = {
            {"threads", p.threads},
            {"busy", p.busy},
            {"idle", p.idle},
            {"queued", p.queued},
            {"submitted", p.submitted},
            {"completed", p.completed},
            {"failed", p.failed},
            {"cancelled", p.cancelled},
            {"timed_out", p.timed_out},
            {"rejected", p.rejected},
            {"overrun", p.overrun},
            {"cpu_seconds", p.cpu_seconds},
        };
    }
    return j;
}

}  // namespace edged::server

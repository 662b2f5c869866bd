#include "server/generation.hpp"

#include <algorithm>

namespace edged::server {

generation::generation(config::config c, std::uint64_t n, jobs::job_service* jobs,
                       lifecycle::route_registry* stats, const generation* before)
    : cfg(std::move(c)),
      number(n),
      routes(cfg, jobs, stats),
      trusted(cfg.server.trusted_proxies),
      addresses(cfg, before ? &before->addresses : nullptr),
      access_fields(0) {
    const auto& names = config::access_log_field_names();
    for (const auto& f : cfg.log.access_fields) {
        const auto at = std::find(names.begin(), names.end(), f);
        if (at != names.end()) access_fields |= 1u << (at - names.begin());
    }
}

thread_generation::thread_generation(net::io_context& ioc, std::shared_ptr<const generation> g,
                                     upstream_registry* stats, std::size_t thread)
    : shared(std::move(g)),
      upstreams(ioc, shared->addresses, stats, thread),
      defaults(lifecycle::lifecycle_limits::of(shared->cfg)) {}

}  // namespace edged::server

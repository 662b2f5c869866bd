#include "server/generation.hpp"

namespace edged::server {

generation::generation(config::config c, std::uint64_t n, jobs::job_service* jobs,
                       lifecycle::route_registry* stats)
    : cfg(std::move(c)), number(n), routes(cfg, jobs, stats) {}

thread_generation::thread_generation(net::io_context& ioc, std::shared_ptr<const generation> g,
                                     upstream_registry* stats, std::size_t thread)
    : shared(std::move(g)),
      upstreams(ioc, shared->cfg, stats, thread),
      defaults(lifecycle::lifecycle_limits::of(shared->cfg)) {}

}  // namespace edged::server

#include "server/handlers/factory.hpp"

#include <stdexcept>
#include <type_traits>

#include "server/handlers/compressing_handler.hpp"
#include "server/handlers/job_handler.hpp"
#include "server/handlers/proxy_handler.hpp"
#include "server/handlers/redirect_handler.hpp"
#include "server/handlers/static_handler.hpp"

namespace edged::server {

std::unique_ptr<lifecycle::handler> make_handler(const config::route_config& rc,
                                                 const handler_deps& deps) {
    return std::visit(
        [&](const auto& h) -> std::unique_ptr<lifecycle::handler> {
            using T = std::decay_t<decltype(h)>;
            const config::compress_config* compress = rc.compress ? &*rc.compress : nullptr;
            if constexpr (std::is_same_v<T, config::static_handler>) {
                return std::make_unique<static_handler>(h, compress);
            } else if constexpr (std::is_same_v<T, config::redirect_handler>) {
                return std::make_unique<redirect_handler>(h);
            } else if constexpr (std::is_same_v<T, config::proxy_handler>) {
                auto proxy = std::make_unique<proxy_handler>(h);
                if (!compress) return proxy;
                return std::make_unique<compressing_handler>(std::move(proxy), *compress);
            } else {
                if (!deps.jobs)
                    throw std::runtime_error("routes." + rc.name +
                                             ".handler.job: no job service (jobs:) was set up");
                // Prefer: wait= stops a second short of the handler timeout (504).
                auto inline_cap = std::min<std::chrono::milliseconds>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deps.jobs->cfg().max_wait),
                    deps.handler_timeout - std::chrono::seconds(1));
                if (inline_cap.count() < 0) inline_cap = std::chrono::milliseconds(0);
                return std::make_unique<job_handler>(h, *deps.jobs, inline_cap);
            }
        },
        rc.handler);
}

}  // namespace edged::server

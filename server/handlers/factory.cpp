#include "server/handlers/factory.hpp"

#include <stdexcept>
#include <type_traits>

#include "server/handlers/compressing_handler.hpp"
#include "server/handlers/proxy_handler.hpp"
#include "server/handlers/redirect_handler.hpp"
#include "server/handlers/static_handler.hpp"

namespace edged::server {

std::unique_ptr<lifecycle::handler> make_handler(const config::route_config& rc) {
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
                throw std::runtime_error("routes." + rc.name +
                                         ".handler.job: the job handler is not available in "
                                         "this version of edged");
            }
        },
        rc.handler);
}

}  // namespace edged::server

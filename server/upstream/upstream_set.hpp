#pragma once
// The transport behind ctx.fetch on one I/O thread: every configured upstream's pool, by name.

#include <memory>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/fetch.hpp"
#include "server/net.hpp"
#include "server/upstream/upstream_pool.hpp"

namespace edged::server {

// All upstream pools of one I/O thread.
class upstream_set final : public lifecycle::fetcher {
public:
    upstream_set(net::io_context& ioc, const config::config& cfg);
    upstream_pool* find(std::string_view name);
    // lifecycle::fetcher: ctx.fetch() lands here.
    net::awaitable<lifecycle::fetch_result> fetch(std::string_view upstream, lifecycle::request req,
                                                  std::size_t max_body) override;

private:
    std::vector<std::unique_ptr<upstream_pool>> pools_;
};

}  // namespace edged::server

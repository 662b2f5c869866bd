#pragma once
// The transport behind ctx.fetch on one I/O thread: every configured upstream's pool, by name.

#include <memory>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/fetch.hpp"
#include "server/net.hpp"
#include "server/upstream/address_table.hpp"
#include "server/upstream/upstream_pool.hpp"

namespace edged::server {

// All upstream pools of one I/O thread.
class upstream_set final : public lifecycle::fetcher {
public:
    // `stats`: the process's upstream figures, where thread `thread` counts (null: figures of
    // its own, for tests).
    upstream_set(net::io_context& ioc, const address_directory& addresses,
                 upstream_registry* stats = nullptr, std::size_t thread = 0);
    upstream_pool* find(std::string_view name);
    // lifecycle::fetcher: ctx.fetch() lands here.
    net::awaitable<lifecycle::fetch_result> fetch(std::string_view upstream, lifecycle::request req,
                                                  std::size_t max_body) override;
    net::awaitable<lifecycle::stream_result> open(std::string_view upstream,
                                                  const lifecycle::request& req,
                                                  lifecycle::stream_options opts) override;
    void count_rejected(std::string_view upstream) noexcept override;

private:
    std::unique_ptr<upstream_registry> own_stats_;  // without a registry given
    std::vector<std::unique_ptr<upstream_pool>> pools_;
};

}  // namespace edged::server

#pragma once
// Built-in `redirect` handler: answers with a 3xx and a Location built from config, optionally
// keeping the part of the path after the route's prefix and the query string.

#include <string>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"

namespace edged::server {

class redirect_handler final : public lifecycle::handler {
public:
    explicit redirect_handler(const config::redirect_handler& cfg);
    lifecycle::response handle(const lifecycle::request& req, lifecycle::context& ctx) override;

private:
    config::redirect_handler cfg_;
};

}  // namespace edged::server

#include "server/handlers/redirect_handler.hpp"

namespace edged::server {

redirect_handler::redirect_handler(const config::redirect_handler& cfg) : cfg_(cfg) {}

lifecycle::response redirect_handler::handle(const lifecycle::request&, lifecycle::context& ctx) {
    std::string location = cfg_.location;
    if (cfg_.keep_path) {
        std::string_view suffix = ctx.path();
        suffix.remove_prefix(std::min(suffix.size(), ctx.matched_prefix().size()));
        if (!location.empty() && location.back() == '/' && suffix.starts_with('/'))
            suffix.remove_prefix(1);
        location += suffix;
    }
    if (cfg_.keep_query && !ctx.query().empty()) {
        location += location.find('?') == std::string::npos ? '?' : '&';
        location += ctx.query();
    }
    lifecycle::response res;
    res.status = cfg_.status;
    res.headers.emplace_back("Location", std::move(location));
    return res;
}

}  // namespace edged::server

#include "server/handlers/static_handler.hpp"

namespace edged::server {

static_handler::static_handler(const config::static_handler& cfg)
    : status_(cfg.status), body_(cfg.body) {
    for (const auto& [name, value] : cfg.headers) {
        headers_ += name;
        headers_ += ": ";
        headers_ += value;
        headers_ += "\r\n";
    }
}

lifecycle::response static_handler::handle(const lifecycle::request&, lifecycle::context&) {
    lifecycle::response res;
    res.status = status_;
    res.fixed_headers = headers_;
    res.body_ref = body_;
    return res;
}

}  // namespace edged::server

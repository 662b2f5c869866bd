#pragma once
// Built-in `static` handler: a fixed status, headers and body from config (the body inline or
// read from a file at start-up by the config loader). Answers without copying: the response
// points at this handler's preformatted header block and body.

#include <string>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"

namespace edged::server {

class static_handler final : public lifecycle::handler {
public:
    explicit static_handler(const config::static_handler& cfg);
    lifecycle::response handle(const lifecycle::request& req, lifecycle::context& ctx) override;

private:
    unsigned status_;
    std::string headers_;  // "Name: value\r\n" lines
    std::string body_;
};

}  // namespace edged::server

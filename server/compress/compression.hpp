#pragma once
// A route's response compression (`compress:` in its config): which responses qualify, which
// coding a request gets, and at what level. The static handler applies it once per coding at
// start-up; compressing_handler applies it to responses made at run time, on the worker pool.
//
// A response qualifies when the request is not HEAD, its status has a body (not 1xx, 204, 304),
// it carries no Content-Encoding yet, its body has at least min_bytes, and its Content-Type
// (without parameters, case-insensitive) is one of the listed types ("type/*" matches a whole
// type). Every response of a compressing route says `Vary: Accept-Encoding`, compressed or not.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/message.hpp"

namespace edged::server {

class compression {
public:
    static constexpr std::string_view vary_line = "Vary: Accept-Encoding\r\n";

    explicit compression(const config::compress_config& cfg);

    // The coding for a response to `req` ("" for identity), from its Accept-Encoding.
    std::string_view choose(const lifecycle::request& req) const;
    bool eligible(const lifecycle::request& req, const lifecycle::response& res) const;
    bool type_listed(std::string_view content_type) const;
    int level(std::string_view coding) const;
    std::size_t min_bytes() const { return cfg_.min_bytes; }
    const std::vector<std::string>& encodings() const { return cfg_.encodings; }

private:
    config::compress_config cfg_;
};

// The value of the response's first header `name` (case-insensitive), from its preformatted
// block or its list.
std::optional<std::string_view> find_header(const lifecycle::response& res, std::string_view name);

}  // namespace edged::server

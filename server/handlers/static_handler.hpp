#pragma once
// Built-in `static` handler: a fixed status, headers and body from config (the body inline or
// read from a file at start-up by the config loader). Answers without copying: the response
// points at this handler's preformatted header block and body. With `compress:` the body is
// compressed once per coding here, at start-up, and each request gets the variant its
// Accept-Encoding chooses (HEAD: the identity one).

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"
#include "server/compress/compression.hpp"

namespace edged::server {

class static_handler final : public lifecycle::handler {
public:
    explicit static_handler(const config::static_handler& cfg,
                            const config::compress_config* compress = nullptr);
    lifecycle::response handle(const lifecycle::request& req, lifecycle::context& ctx) override;

private:
    struct variant {
        std::string_view coding;  // one of compression_'s encodings
        std::string headers;      // headers_ with Vary and Content-Encoding
        std::string body;
    };
    unsigned status_;
    std::string headers_;  // "Name: value\r\n" lines (with Vary when compressing)
    std::string body_;
    std::optional<compression> compression_;
    std::vector<variant> variants_;  // precompressed bodies, when the body qualifies
};

}  // namespace edged::server

#include "server/http/response_writer.hpp"

#include <array>
#include <charconv>
#include <optional>

#include <boost/beast/http/status.hpp>

#include "server/http/header_text.hpp"
#include "server/net.hpp"

namespace edged::server {
namespace {

// "HTTP/1.1 200 OK\r\n" for every status code, built once.
class status_lines {
public:
    status_lines() {
        for (unsigned code = 100; code < 600; ++code) {
            auto reason = http::obsolete_reason(static_cast<http::status>(code));
            std::string line = "HTTP/1.1 " + std::to_string(code) + " ";
            line.append(reason.data(), reason.size());
            if (reason.empty() || reason == "<unknown-status>") line += "Status";
            line += "\r\n";
            lines_[code - 100] = std::move(line);
        }
    }
    std::string_view get(unsigned code) const {
        if (code < 100 || code >= 600) code = 500;
        return lines_[code - 100];
    }

private:
    std::array<std::string, 500> lines_;
};

const status_lines& lines() {
    static const status_lines table;
    return table;
}

}  // namespace

std::size_t append_response(std::string& out, const lifecycle::response& res,
                            const response_meta& meta) {
    using namespace std::string_view_literals;
    const std::string_view body = res.payload();
    const bool bodyless = lifecycle::bodyless_status(res.status);

    out += lines().get(res.status);
    out += "Server: edged\r\nDate: "sv;
    out += meta.date;
    out += "\r\n"sv;
    const bool streamed = res.stream && !bodyless;
    std::optional<std::uint64_t> length;
    if (!streamed)
        length = bodyless ? 0 : body.size();
    else
        length = res.stream->length();
    if (length && (!bodyless || res.status == 304)) {
        char num[24];
        auto [end, ec] = std::to_chars(num, num + sizeof num, *length);
        out += "Content-Length: "sv;
        out.append(num, end);
        out += "\r\n"sv;
    } else if (streamed && !length && meta.chunked) {
        out += "Transfer-Encoding: chunked\r\n"sv;
    }
    if (meta.close) {
        out += "Connection: close\r\n"sv;
    } else if (meta.keep_alive_10) {
        out += "Connection: keep-alive\r\n"sv;
    }
    if (!meta.request_id.empty()) {
        out += "X-Request-Id: "sv;
        out += meta.request_id;
        out += "\r\n"sv;
    }
    out += res.fixed_headers;
    for (const auto& [name, value] : res.headers) {
        if (!is_token(name) || !is_safe_header_value(value)) continue;
        out += name;
        out += ": "sv;
        out += value;
        out += "\r\n"sv;
    }
    out += "\r\n"sv;
    if (meta.head || bodyless || streamed) return 0;
    out += body;
    return body.size();
}

std::string_view error_body(unsigned status) {
    switch (status) {
        case 400:
            return "bad request\n";
        case 404:
            return "not found\n";
        case 405:
            return "method not allowed\n";
        case 408:
            return "request timeout\n";
        case 413:
            return "payload too large\n";
        case 417:
            return "expectation failed\n";
        case 431:
            return "request header fields too large\n";
        case 500:
            return "internal server error\n";
        case 501:
            return "not implemented\n";
        case 505:
            return "http version not supported\n";
        default:
            return "error\n";
    }
}

lifecycle::response error_response(unsigned status) {
    return lifecycle::text_response(status, error_body(status));
}

}  // namespace edged::server

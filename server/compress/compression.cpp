#include "server/compress/compression.hpp"

#include <boost/beast/http/field.hpp>

#include "server/compress/accept_encoding.hpp"
#include "server/http/header_text.hpp"

namespace edged::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

}  // namespace

compression::compression(const config::compress_config& cfg) : cfg_(cfg) {}

std::string_view compression::choose(const lifecycle::request& req) const {
    auto [first, last] = req.equal_range(http::field::accept_encoding);
    if (first == last) return negotiate_encoding("", false, cfg_.encodings);
    if (std::next(first) == last) return negotiate_encoding(first->value(), true, cfg_.encodings);
    std::string joined;  // several fields: one list (RFC 9110 §5.3)
    for (auto it = first; it != last; ++it) {
        if (!joined.empty()) joined += ", ";
        joined += it->value();
    }
    return negotiate_encoding(joined, true, cfg_.encodings);
}

bool compression::type_listed(std::string_view content_type) const {
    const std::string_view media = trim_ows(content_type.substr(0, content_type.find(';')));
    const auto slash = media.find('/');
    if (slash == std::string_view::npos) return false;
    for (const auto& t : cfg_.types) {
        if (t.ends_with("/*")) {
            if (iequals(media.substr(0, slash + 1), std::string_view(t).substr(0, slash + 1)) &&
                t.size() == slash + 2)
                return true;
        } else if (iequals(media, t)) {
            return true;
        }
    }
    return false;
}

bool compression::eligible(const lifecycle::request& req, const lifecycle::response& res) const {
    if (req.method() == http::verb::head || lifecycle::bodyless_status(res.status)) return false;
    if (res.stream) {
        // A streamed body qualifies unless its announced length is under min_bytes.
        const auto length = res.stream->length();
        if (length && *length < cfg_.min_bytes) return false;
    } else if (res.payload().size() < cfg_.min_bytes) {
        return false;
    }
    if (find_header(res, "content-encoding")) return false;
    const auto type = find_header(res, "content-type");
    return type && type_listed(*type);
}

int compression::level(std::string_view coding) const {
    return coding == "br" ? cfg_.br_level : cfg_.gzip_level;
}

std::optional<std::string_view> find_header(const lifecycle::response& res, std::string_view name) {
    std::string_view block = res.fixed_headers;
    while (!block.empty()) {
        const auto end = block.find("\r\n");
        const std::string_view line = block.substr(0, end);
        block = end == std::string_view::npos ? "" : block.substr(end + 2);
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && iequals(line.substr(0, colon), name))
            return trim_ows(line.substr(colon + 1));
    }
    for (const auto& [n, v] : res.headers)
        if (iequals(n, name)) return std::string_view(v);
    return std::nullopt;
}

}  // namespace edged::server

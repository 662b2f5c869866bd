#include "server/compress/accept_encoding.hpp"

#include <optional>

#include "server/http/header_text.hpp"

namespace edged::server {
namespace {

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
std::optional<int> parse_q(std::string_view v) {
    if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return std::nullopt;
    int q = (v[0] - '0') * 1000;
    if (v.size() == 1) return q;
    if (v[1] != '.') return std::nullopt;
    int scale = 100;
    for (char c : v.substr(2)) {
        if (c < '0' || c > '9') return std::nullopt;
        q += (c - '0') * scale;
        scale /= 10;
    }
    if (q > 1000) return std::nullopt;
    return q;
}

struct entry {
    std::string_view coding;
    int q = 1000;
};

// One element "coding *( OWS ";" OWS parameter )"; nullopt when malformed.
std::optional<entry> parse_element(std::string_view element) {
    entry e;
    const auto semi = element.find(';');
    e.coding = trim_ows(element.substr(0, semi));
    if (e.coding.empty()) return std::nullopt;
    std::string_view params = semi == std::string_view::npos ? "" : element.substr(semi + 1);
    while (!params.empty()) {
        const auto next = params.find(';');
        std::string_view p = trim_ows(params.substr(0, next));
        params = next == std::string_view::npos ? "" : params.substr(next + 1);
        const auto eq = p.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        if (iequals(trim_ows(p.substr(0, eq)), "q")) {
            auto q = parse_q(trim_ows(p.substr(eq + 1)));
            if (!q) return std::nullopt;
            e.q = *q;
        }
    }
    return e;
}

}  // namespace

std::string_view negotiate_encoding(std::string_view field, bool present,
                                    const std::vector<std::string>& offered) {
    if (!present) return "";
    std::optional<int> star, identity;
    std::vector<std::optional<int>> explicit_q(offered.size());
    while (!field.empty()) {
        const auto comma = field.find(',');
        const std::string_view element = field.substr(0, comma);
        field = comma == std::string_view::npos ? "" : field.substr(comma + 1);
        if (trim_ows(element).empty()) continue;
        auto e = parse_element(element);
        if (!e) continue;
        if (e->coding == "*") {
            star = e->q;
        } else if (iequals(e->coding, "identity")) {
            identity = e->q;
        } else {
            for (std::size_t i = 0; i < offered.size(); ++i) {
                if (iequals(e->coding, offered[i]) ||
                    (offered[i] == "gzip" && iequals(e->coding, "x-gzip")))
                    explicit_q[i] = e->q;
            }
        }
    }
    int best_q = 0;
    std::string_view best;
    for (std::size_t i = 0; i < offered.size(); ++i) {
        const int q = explicit_q[i] ? *explicit_q[i] : star ? *star : 0;
        if (q > best_q) {
            best_q = q;
            best = offered[i];
        }
    }
    // An identity the field does not name ranks below every coding it accepts.
    const int identity_q = identity ? *identity : 1;
    if (best_q > 0 && best_q >= identity_q) return best;
    return "";
}

}  // namespace edged::server

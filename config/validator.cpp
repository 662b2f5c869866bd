// The validator's lexical checks and messages (validator.hpp).

#include "config/validator.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace edged::config::detail {

std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) {
        if (!out.empty()) out += '\n';
        out += line;
    }
    return out;
}

std::string quote(std::string_view s) {
    // Appended, not "\"" + s + "\"": GCC 12 warns falsely (-Wrestrict) on that once inlined.
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return out;
}

std::string describe(const node& n) {
    switch (n.type) {
        case kind::null:
            return "nothing";
        case kind::boolean:
            return "a boolean";
        case kind::integer:
            return "an integer";
        case kind::real:
            return "a number with a fraction";
        case kind::string:
            return "a string";
        case kind::list:
            return "a list";
        case kind::map:
            return "a map";
    }
    return "something else";
}

// ---- lexical checks -----------------------------------------------------------------------

// "192.0.2.1", "10.0.0.0/8", "::1", "fd00::/8" (a block's host bits must be zero).
bool is_address_or_cidr(const std::string& text) {
    boost::system::error_code ec;
    if (text.find('/') == std::string::npos) {
        boost::asio::ip::make_address(text, ec);
        return !ec;
    }
    if (text.find(':') != std::string::npos) {
        auto n = boost::asio::ip::make_network_v6(text, ec);
        return !ec && n.network() == n.address();
    }
    auto n = boost::asio::ip::make_network_v4(text, ec);
    return !ec && n.network() == n.address();
}

// Route and upstream names: they become log fields and metric labels, so a small alphabet.
bool is_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
}

bool is_hostname(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}

// A port as Boost.URL found it: digits only (the grammar's), within [min, 65535].
std::optional<std::uint16_t> port_of(boost::core::string_view digits, unsigned min) {
    if (digits.empty() || digits.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : digits) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value < min || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// "address:port" with an IPv4 address or a bracketed IPv6 one ("[::1]:8080"), split by
// Boost.URL's authority grammar. Port 0 is allowed: it asks for an ephemeral port (tests). A
// listener binds an address, so a host name is refused here rather than at start-up.
std::optional<listen_address> parse_listen(std::string_view text) {
    auto authority = boost::urls::parse_authority(text);
    if (!authority || authority->has_userinfo() || !authority->has_port()) return std::nullopt;
    listen_address a;
    a.text = std::string(text);
    switch (authority->host_type()) {
        case boost::urls::host_type::ipv4:
            a.host = authority->host_ipv4_address().to_string();
            break;
        case boost::urls::host_type::ipv6:
            a.host = authority->host_ipv6_address().to_string();
            break;
        default:
            return std::nullopt;
    }
    auto port = port_of(authority->port(), 0);
    if (!port) return std::nullopt;
    a.port = *port;
    return a;
}

// A Redis server's address: host[:port] by Boost.URL's authority grammar; a name is resolved
// when edged connects.
bool parse_redis_address(std::string_view text, redis_config& out) {
    auto authority = boost::urls::parse_authority(text);
    if (!authority || authority->has_userinfo() || authority->host().empty()) return false;
    std::string host;
    switch (authority->host_type()) {
        case boost::urls::host_type::ipv4:
            host = authority->host_ipv4_address().to_string();
            break;
        case boost::urls::host_type::ipv6:
            host = authority->host_ipv6_address().to_string();
            break;
        case boost::urls::host_type::name:
            host = authority->host_name();
            if (!is_hostname(host)) return false;
            break;
        default:
            return false;
    }
    std::uint16_t port = 6379;
    if (authority->has_port()) {
        auto p = port_of(authority->port(), 1);
        if (!p) return false;
        port = *p;
    }
    out.host = std::move(host);
    out.port = port;
    return true;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

// Why the path is not a valid request path, or "" when it is.
std::string path_problem(std::string_view p) {
    if (p.empty() || p.front() != '/') return "must start with '/'";
    for (char c : p) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return "must not contain spaces or control characters";
        if (c == '?' || c == '#') return "must not contain '?' or '#'";
    }
    return "";
}

// Reads a regular file into `out`; returns why not, or "". Devices and FIFOs are refused: reading
// /dev/zero as a static body would never finish.
std::string read_whole_file(const std::filesystem::path& path, std::string& out) {
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (ec) return ec.message();
    if (!std::filesystem::is_regular_file(status)) return "not a regular file";
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::strerror(errno ? errno : EIO);
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) return std::strerror(errno ? errno : EIO);
    out = std::move(content).str();
    return "";
}

std::vector<std::string> validator::take_errors() {
    // File order reads best; entries without a line (JSON) keep the order of the walk.
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const error_entry& a, const error_entry& b) { return a.line < b.line; });
    std::vector<std::string> out;
    for (auto& e : errors_) out.push_back(std::move(e.text));
    return out;
}

}  // namespace edged::config::detail

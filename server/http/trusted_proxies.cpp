#include "server/http/trusted_proxies.hpp"

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/range/iterator_range.hpp>

namespace edged::server {
namespace {

net::ip::address_v6 as_v6(const net::ip::address& a) {
    return a.is_v4() ? net::ip::make_address_v6(net::ip::v4_mapped, a.to_v4()) : a.to_v6();
}

bool within(const net::ip::address_v6& a, const net::ip::address_v6& base, unsigned prefix) {
    const auto x = a.to_bytes(), y = base.to_bytes();
    unsigned i = 0;
    for (; prefix >= 8; prefix -= 8, ++i)
        if (x[i] != y[i]) return false;
    if (prefix == 0) return true;
    const auto mask = static_cast<unsigned char>(0xff << (8 - prefix));
    return (x[i] & mask) == (y[i] & mask);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

trusted_proxies::trusted_proxies(const std::vector<std::string>& entries) {
    for (const auto& e : entries) {
        if (e.find('/') == std::string::npos) {
            blocks_.push_back({as_v6(net::ip::make_address(e)), 128});
        } else if (e.find(':') != std::string::npos) {
            const auto n = net::ip::make_network_v6(e);
            blocks_.push_back({n.network(), n.prefix_length()});
        } else {
            const auto n = net::ip::make_network_v4(e);
            blocks_.push_back({as_v6(n.network()), static_cast<unsigned>(n.prefix_length()) + 96});
        }
    }
}

bool trusted_proxies::trusts(net::ip::address a) const {
    const auto v6 = as_v6(a);
    for (const auto& b : blocks_)
        if (within(v6, b.base, b.prefix)) return true;
    return false;
}

void trusted_proxies::client_of(const lifecycle::request& req, const net::ip::address& peer,
                                std::string& out) const {
    // Every X-Forwarded-For field, in order, as one list.
    std::string list;
    for (const auto& f : boost::make_iterator_range(req.equal_range("X-Forwarded-For"))) {
        if (!list.empty()) list += ',';
        list.append(f.value());
    }
    net::ip::address client = peer;
    std::string_view rest = list;
    while (!rest.empty()) {
        const auto comma = rest.rfind(',');
        std::string_view entry =
            trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
        if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']')
            entry = entry.substr(1, entry.size() - 2);
        error_code ec;
        const auto a = net::ip::make_address(entry, ec);
        if (ec) break;  // not an address: the hop that wrote it is the client
        client = a;
        if (!trusts(a)) break;
    }
    if (client.is_v6() && client.to_v6().is_v4_mapped())
        client = net::ip::make_address_v4(net::ip::v4_mapped, client.to_v6());
    out = client.to_string();
}

}  // namespace edged::server

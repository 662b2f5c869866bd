#pragma once
// Which peers' X-Forwarded-* fields are believed (server.trusted_proxies), and the client
// address a request from one of them stands for.
//
// Rules (those of nginx's realip module with real_ip_recursive on): a connection from an
// address outside the list is its own client, and whatever X-Forwarded-* it sends is not
// believed. From a trusted proxy, the X-Forwarded-For entries are read from the right: trusted
// addresses are skipped, and the first one that is not trusted is the client; when every entry
// is trusted the leftmost is; an entry that is not an address ends the walk (the hop that wrote
// it is the client as far as edged can tell). An IPv4-mapped IPv6 peer (::ffff:a.b.c.d, from a
// dual-stack listener) is matched as its IPv4 address.

#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/message.hpp"
#include "server/net.hpp"

namespace edged::server {

class trusted_proxies {
public:
    trusted_proxies() = default;
    // Entries as config checked them: "10.0.0.0/8", "192.0.2.7", "::1", "fd00::/8".
    explicit trusted_proxies(const std::vector<std::string>& entries);

    bool empty() const { return blocks_.empty(); }
    bool trusts(net::ip::address a) const;
    // The client `req` stands for, when `peer` is trusted (see above); writes its text to
    // `out`. Call only for a trusted peer.
    void client_of(const lifecycle::request& req, const net::ip::address& peer,
                   std::string& out) const;

private:
    struct block {
        net::ip::address_v6 base;  // IPv4 blocks as IPv4-mapped IPv6 (prefix + 96)
        unsigned prefix = 0;
    };
    std::vector<block> blocks_;
};

}  // namespace edged::server

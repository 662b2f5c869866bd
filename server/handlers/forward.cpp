#include "server/handlers/forward.hpp"

#include "server/http/header_text.hpp"
#include "server/net.hpp"

namespace edged::server {

namespace {

// Fields the Connection header names are hop-by-hop too.
bool named_by_connection(const lifecycle::request& req, std::string_view name) {
    for (auto it = req.find(http::field::connection);
         it != req.end() && it->name() == http::field::connection; ++it) {
        for (auto token : http::token_list(it->value()))
            if (iequals(token, name)) return true;
    }
    return false;
}

}  // namespace

bool server_owned_field(std::string_view name) {
    return iequals(name, "server") || iequals(name, "date") || iequals(name, "x-request-id");
}

lifecycle::request forwarded_request(const lifecycle::request& in, const lifecycle::context& ctx) {
    lifecycle::request out;
    out.method_string(in.method_string());
    std::string target(ctx.path());
    if (!ctx.query().empty()) {
        target += '?';
        target += ctx.query();
    }
    out.target(target);
    // X-Forwarded-*: from a trusted proxy (server.trusted_proxies) its fields are passed on,
    // with the peer appended to X-Forwarded-For; from anyone else they are replaced, since a
    // client could claim any address, scheme or host in them.
    const bool trusted = ctx.peer_trusted();
    std::string forwarded_for, forwarded_proto, forwarded_host;
    // The upstream client drops hop-by-hop fields and those it writes itself (Host, ...); the
    // fields this Connection header names are hop-by-hop too, but only the proxy knows them.
    for (const auto& f : in) {
        auto name = f.name_string();
        if (named_by_connection(in, name)) continue;
        if (iequals(name, "x-forwarded-for")) {
            if (trusted) {
                if (!forwarded_for.empty()) forwarded_for += ", ";
                forwarded_for.append(f.value());
            }
            continue;
        }
        if (iequals(name, "x-forwarded-proto")) {
            if (trusted && forwarded_proto.empty()) forwarded_proto = std::string(f.value());
            continue;
        }
        if (iequals(name, "x-forwarded-host")) {
            if (trusted && forwarded_host.empty()) forwarded_host = std::string(f.value());
            continue;
        }
        out.insert(name, f.value());
    }
    if (!forwarded_for.empty()) forwarded_for += ", ";
    forwarded_for += ctx.peer();
    out.set("X-Forwarded-For", forwarded_for);
    out.set("X-Forwarded-Proto",
            forwarded_proto.empty() ? std::string_view("http") : std::string_view(forwarded_proto));
    if (!forwarded_host.empty())
        out.set("X-Forwarded-Host", forwarded_host);
    else if (auto h = in.find(http::field::host); h != in.end())
        out.set("X-Forwarded-Host", h->value());
    out.body() = in.body();

    return out;
}

}  // namespace edged::server

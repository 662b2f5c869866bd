// upstreams: each upstream's url, pools, timeouts, retries, health checks and outlier detection.

#include "config/validator.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "config/header_text.hpp"

namespace edged::config::detail {

std::string parse_upstream_url(std::string_view text, upstream_config& out) {
    auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) return "expected http://host[:port][/path]";
    const boost::urls::url_view& url = *parsed;
    if (url.scheme_id() == boost::urls::scheme::https)
        return "only http:// upstreams are supported";
    if (url.scheme_id() != boost::urls::scheme::http || !url.has_authority())
        return "expected http://host[:port][/path]";
    if (url.has_userinfo()) return "user information is not supported";
    if (url.has_query() || url.has_fragment()) return "a query or fragment is not supported";
    switch (url.host_type()) {
        case boost::urls::host_type::ipv4:
            out.host = url.host_ipv4_address().to_string();
            break;
        case boost::urls::host_type::ipv6:
            out.host = url.host_ipv6_address().to_string();
            break;
        case boost::urls::host_type::name:
            out.host = lower(url.host());
            if (!is_hostname(out.host)) return "missing or invalid host";
            break;
        default:
            return "missing or invalid host";
    }
    out.port = 80;
    if (url.has_port()) {
        auto port = port_of(url.port(), 1);
        if (!port) return "invalid port " + quote(url.port()) + " (1..65535)";
        out.port = *port;
    }
    std::string_view path = url.encoded_path();
    if (!path.empty()) {
        auto problem = path_problem(path);
        if (!problem.empty()) return "the path " + problem;
    }
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    out.base_path = std::string(path);
    return "";
}

void validator::read_upstreams(const node* n, std::vector<upstream_config>& out) {
    if (!n || n->type == kind::null) return;
    if (n->type != kind::map) {
        wrong_type(*n, "upstreams", "a map of name to upstream");
        return;
    }
    check_duplicates(*n, "upstreams");
    for (const auto& m : n->members) {
        const std::string path = "upstreams." + m.key;
        if (!upstream_names_.insert(m.key).second) continue;  // duplicate, reported above
        if (!is_name(m.key)) {
            error(m.line, path, "invalid upstream name: use letters, digits, '_', '.' and '-'");
        }
        upstream_config u;
        u.name = m.key;
        section s(*this, &m.value, path, "upstreams.*");
        if (!s.ok()) continue;
        if (const node* url = s.require("url")) {
            if (auto text = str(*url, s.key("url"))) {
                u.url = *text;
                auto problem = parse_upstream_url(*text, u);
                if (!problem.empty()) {
                    error(url->line, s.key("url"), "invalid url " + quote(*text) + ": " + problem);
                }
            }
        }
        read_dur(s, "connect_timeout", u.connect_timeout, false);
        read_dur(s, "timeout", u.timeout, false);
        read_int(s, "max_connections", u.max_connections);
        read_int(s, "idle_connections", u.idle_connections);
        read_dur(s, "read_timeout", u.read_timeout, false);
        read_dur(s, "resolve_interval", u.resolve_interval, true);
        if (const node* v = s.get("balance")) {
            if (auto b = str(*v, s.key("balance"))) {
                if (*b != "round_robin" && *b != "least_outstanding")
                    error(v->line, s.key("balance"),
                          "unknown balance " + quote(*b) +
                              ": expected round_robin or least_outstanding");
                else
                    u.balance = *b;
            }
        }
        section o(*this, s.get("outlier"), s.key("outlier"), "upstreams.*.outlier");
        read_int(o, "consecutive_failures", u.outlier.consecutive_failures);
        read_dur(o, "ejection_time", u.outlier.ejection_time, false);
        read_dur(o, "max_ejection_time", u.outlier.max_ejection_time, false);
        read_int(o, "max_ejected_percent", u.outlier.max_ejected_percent);
        if (u.outlier.max_ejection_time < u.outlier.ejection_time)
            error(o.line(), o.key("max_ejection_time"),
                  "out of range: " + format_duration(u.outlier.max_ejection_time) +
                      " is less than ejection_time (" + format_duration(u.outlier.ejection_time) +
                      ")");
        section h(*this, s.get("health_check"), s.key("health_check"), "upstreams.*.health_check");
        if (s.get("health_check")) {
            if (const node* v = h.require("path")) {
                if (auto text = str(*v, h.key("path"))) {
                    if (text->empty() || text->front() != '/' || !is_safe_header_value(*text) ||
                        text->find(' ') != std::string::npos)
                        error(v->line, h.key("path"),
                              "invalid path " + quote(*text) +
                                  ": expected a path that starts with '/', without spaces");
                    else
                        u.health_check.path = *text;
                }
            }
        }
        read_dur(h, "interval", u.health_check.interval, false);
        read_dur(h, "timeout", u.health_check.timeout, false);
        read_int(h, "healthy_threshold", u.health_check.healthy_threshold);
        read_int(h, "unhealthy_threshold", u.health_check.unhealthy_threshold);
        out.push_back(std::move(u));
    }
}

}  // namespace edged::config::detail

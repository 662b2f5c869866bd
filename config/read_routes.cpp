// routes: match, handler, static bodies, headers, after-actions, compression, lifecycle
// overrides.

#include "config/validator.hpp"

#include "config/header_text.hpp"

namespace edged::config::detail {

void validator::read_routes(const node* n, std::vector<route_config>& out) {
    if (!n || n->type == kind::null) return;
    if (n->type != kind::list) {
        wrong_type(*n, "routes", "a list of routes");
        return;
    }
    std::vector<std::pair<std::string, std::size_t>> names;  // name -> index, for duplicates
    for (std::size_t i = 0; i < n->items.size(); ++i) {
        const std::string path = "routes[" + std::to_string(i) + "]";
        route_config r;
        if (!read_route(n->items[i], path, r)) continue;
        if (!r.name.empty()) {
            auto it = std::find_if(names.begin(), names.end(),
                                   [&](const auto& p) { return p.first == r.name; });
            if (it != names.end()) {
                const node* name_node = nullptr;
                for (const auto& m : n->items[i].members) {
                    if (m.key == "name") name_node = &m.value;
                }
                error(name_node ? name_node->line : n->items[i].line, path + ".name",
                      "duplicate route name " + quote(r.name) + " (also routes[" +
                          std::to_string(it->second) + "])");
            } else {
                names.emplace_back(r.name, i);
            }
        }
        out.push_back(std::move(r));
    }
}

bool validator::read_route(const node& n, const std::string& path, route_config& out) {
    if (n.type != kind::map) {
        wrong_type(n, path, "a route (a map)");
        return false;
    }
    section s(*this, &n, path);
    if (const node* name = s.require("name")) {
        if (auto text = str(*name, s.key("name"))) {
            if (text->empty()) {
                error(name->line, s.key("name"), "must not be empty");
            } else if (!is_name(*text)) {
                error(name->line, s.key("name"),
                      "invalid route name " + quote(*text) +
                          ": use letters, digits, '_', '.' and '-' (it is a log field and a "
                          "metric label)");
            } else {
                out.name = *text;
            }
        }
    }
    read_match(s, out.match);
    read_handler(s, out.handler);
    read_overrides(s.get("lifecycle"), s.key("lifecycle"), out.lifecycle);
    read_after(s.get("after"), s.key("after"), out.after);
    read_compress(s, out.handler, out.compress);
    return true;
}

void validator::read_compress(const section& route, const handler_config& handler,
                              std::optional<compress_config>& out) {
    const node* n = route.get("compress");
    if (!n) return;
    section s(*this, n, route.key("compress"));
    if (!s.ok()) return;
    if (std::holds_alternative<redirect_handler>(handler)) {
        error(n->line, s.path(), "a redirect has no body to compress");
        return;
    }
    compress_config c;
    read_list(s, "encodings", c.encodings,
              [](const std::string& e) { return e == "br" || e == "gzip"; });
    read_list(s, "types", c.types, [](const std::string& t) {
        auto slash = t.find('/');
        return slash != std::string::npos && is_token(t.substr(0, slash)) &&
               (t.substr(slash + 1) == "*" || is_token(t.substr(slash + 1)));
    });
    if (const node* v = s.get("min_bytes")) {
        if (auto b = size(*v, s.key("min_bytes"), 0, std::size_t(1) << 30)) c.min_bytes = *b;
    }
    read_int(s, "gzip_level", c.gzip_level);
    read_int(s, "br_level", c.br_level);
    out = std::move(c);
}

void validator::read_match(const section& route, match_config& out) {
    const node* n = route.require("match");
    if (!n) return;
    section s(*this, n, route.key("match"));
    if (!s.ok()) return;
    const node* path = s.get("path");
    const node* prefix = s.get("prefix");
    if (!path && !prefix) {
        error(n->line, s.path(), "needs one of path or prefix");
    } else if (path && prefix) {
        error(prefix->line, s.path(), "has both path and prefix; keep one");
    }
    auto read_path = [&](const node* v, std::string_view k, std::optional<std::string>& field) {
        if (!v) return;
        auto text = str(*v, s.key(k));
        if (!text) return;
        auto problem = path_problem(*text);
        if (!problem.empty()) {
            error(v->line, s.key(k), quote(*text) + " " + problem);
            return;
        }
        field = *text;
    };
    read_path(path, "path", out.path);
    read_path(prefix, "prefix", out.prefix);

    if (const node* m = s.get("methods")) {
        if (m->type != kind::list) {
            wrong_type(*m, s.key("methods"), "a list of methods");
        } else {
            for (std::size_t i = 0; i < m->items.size(); ++i) {
                const std::string p = s.key("methods") + "[" + std::to_string(i) + "]";
                auto text = str(m->items[i], p);
                if (!text) continue;
                if (!is_token(*text)) {
                    error(m->items[i].line, p, "invalid method " + quote(*text));
                    continue;
                }
                // Methods are case-sensitive on the wire, but "get" in a config is always a typo.
                auto method = upper(*text);
                if (std::find(out.methods.begin(), out.methods.end(), method) ==
                    out.methods.end()) {
                    out.methods.push_back(method);
                }
            }
        }
    }
    if (const node* h = s.get("host")) {
        if (auto text = str(*h, s.key("host"))) {
            auto host = lower(*text);
            if (host.find(':') != std::string::npos) {
                error(h->line, s.key("host"), quote(*text) + " must not include a port");
            } else if (!is_hostname(host)) {
                error(h->line, s.key("host"), "invalid host " + quote(*text));
            } else {
                out.host = host;
            }
        }
    }
}

void validator::check_upstream(const node& n, const std::string& path, const std::string& name) {
    if (!upstream_names_.count(name)) error(n.line, path, "unknown upstream " + quote(name));
}

void validator::read_upstream_ref(const section& s, std::string& out) {
    if (const node* u = s.require("upstream")) {
        if (auto text = str(*u, s.key("upstream"))) {
            out = *text;
            check_upstream(*u, s.key("upstream"), *text);
        }
    }
}

void validator::read_handler(const section& route, handler_config& out) {
    const node* n = route.require("handler");
    if (!n) return;
    section s(*this, n, route.key("handler"));
    if (!s.ok()) return;
    std::vector<std::string> kinds;
    for (const auto& m : n->members) {
        if (m.key == "static" || m.key == "redirect" || m.key == "proxy" || m.key == "job") {
            kinds.push_back(m.key);
        }
    }
    if (kinds.size() > 1) {
        std::string list;
        for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
        error(n->line, s.path(), "has more than one kind (" + list + "); keep exactly one");
        return;
    }
    if (kinds.empty()) {
        // An unknown key already said what is wrong; do not pile a second error on a typo.
        if (!s.had_unknown()) {
            error(n->line, s.path(), "needs exactly one of static, redirect, proxy, job");
        }
        return;
    }
    const std::string& k = kinds.front();
    const node& body = *s.get(k);
    const std::string path = s.key(k);
    if (k == "static") {
        static_handler h;
        read_static(body, path, h);
        out = std::move(h);
    } else if (k == "redirect") {
        redirect_handler h;
        section r(*this, &body, path);
        if (const node* st = r.get("status")) {
            if (auto v = integer(*st, r.key("status"), std::numeric_limits<std::int64_t>::min(),
                                 std::numeric_limits<std::int64_t>::max())) {
                if (*v == 301 || *v == 302 || *v == 303 || *v == 307 || *v == 308) {
                    h.status = static_cast<unsigned>(*v);
                } else {
                    error(st->line, r.key("status"),
                          "out of range: " + st->text + " is not one of 301, 302, 303, 307, 308");
                }
            }
        }
        if (const node* loc = r.require("location")) {
            if (auto text = str(*loc, r.key("location"))) {
                if (text->empty() || !is_safe_header_value(*text)) {
                    error(loc->line, r.key("location"),
                          "must be non-empty and contain no CR, LF or NUL");
                } else {
                    h.location = *text;
                }
            }
        }
        read_bool(r, "keep_path", h.keep_path);
        read_bool(r, "keep_query", h.keep_query);
        out = std::move(h);
    } else if (k == "proxy") {
        proxy_handler h;
        section p(*this, &body, path);
        read_upstream_ref(p, h.upstream);
        read_size(p, "max_response_bytes", h.max_response_bytes, 0, 1ull << 50);
        read_size(p, "buffer_bytes", h.buffer_bytes, 1024, 16ull * 1024 * 1024);
        read_int(p, "retries", h.retries);
        out = std::move(h);
    } else {
        job_handler h;
        section j(*this, &body, path);
        read_upstream_ref(j, h.upstream);
        read_dur(j, "timeout", h.timeout, false);
        read_dur(j, "ttl", h.ttl, false);
        read_int(j, "max_jobs", h.max_jobs);
        read_size(j, "result_bytes", h.result_bytes, 0, 64ull * 1024 * 1024);
        read_size(j, "max_response_bytes", h.max_response_bytes, 1, 1024ull * 1024 * 1024);
        if (h.result_bytes > h.max_response_bytes)
            error(j.line(), j.key("result_bytes"),
                  "out of range: " + format_size(h.result_bytes) +
                      " is more than max_response_bytes (" + format_size(h.max_response_bytes) +
                      ")");
        out = std::move(h);
    }
}

void validator::read_static(const node& n, const std::string& path, static_handler& out) {
    section s(*this, &n, path);
    read_int(s, "status", out.status);
    read_headers(s.get("headers"), s.key("headers"), out.headers);
    const node* body = s.get("body");
    const node* file = s.get("file");
    if (body && file) {
        error(file->line, s.path(), "set either body or file, not both");
        return;
    }
    if (body) {
        if (auto text = str(*body, s.key("body"))) out.body = *text;
    }
    if (file) {
        auto text = str(*file, s.key("file"));
        if (!text) return;
        if (text->empty()) {
            error(file->line, s.key("file"), "must not be empty");
            return;
        }
        std::filesystem::path p(*text);
        if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
        std::error_code ec;
        auto absolute = std::filesystem::absolute(p, ec);
        if (!ec) p = absolute;
        p = p.lexically_normal();
        std::string content;
        auto problem = read_whole_file(p, content);
        if (!problem.empty()) {
            error(file->line, s.key("file"), "cannot read " + quote(p.string()) + ": " + problem);
            return;
        }
        // The resolved path is kept so that to_json() names a file that loads from anywhere.
        out.file = p.string();
        out.body = std::move(content);
    }
}

void validator::read_headers(const node* n, const std::string& path, header_list& out) {
    if (!n || n->type == kind::null) return;
    if (n->type != kind::map) {
        wrong_type(*n, path, "a map of header name to value");
        return;
    }
    check_duplicates(*n, path);
    std::set<std::string> seen;
    for (const auto& m : n->members) {
        const std::string p = path + "." + m.key;
        if (!seen.insert(lower(m.key)).second) {
            // Same name in another case: the map cannot hold two values for one field.
            if (std::count_if(n->members.begin(), n->members.end(),
                              [&](const member& o) { return o.key == m.key; }) == 1) {
                error(m.line, p, "duplicate header name");
            }
            continue;
        }
        if (!is_token(m.key)) {
            error(m.line, p, "invalid header name " + quote(m.key) + ": use token characters");
            continue;
        }
        // The server owns framing; a configured length or coding would contradict the real body.
        if (lower(m.key) == "content-length" || lower(m.key) == "transfer-encoding") {
            error(m.line, p, "is set by the server; remove it");
            continue;
        }
        auto value = str(m.value, p);
        if (!value) continue;
        if (!is_safe_header_value(*value)) {
            error(m.value.line, p, "invalid header value: must not contain CR, LF or NUL");
            continue;
        }
        out.emplace_back(m.key, *value);
    }
}

void validator::read_after(const node* n, const std::string& path, std::vector<after_action>& out) {
    if (!n || n->type == kind::null) return;
    if (n->type != kind::list) {
        wrong_type(*n, path, "a list of actions");
        return;
    }
    for (std::size_t i = 0; i < n->items.size(); ++i) {
        const node& item = n->items[i];
        const std::string p = path + "[" + std::to_string(i) + "]";
        section s(*this, &item, p);
        if (!s.ok()) continue;
        std::vector<const member*> kinds;
        for (const auto& m : item.members) {
            if (m.key == "http" || m.key == "mirror" || m.key == "log") kinds.push_back(&m);
        }
        if (kinds.size() != 1) {
            // With no known kind, an unknown key has already said what is wrong.
            if (kinds.size() > 1 || !s.had_unknown()) {
                error(item.line, p, "needs exactly one of http, mirror, log");
            }
            continue;
        }
        const member& m = *kinds.front();
        const std::string ap = s.key(m.key);
        if (m.key == "http") {
            http_action a;
            section h(*this, &m.value, ap);
            read_upstream_ref(h, a.upstream);
            if (const node* v = h.get("method")) {
                if (auto text = str(*v, h.key("method"))) {
                    if (is_token(*text)) {
                        a.method = upper(*text);
                    } else {
                        error(v->line, h.key("method"), "invalid method " + quote(*text));
                    }
                }
            }
            if (const node* v = h.get("path")) {
                if (auto text = str(*v, h.key("path"))) {
                    // Templates like /events/${request.id} are fine; only the shape is checked.
                    if (text->empty() || text->front() != '/' || !is_safe_header_value(*text)) {
                        error(v->line, h.key("path"), quote(*text) + " must start with '/'");
                    } else {
                        a.path = *text;
                    }
                }
            }
            read_headers(h.get("headers"), h.key("headers"), a.headers);
            if (const node* v = h.get("body")) {
                if (auto text = str(*v, h.key("body"))) a.body = *text;
            }
            read_bool(h, "retry", a.retry);
            out.emplace_back(std::move(a));
        } else if (m.key == "mirror") {
            mirror_action a;
            section mi(*this, &m.value, ap);
            read_upstream_ref(mi, a.upstream);
            out.emplace_back(std::move(a));
        } else {
            log_action a;
            section l(*this, &m.value, ap);
            if (const node* v = l.require("message")) {
                if (auto text = str(*v, l.key("message"))) a.message = *text;
            }
            out.emplace_back(std::move(a));
        }
    }
}

}  // namespace edged::config::detail

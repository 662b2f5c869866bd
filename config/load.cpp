// Loading and validation: text -> detail::node -> config.
//
// One pass over the tree fills the structs and records every problem it finds instead of stopping
// at the first, so an operator fixes a file in one round. Each message starts with the key path
// ("routes[2].handler.static.status") and, for YAML, the line. Only when the whole file has been
// read does load_string throw, with all of them.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "config/tree.hpp"
#include "server/http/header_text.hpp"

namespace edged::config {

namespace {

using detail::member;
using detail::node;
using kind = node::kind;

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

// ---- the validator ------------------------------------------------------------------------

class validator {
public:
    validator(bool with_lines, std::string base_dir)
        : with_lines_(with_lines), base_dir_(std::move(base_dir)) {}

    config run(const node& root);
    std::vector<std::string> take_errors();

private:
    struct error_entry {
        int line;
        std::string text;
    };

    void error(int line, const std::string& path, const std::string& message) {
        std::string text;
        if (with_lines_ && line > 0) text = "line " + std::to_string(line) + ": ";
        text += path.empty() ? "(top level)" : path;
        text += ": " + message;
        errors_.push_back({with_lines_ ? line : 0, std::move(text)});
    }
    void wrong_type(const node& n, const std::string& path, const std::string& expected) {
        error(n.line, path, "expected " + expected + ", got " + describe(n));
    }

    // Opens a map section: a missing or empty ("key:") section is an empty map. Reports unknown
    // and duplicate keys. When `n` is not a map, ok() is false and the error is already reported.
    class section {
    public:
        // The section's keys are those the schema gives the object at `path`
        // (config/schema.json), or at `schema_path` where the path holds a name of the file's
        // own that may contain a '.' (upstreams.<name>: "upstreams.*").
        section(validator& v, const node* n, std::string path, std::string schema_path = {})
            : v_(v), n_(n), path_(std::move(path)), schema_path_(std::move(schema_path)) {
            if (schema_path_.empty()) schema_path_ = path_;
            const std::vector<std::string> keys = schema_keys(schema_path_);
            if (!n || n->type == kind::null) return;
            if (n->type != kind::map) {
                v.wrong_type(*n, path_, "a map");
                ok_ = false;
                return;
            }
            v.check_duplicates(*n, path_);
            for (const auto& m : n->members) {
                if (std::find(keys.begin(), keys.end(), m.key) == keys.end()) {
                    v.error(m.line, key(m.key), "unknown key");
                    unknown_ = true;
                }
            }
        }
        bool ok() const { return ok_; }
        bool had_unknown() const { return unknown_; }
        int line() const { return n_ ? n_->line : 0; }
        const std::string& path() const { return path_; }
        std::string key(std::string_view k) const {
            return path_.empty() ? std::string(k) : path_ + "." + std::string(k);
        }
        std::string schema_key(std::string_view k) const {
            return schema_path_.empty() ? std::string(k) : schema_path_ + "." + std::string(k);
        }
        // The first value under `k`, or nullptr.
        const node* get(std::string_view k) const {
            if (!ok_ || !n_ || n_->type != kind::map) return nullptr;
            for (const auto& m : n_->members) {
                if (m.key == k) return &m.value;
            }
            return nullptr;
        }
        const node* require(std::string_view k) const {
            const node* found = get(k);
            if (!found && ok_) v_.error(line(), key(k), "missing required key");
            return found;
        }

    private:
        validator& v_;
        const node* n_;
        std::string path_;
        std::string schema_path_;
        bool ok_ = true;
        bool unknown_ = false;
    };

    void check_duplicates(const node& map, const std::string& path) {
        std::set<std::string_view> seen;
        for (const auto& m : map.members) {
            if (!seen.insert(m.key).second) {
                error(m.line, path.empty() ? m.key : path + "." + m.key, "duplicate key");
            }
        }
    }

    // A list of distinct strings at `k` (lower-cased), each passing `check`; at least one
    // unless `may_be_empty`. On any error `field` keeps what it had.
    template <class Check>
    void read_list(const section& s, std::string_view k, std::vector<std::string>& field,
                   Check&& check, bool may_be_empty = false) {
        const node* v = s.get(k);
        if (!v) return;
        if (v->type != kind::list) {
            wrong_type(*v, s.key(k), "a list of strings");
            return;
        }
        if (v->items.empty() && !may_be_empty) {
            error(v->line, s.key(k), "expected at least one entry");
            return;
        }
        std::vector<std::string> items;
        bool ok = true;
        for (std::size_t i = 0; i < v->items.size(); ++i) {
            const std::string p = s.key(k) + "[" + std::to_string(i) + "]";
            auto text = str(v->items[i], p);
            if (!text) {
                ok = false;
                continue;
            }
            std::string item = lower(*text);
            if (!check(item)) {
                error(v->items[i].line, p, "invalid value " + quote(*text));
                ok = false;
            } else if (std::find(items.begin(), items.end(), item) != items.end()) {
                error(v->items[i].line, p, "duplicate " + quote(*text));
                ok = false;
            } else {
                items.push_back(item);
            }
        }
        if (ok) field = std::move(items);
    }

    // Typed reads. Each reports its own error and returns nullopt; on nullopt the caller keeps
    // the default, so later checks do not cascade from one mistake.
    std::optional<std::string> str(const node& n, const std::string& path) {
        if (n.type == kind::string) return n.text;
        // An unquoted YAML scalar such as `level: off` or `body: 404` is text to a YAML reader.
        if (n.plain && n.type != kind::null) return n.text;
        wrong_type(n, path, "a string");
        return std::nullopt;
    }
    std::optional<bool> boolean(const node& n, const std::string& path) {
        if (n.type == kind::boolean) return n.boolean;
        wrong_type(n, path, "a boolean (true or false)");
        return std::nullopt;
    }
    std::optional<std::int64_t> integer(const node& n, const std::string& path, std::int64_t min,
                                        std::int64_t max) {
        if (n.type != kind::integer) {
            wrong_type(n, path, "an integer");
            return std::nullopt;
        }
        std::int64_t value = 0;
        auto [end, ec] = std::from_chars(n.text.data(), n.text.data() + n.text.size(), value);
        if (ec != std::errc{} || end != n.text.data() + n.text.size() || value < min ||
            value > max) {
            error(n.line, path,
                  "out of range: " + n.text + " is not between " + std::to_string(min) + " and " +
                      std::to_string(max));
            return std::nullopt;
        }
        return value;
    }
    std::optional<duration> dur(const node& n, const std::string& path, bool allow_zero) {
        static const std::string expected =
            "a duration (an integer and a unit: ms, s, m or h, e.g. 250ms, 30s)";
        std::optional<duration> d;
        if (n.type == kind::integer && n.text == "0") {
            d = 0ms;
        } else if (n.type == kind::string || (n.plain && n.type != kind::null)) {
            d = parse_duration(n.text);
            if (!d) {
                error(n.line, path,
                      "malformed duration " + quote(n.text) + ": expected " + expected);
                return std::nullopt;
            }
        } else {
            wrong_type(n, path, expected);
            return std::nullopt;
        }
        if (!allow_zero && d->count() == 0) {
            error(n.line, path, "out of range: must be greater than 0");
            return std::nullopt;
        }
        return d;
    }
    std::optional<std::size_t> size(const node& n, const std::string& path, std::size_t min,
                                    std::size_t max) {
        static const std::string expected =
            "a size (bytes, or an integer and a unit: B, KiB, MiB or GiB, e.g. 16KiB)";
        std::optional<std::size_t> bytes;
        if (n.type == kind::integer) {
            bytes = parse_size(n.text);  // digits only; a leading '-' makes it fail
            if (!bytes) {
                error(n.line, path,
                      "out of range: " + n.text + " is not between " + format_size(min) + " and " +
                          format_size(max));
                return std::nullopt;
            }
        } else if (n.type == kind::string || (n.plain && n.type != kind::null)) {
            bytes = parse_size(n.text);
            if (!bytes) {
                error(n.line, path, "malformed size " + quote(n.text) + ": " + size_hint(n.text));
                return std::nullopt;
            }
        } else {
            wrong_type(n, path, expected);
            return std::nullopt;
        }
        if (*bytes < min || *bytes > max) {
            error(n.line, path,
                  "out of range: " + format_size(*bytes) + " is not between " + format_size(min) +
                      " and " + format_size(max));
            return std::nullopt;
        }
        return bytes;
    }
    static std::string size_hint(std::string_view text) {
        auto unit_at = text.find_first_not_of("0123456789");
        std::string unit = lower(std::string(text.substr(std::min(unit_at, text.size()))));
        if (unit == "k" || unit == "kb" || unit == "m" || unit == "mb" || unit == "g" ||
            unit == "gb" || unit == "kib" || unit == "mib" || unit == "gib") {
            return "use KiB, MiB or GiB (powers of 1024, spelled exactly so), e.g. 16KiB";
        }
        return "expected a size (bytes, or an integer and a unit: B, KiB, MiB or GiB, e.g. 16KiB)";
    }

    // The integer at key `k` of `s`, within the bounds the schema gives it.
    std::optional<std::int64_t> integer(const node& n, const section& s, std::string_view k) {
        const auto [min, max] = schema_range(s.schema_key(k));
        return integer(n, s.key(k), min, max);
    }
    template <typename T>
    void read_int(const section& s, std::string_view k, T& out) {
        if (const node* n = s.get(k)) {
            if (auto v = integer(*n, s, k)) out = static_cast<T>(*v);
        }
    }
    void read_dur(const section& s, std::string_view k, duration& out, bool allow_zero) {
        if (const node* n = s.get(k)) {
            if (auto v = dur(*n, s.key(k), allow_zero)) out = *v;
        }
    }
    void read_size(const section& s, std::string_view k, std::size_t& out, std::size_t min,
                   std::size_t max) {
        if (const node* n = s.get(k)) {
            if (auto v = size(*n, s.key(k), min, max)) out = *v;
        }
    }
    void read_bool(const section& s, std::string_view k, bool& out) {
        if (const node* n = s.get(k)) {
            if (auto v = boolean(*n, s.key(k))) out = *v;
        }
    }

    std::optional<listen_address> listen(const node& n, const std::string& path) {
        auto text = str(n, path);
        if (!text) return std::nullopt;
        auto a = parse_listen(*text);
        if (!a) {
            error(n.line, path,
                  "invalid listen address " + quote(*text) +
                      ": expected ipv4-address:port or [ipv6-address]:port, port 0..65535");
        }
        return a;
    }

    void read_server(const node* n, server_config& out);
    void read_lifecycle(const node* n, lifecycle_config& out);
    void read_worker_pool(const node* n, worker_pool_config& out);
    void read_jobs(const node* n, jobs_config& out);
    void read_upstreams(const node* n, std::vector<upstream_config>& out);
    void read_routes(const node* n, std::vector<route_config>& out);
    bool read_route(const node& n, const std::string& path, route_config& out);
    void read_match(const section& route, match_config& out);
    void read_handler(const section& route, handler_config& out);
    void read_static(const node& n, const std::string& path, static_handler& out);
    void read_headers(const node* n, const std::string& path, header_list& out);
    void read_after(const node* n, const std::string& path, std::vector<after_action>& out);
    void read_compress(const section& route, const handler_config& handler,
                       std::optional<compress_config>& out);
    void read_overrides(const node* n, const std::string& path, lifecycle_overrides& out);
    void check_upstream(const node& n, const std::string& path, const std::string& name);
    void read_upstream_ref(const section& s, std::string& out);

    bool with_lines_;
    std::string base_dir_;
    std::vector<error_entry> errors_;
    std::set<std::string> upstream_names_;
};

std::vector<std::string> validator::take_errors() {
    // File order reads best; entries without a line (JSON) keep the order of the walk.
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const error_entry& a, const error_entry& b) { return a.line < b.line; });
    std::vector<std::string> out;
    for (auto& e : errors_) out.push_back(std::move(e.text));
    return out;
}

config validator::run(const node& root) {
    config c;
    c.server.listen.push_back(*parse_listen("0.0.0.0:8080"));
    c.admin.listen = *parse_listen("127.0.0.1:9901");

    section top(*this, &root, "");
    if (!top.ok()) return c;

    read_server(top.get("server"), c.server);

    section admin(*this, top.get("admin"), "admin");
    if (const node* n = admin.get("listen")) {
        if (auto a = listen(*n, admin.key("listen"))) c.admin.listen = *a;
    }

    section shutdown(*this, top.get("shutdown"), "shutdown");
    read_dur(shutdown, "drain_delay", c.shutdown.drain_delay, true);
    read_dur(shutdown, "grace", c.shutdown.grace, true);

    section log(*this, top.get("log"), "log");
    if (const node* n = log.get("level")) {
        if (auto level = str(*n, log.key("level"))) {
            static const std::set<std::string, std::less<>> levels = {
                "trace", "debug", "info", "warn", "error", "critical", "off"};
            if (levels.count(*level)) {
                c.log.level = *level;
            } else {
                error(n->line, log.key("level"),
                      "unknown level " + quote(*level) +
                          ": expected one of trace, debug, info, warn, error, critical, off");
            }
        }
    }
    read_bool(log, "access", c.log.access);
    read_list(log, "access_fields", c.log.access_fields, [](const std::string& f) {
        const auto& names = access_log_field_names();
        return std::find(names.begin(), names.end(), f) != names.end();
    });

    read_lifecycle(top.get("lifecycle"), c.lifecycle);
    read_worker_pool(top.get("worker_pool"), c.worker_pool);
    read_jobs(top.get("jobs"), c.jobs);
    // Upstreams before routes, whatever the file order, so routes can be checked against them.
    read_upstreams(top.get("upstreams"), c.upstreams);
    read_routes(top.get("routes"), c.routes);
    return c;
}

void validator::read_server(const node* n, server_config& out) {
    section s(*this, n, "server");
    read_list(s, "trusted_proxies", out.trusted_proxies, is_address_or_cidr, true);

    if (const node* l = s.get("listen")) {
        const std::string path = s.key("listen");
        std::vector<listen_address> addresses;
        bool ok = true;
        if (l->type == kind::list) {
            for (std::size_t i = 0; i < l->items.size(); ++i) {
                auto a = listen(l->items[i], path + "[" + std::to_string(i) + "]");
                if (a) addresses.push_back(*a);
                ok = ok && a.has_value();
            }
            if (l->items.empty()) {
                error(l->line, path, "expected at least one address");
                ok = false;
            }
        } else if (l->type == kind::string || (l->plain && l->type != kind::null)) {
            auto a = listen(*l, path);  // a single address is a list of one
            if (a) addresses.push_back(*a);
            ok = a.has_value();
        } else {
            wrong_type(*l, path, "a list of addresses or a single address");
            ok = false;
        }
        if (ok) out.listen = std::move(addresses);
    }

    if (const node* t = s.get("threads")) {
        if ((t->type == kind::string || t->plain) && t->text == "auto") {
            out.threads = 0;
        } else if (t->type == kind::integer) {
            read_int(s, "threads", out.threads);
        } else {
            wrong_type(*t, s.key("threads"), "\"auto\" or an integer 1..256");
        }
    }

    section limits(*this, s.get("limits"), s.key("limits"));
    read_int(limits, "max_connections", out.limits.max_connections);
    read_size(limits, "header_bytes", out.limits.header_bytes, 1024, 1024 * 1024);
    read_size(limits, "body_bytes", out.limits.body_bytes, 0, 1024ull * 1024 * 1024);
    read_int(limits, "pipeline_depth", out.limits.pipeline_depth);

    section timeouts(*this, s.get("timeouts"), s.key("timeouts"));
    read_dur(timeouts, "header_read", out.timeouts.header_read, false);
    read_dur(timeouts, "body_read", out.timeouts.body_read, false);
    read_dur(timeouts, "idle", out.timeouts.idle, false);
    read_dur(timeouts, "write", out.timeouts.write, false);
    read_dur(timeouts, "handler", out.timeouts.handler, false);
}

void validator::read_lifecycle(const node* n, lifecycle_config& out) {
    section s(*this, n, "lifecycle");
    read_int(s, "max_wait_until", out.max_wait_until);
    read_int(s, "max_subrequests", out.max_subrequests);
    read_dur(s, "wall_budget", out.wall_budget, false);
    read_dur(s, "cpu_budget", out.cpu_budget, false);
    read_int(s, "max_background_tasks", out.max_background_tasks);
    read_int(s, "background_share", out.background_share);
}

void validator::read_overrides(const node* n, const std::string& path, lifecycle_overrides& out) {
    section s(*this, n, path);
    if (const node* v = s.get("max_wait_until")) {
        if (auto i = integer(*v, s, "max_wait_until")) out.max_wait_until = *i;
    }
    if (const node* v = s.get("max_subrequests")) {
        if (auto i = integer(*v, s, "max_subrequests")) out.max_subrequests = *i;
    }
    if (const node* v = s.get("wall_budget")) {
        if (auto d = dur(*v, s.key("wall_budget"), false)) out.wall_budget = *d;
    }
    if (const node* v = s.get("cpu_budget")) {
        if (auto d = dur(*v, s.key("cpu_budget"), false)) out.cpu_budget = *d;
    }
}

void validator::read_worker_pool(const node* n, worker_pool_config& out) {
    section s(*this, n, "worker_pool");
    bool min_ok = true;
    if (const node* v = s.get("min_threads")) {
        auto i = integer(*v, s, "min_threads");
        if (i) out.min_threads = static_cast<unsigned>(*i);
        min_ok = i.has_value();
    }
    bool max_ok = true;
    if (const node* v = s.get("max_threads")) {
        auto i = integer(*v, s, "max_threads");
        if (i) out.max_threads = static_cast<unsigned>(*i);
        max_ok = i.has_value();
    }
    if (min_ok && max_ok && out.min_threads > out.max_threads) {
        const node* v = s.get("min_threads");
        error(v ? v->line : s.line(), s.key("min_threads"),
              "out of range: " + std::to_string(out.min_threads) + " is more than max_threads (" +
                  std::to_string(out.max_threads) + ")");
    }
    read_dur(s, "idle_timeout", out.idle_timeout, false);
    read_int(s, "queue", out.queue);
    read_dur(s, "queue_timeout", out.queue_timeout, false);
    read_dur(s, "run_timeout", out.run_timeout, false);
    read_int(s, "nice", out.nice);
}

void validator::read_jobs(const node* n, jobs_config& out) {
    section s(*this, n, "jobs");
    if (const node* v = s.get("store")) {
        if (auto store = str(*v, s.key("store"))) {
            if (*store == "memory" || *store == "redis")
                out.store = *store;
            else
                error(v->line, s.key("store"),
                      "unknown store " + quote(*store) + ": expected memory or redis");
        }
    }
    if (const node* v = s.get("prefix")) {
        if (auto p = str(*v, s.key("prefix"))) {
            if (p->size() < 2 || p->front() != '/' || p->back() != '/' ||
                p->find_first_of("?#% \t") != std::string::npos)
                error(v->line, s.key("prefix"),
                      "invalid prefix " + quote(*p) +
                          ": expected a path that starts and ends "
                          "with '/', such as /tasks/");
            else
                out.prefix = *p;
        }
    }
    read_int(s, "concurrency", out.concurrency);
    read_dur(s, "max_wait", out.max_wait, true);
    read_dur(s, "retry_after", out.retry_after, true);
    section r(*this, s.get("redis"), s.key("redis"));
    if (const node* v = r.get("address")) {
        if (auto text = str(*v, r.key("address"))) {
            if (!parse_redis_address(*text, out.redis))
                error(v->line, r.key("address"),
                      "invalid address " + quote(*text) +
                          ": expected host:port (a name or an IP address; the port defaults to "
                          "6379), such as redis:6379 or 127.0.0.1:6379");
        }
    }
    read_int(r, "db", out.redis.db);
    if (const node* v = r.get("key_prefix")) {
        if (auto k = str(*v, r.key("key_prefix"))) out.redis.key_prefix = *k;
    }
    if (const node* v = r.get("username")) {
        if (auto u = str(*v, r.key("username"))) out.redis.username = *u;
    }
    if (const node* v = r.get("password")) {
        if (auto p = str(*v, r.key("password"))) out.redis.password = *p;
    }
    if (!out.redis.username.empty() && out.redis.password.empty())
        error(r.get("username")->line, r.key("username"), "needs a password");
    read_dur(r, "timeout", out.redis.timeout, false);
    read_dur(r, "lease", out.redis.lease, false);
    read_dur(r, "reconnect_interval", out.redis.reconnect_interval, true);
}

// http://host[:port][/base], parsed by Boost.URL. Fills host, port and base_path; returns why
// not, or "".
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
                    if (text->empty() || text->front() != '/' ||
                        !server::is_safe_header_value(*text) ||
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
        return slash != std::string::npos && server::is_token(t.substr(0, slash)) &&
               (t.substr(slash + 1) == "*" || server::is_token(t.substr(slash + 1)));
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
                if (!server::is_token(*text)) {
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
                if (text->empty() || !server::is_safe_header_value(*text)) {
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
        if (!server::is_token(m.key)) {
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
        if (!server::is_safe_header_value(*value)) {
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
                    if (server::is_token(*text)) {
                        a.method = upper(*text);
                    } else {
                        error(v->line, h.key("method"), "invalid method " + quote(*text));
                    }
                }
            }
            if (const node* v = h.get("path")) {
                if (auto text = str(*v, h.key("path"))) {
                    // Templates like /events/${request.id} are fine; only the shape is checked.
                    if (text->empty() || text->front() != '/' ||
                        !server::is_safe_header_value(*text)) {
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

}  // namespace

config_error::config_error(std::vector<std::string> errors)
    : std::runtime_error(join(errors)), errors_(std::move(errors)) {}

const upstream_config* config::find_upstream(std::string_view name) const {
    for (const auto& u : upstreams) {
        if (u.name == name) return &u;
    }
    return nullptr;
}

config load_string(std::string_view text, format fmt, const std::string& base_dir) {
    node root;
    std::string parse_error;
    bool parsed = fmt == format::yaml ? detail::parse_yaml(text, root, parse_error)
                                      : detail::parse_json(text, root, parse_error);
    if (!parsed) throw config_error({parse_error});

    validator v(fmt == format::yaml, base_dir.empty() ? "." : base_dir);
    config c = v.run(root);
    auto errors = v.take_errors();
    if (!errors.empty()) throw config_error(std::move(errors));
    return c;
}

config load_file(const std::string& path) {
    std::string text;
    auto problem = read_whole_file(path, text);
    if (!problem.empty()) throw config_error({path + ": cannot read the file: " + problem});
    std::filesystem::path p(path);
    std::string base_dir = p.parent_path().string();
    if (base_dir.empty()) base_dir = ".";
    const bool json = lower(p.extension().string()) == ".json";
    config c = load_string(text, json ? format::json : format::yaml, base_dir);
    c.source = path;
    return c;
}

}  // namespace edged::config

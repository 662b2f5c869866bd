#pragma once
// The config validator, shared by the section readers (one file per area of the file):
// validator.cpp (the typed reads, lexical checks, messages), read_server.cpp (the top level,
// server, admin, log, lifecycle, worker_pool, jobs, shutdown), read_upstreams.cpp,
// read_routes.cpp (routes, handlers, after-actions, compression). load.cpp is the entry point.
//
// One pass over the tree fills the structs and records every problem it finds instead of stopping
// at the first, so an operator fixes a file in one round. Each message starts with the key path
// ("routes[2].handler.static.status") and, for YAML, the line.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/core/detail/string_view.hpp>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "config/tree.hpp"

namespace edged::config::detail {

using kind = node::kind;

std::string join(const std::vector<std::string>& lines);
std::string quote(std::string_view s);
// What a node is, for "expected X, got Y".
std::string describe(const node& n);
// "192.0.2.1", "10.0.0.0/8", "::1", "fd00::/8" (a block's host bits must be zero).
bool is_address_or_cidr(const std::string& text);
// Route and upstream names: they become log fields and metric labels, so a small alphabet.
bool is_name(std::string_view s);
bool is_hostname(std::string_view s);
// A port as Boost.URL found it: digits only (the grammar's), within [min, 65535].
std::optional<std::uint16_t> port_of(boost::core::string_view digits, unsigned min);
// "address:port" with an IPv4 address or a bracketed IPv6 one; port 0 allowed (tests).
std::optional<listen_address> parse_listen(std::string_view text);
// A Redis server's address: host[:port]; a name is resolved when edged connects.
bool parse_redis_address(std::string_view text, redis_config& out);
std::string lower(std::string s);
std::string upper(std::string s);
// Why the path is not a valid request path, or "" when it is.
std::string path_problem(std::string_view p);
// Reads a regular file into `out`; returns why not, or "".
std::string read_whole_file(const std::filesystem::path& path, std::string& out);
// An upstream's url into `out`; returns why it is refused, or "".
std::string parse_upstream_url(std::string_view text, upstream_config& out);

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

}  // namespace edged::config::detail

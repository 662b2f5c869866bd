#include "config/schema.hpp"

#include <stdexcept>

#include "config/config.hpp"
#include "config/to_json.hpp"

namespace edged::config {
namespace detail {
extern const std::string_view schema_text;
}

namespace {

using ojson = nlohmann::ordered_json;

const ojson& root_schema() {
    static const ojson s = ojson::parse(detail::schema_text);
    return s;
}

// Follows a local "$ref" (#/$defs/name).
const ojson& resolve(const ojson& s) {
    if (s.is_object() && s.contains("$ref")) {
        const std::string ref = s["$ref"];
        const std::string prefix = "#/$defs/";
        if (ref.rfind(prefix, 0) == 0) return root_schema()["$defs"][ref.substr(prefix.size())];
    }
    return s;
}

// The child schema of `s` under the object key `k`.
const ojson* child(const ojson& s, std::string_view k) {
    const ojson& r = resolve(s);
    if (!r.is_object()) return nullptr;
    if (auto p = r.find("properties"); p != r.end()) {
        if (auto c = p->find(std::string(k)); c != p->end()) return &*c;
    }
    if (auto a = r.find("additionalProperties"); a != r.end() && a->is_object()) return &*a;
    return nullptr;
}

// Sets "default" on every property the default config has a value for (routes and upstreams,
// lists and maps of the file's own, have none).
void fill_defaults(ojson& s, const ojson& value) {
    auto p = s.find("properties");
    if (p == s.end() || !value.is_object()) return;
    for (auto& [k, sub] : p->items()) {
        auto v = value.find(k);
        if (v == value.end()) continue;
        if (v->is_object())
            fill_defaults(sub, *v);
        else
            sub["default"] = *v;
    }
}

}  // namespace

const ojson& schema() {
    static const ojson s = [] {
        ojson out = root_schema();
        ojson defaults = to_ordered_json(config{});
        defaults.erase("routes");
        defaults.erase("upstreams");
        fill_defaults(out, defaults);
        return out;
    }();
    return s;
}

const ojson* schema_at(std::string_view path) {
    const ojson* at = &root_schema();
    while (!path.empty()) {
        // One step: "name", "name[3]", "[3]" (array items), up to the next '.'.
        const auto dot = path.find('.');
        std::string_view step = path.substr(0, dot);
        path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
        const auto bracket = step.find('[');
        const std::string_view name = step.substr(0, bracket);
        if (!name.empty()) {
            at = child(*at, name);
            if (!at) return nullptr;
        }
        for (auto b = bracket; b != std::string_view::npos; b = step.find('[', b + 1)) {
            const ojson& r = resolve(*at);
            auto items = r.find("items");
            if (items == r.end()) return nullptr;
            at = &*items;
        }
    }
    return &resolve(*at);
}

std::vector<std::string> schema_keys(std::string_view path) {
    const ojson* s = schema_at(path);
    if (!s || !s->contains("properties"))
        throw std::logic_error("config schema: no object at " + std::string(path));
    std::vector<std::string> keys;
    for (const auto& [k, v] : (*s)["properties"].items()) keys.push_back(k);
    return keys;
}

std::pair<std::int64_t, std::int64_t> schema_range(std::string_view path) {
    const ojson* s = schema_at(path);
    // "threads" is "auto" or an integer: its bounds are in the integer branch.
    if (s && s->contains("oneOf"))
        for (const auto& branch : (*s)["oneOf"])
            if (branch.value("type", "") == "integer") s = &branch;
    if (!s || !s->contains("minimum") || !s->contains("maximum"))
        throw std::logic_error("config schema: no integer bounds at " + std::string(path));
    return {(*s)["minimum"].get<std::int64_t>(), (*s)["maximum"].get<std::int64_t>()};
}

}  // namespace edged::config

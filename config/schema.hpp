#pragma once
// The config's one schema: config/schema.json, a JSON Schema (draft 2020-12) built into the
// binary. The loader takes from it which keys each section has and the bounds of every integer,
// so a key or a bound is written once; `edged --print-schema` prints it with every default
// filled in from the structs in config.hpp (deploy/edged.schema.json is that output, for
// editors). What JSON Schema cannot say (an upstream that exists, a file that can be read, a
// size's bounds when written with a unit) only the loader checks.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace edged::config {

// The schema as shipped: config/schema.json with "default" set from a default config.
const nlohmann::ordered_json& schema();

// The schema of the value at a loader path: "server.limits", "routes[3].handler.static",
// "upstreams.origin". Null when the schema has no such place.
const nlohmann::ordered_json* schema_at(std::string_view path);
// The keys of the object at `path`; throws std::logic_error when the schema has none there
// (a loader bug, caught by the tests).
std::vector<std::string> schema_keys(std::string_view path);
// The inclusive bounds of the integer at `path`; throws std::logic_error when it has none.
std::pair<std::int64_t, std::int64_t> schema_range(std::string_view path);

}  // namespace edged::config

#pragma once
// The effective config as JSON (what --check-config prints), apart from config.hpp so that the
// schema does not pull nlohmann/json into every file that reads a setting.

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace edged::config {

// The effective config with every default filled in (what --check-config prints).
nlohmann::json to_json(const config& c);
// The same document with keys in schema order and header maps in file order; nlohmann::json
// sorts object keys, so print this one where a human or a byte-exact round trip reads it.
nlohmann::ordered_json to_ordered_json(const config& c);

}  // namespace edged::config

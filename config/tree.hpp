#pragma once
// Internal to config/: the document tree both YAML and JSON are turned into before validation.
//
// Why a tree of our own rather than walking YAML::Node and nlohmann::json directly: the validator
// is written once, keeps the line of every YAML node for its messages, sees duplicate keys
// (nlohmann keeps only the last one, yaml-cpp keeps both) and keeps the file order of maps.

#include <string>
#include <string_view>
#include <vector>

namespace edged::config::detail {

struct member;

struct node {
    enum class kind { null, boolean, integer, real, string, list, map };

    kind type = kind::null;
    int line = 0;        // 1-based line in a YAML file; 0 when unknown (JSON)
    bool plain = false;  // an unquoted YAML scalar: "off" or "404" may also stand for a string
    std::string text;    // scalars: the text as written (integers keep their digits)
    bool boolean = false;
    std::vector<node> items;      // list
    std::vector<member> members;  // map, in file order, duplicates kept
};

struct member {
    std::string key;
    int line = 0;  // line of the key
    node value;
};

// Both fill `root` (a null node for an empty document) and return true, or return false with
// one message in `error`, prefixed with "line N: " where the parser knows it.
bool parse_yaml(std::string_view text, node& root, std::string& error);
bool parse_json(std::string_view text, node& root, std::string& error);

}  // namespace edged::config::detail

// Loading: text -> detail::node (tree.cpp) -> config (the validator, validator.hpp). Only when
// the whole file has been read does load_string throw, with every problem found.

#include <filesystem>

#include "config/config.hpp"
#include "config/tree.hpp"
#include "config/validator.hpp"

namespace edged::config {

using detail::node;
using detail::validator;

config_error::config_error(std::vector<std::string> errors)
    : std::runtime_error(detail::join(errors)), errors_(std::move(errors)) {}

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
    auto problem = detail::read_whole_file(path, text);
    if (!problem.empty()) throw config_error({path + ": cannot read the file: " + problem});
    std::filesystem::path p(path);
    std::string base_dir = p.parent_path().string();
    if (base_dir.empty()) base_dir = ".";
    const bool json = detail::lower(p.extension().string()) == ".json";
    config c = load_string(text, json ? format::json : format::yaml, base_dir);
    c.source = path;
    return c;
}

}  // namespace edged::config

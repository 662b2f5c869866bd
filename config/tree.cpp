// YAML and JSON text -> detail::node. No schema knowledge here; see load.cpp.

#include "config/tree.hpp"

#include <algorithm>
#include <regex>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace edged::config::detail {

namespace {

// ---- YAML ---------------------------------------------------------------------------------

// YAML 1.2 core schema resolution for plain scalars. yaml-cpp leaves scalars untyped, and its
// own as<bool>() would read "off" and "no" as false (YAML 1.1), which would make `level: off`
// a boolean; resolving here keeps the rules small and explicit.
node::kind resolve_plain(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return node::kind::null;
    if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
        return node::kind::boolean;
    }
    static const std::regex integer{R"([-+]?[0-9]+)"};
    static const std::regex real{
        R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))"};
    if (std::regex_match(s, integer)) return node::kind::integer;
    if (std::regex_match(s, real)) return node::kind::real;
    return node::kind::string;
}

int line_of(const YAML::Mark& mark, int fallback) {
    return mark.is_null() ? fallback : mark.line + 1;
}

node from_yaml(const YAML::Node& y, int fallback_line) {
    node n;
    n.line = line_of(y.Mark(), fallback_line);
    switch (y.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null:
            n.type = node::kind::null;
            break;
        case YAML::NodeType::Scalar: {
            n.text = y.Scalar();
            const std::string& tag = y.Tag();
            // "?" marks a plain scalar; quoted scalars carry "!", explicit tags their own name.
            if (tag == "?") {
                n.plain = true;
                n.type = resolve_plain(n.text);
            } else if (tag == "tag:yaml.org,2002:int") {
                n.type = node::kind::integer;
            } else if (tag == "tag:yaml.org,2002:bool") {
                n.type = node::kind::boolean;
            } else {
                n.type = node::kind::string;
            }
            if (n.type == node::kind::boolean) {
                n.boolean = n.text == "true" || n.text == "True" || n.text == "TRUE";
            }
            if (n.type == node::kind::integer && !n.text.empty() && n.text.front() == '+') {
                n.text.erase(0, 1);
            }
            break;
        }
        case YAML::NodeType::Sequence:
            n.type = node::kind::list;
            for (const auto& item : y) n.items.push_back(from_yaml(item, n.line));
            break;
        case YAML::NodeType::Map:
            n.type = node::kind::map;
            for (auto it = y.begin(); it != y.end(); ++it) {
                member m;
                m.line = line_of(it->first.Mark(), n.line);
                // A complex key ("? [a, b]") can never name anything in the schema; keep it
                // visible so the validator reports it as an unknown key.
                m.key = it->first.IsScalar() ? it->first.Scalar() : "<complex key>";
                // An empty value ("key:") has no mark of its own, or the mark of the next line.
                m.value = from_yaml(it->second, m.line);
                if (m.value.type == node::kind::null) m.value.line = m.line;
                n.members.push_back(std::move(m));
            }
            break;
    }
    return n;
}

// ---- JSON ---------------------------------------------------------------------------------

int line_at(std::string_view text, std::size_t position) {
    position = std::min(position, text.size());
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + position, '\n'));
}

// Builds the tree from SAX events so that object keys keep their order and duplicates survive
// for the validator to report.
class json_builder {
public:
    using json = nlohmann::json;

    json_builder(std::string_view text, node& root, std::string& error)
        : text_(text), root_(root), error_(error) {}

    bool null() { return add(node{}); }
    bool boolean(bool b) {
        node n;
        n.type = node::kind::boolean;
        n.boolean = b;
        n.text = b ? "true" : "false";
        return add(std::move(n));
    }
    bool number_integer(json::number_integer_t v) { return add(number(std::to_string(v))); }
    bool number_unsigned(json::number_unsigned_t v) { return add(number(std::to_string(v))); }
    bool number_float(json::number_float_t, const json::string_t& s) {
        node n;
        n.type = node::kind::real;
        n.text = s;
        return add(std::move(n));
    }
    bool string(json::string_t& s) {
        node n;
        n.type = node::kind::string;
        n.text = s;
        return add(std::move(n));
    }
    bool binary(json::binary_t&) { return add(node{}); }
    bool start_object(std::size_t) {
        node n;
        n.type = node::kind::map;
        return open(std::move(n));
    }
    bool key(json::string_t& k) {
        member m;
        m.key = k;
        stack_.back()->members.push_back(std::move(m));
        return true;
    }
    bool end_object() {
        stack_.pop_back();
        return true;
    }
    bool start_array(std::size_t) {
        node n;
        n.type = node::kind::list;
        return open(std::move(n));
    }
    bool end_array() {
        stack_.pop_back();
        return true;
    }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& e) {
        // nlohmann's text reads "[json.exception.parse_error.101] parse error at line 1, column 9:
        // syntax error ..."; keep the part after the position, which we give as "line N: ".
        std::string what = e.what();
        auto at = what.find("column ");
        if (at != std::string::npos) at = what.find(": ", at);
        if (at != std::string::npos) what.erase(0, at + 2);
        error_ = "line " + std::to_string(line_at(text_, position)) + ": " + what;
        return false;
    }

private:
    static node number(std::string digits) {
        node n;
        n.type = node::kind::integer;
        n.text = std::move(digits);
        return n;
    }

    // Places `n` where the parser is: the root, the next list item or the value of the last key.
    // Only the innermost open container ever grows, so the pointers on the stack stay valid.
    node* place(node n) {
        if (stack_.empty()) {
            root_ = std::move(n);
            return &root_;
        }
        node* parent = stack_.back();
        if (parent->type == node::kind::list) {
            parent->items.push_back(std::move(n));
            return &parent->items.back();
        }
        parent->members.back().value = std::move(n);
        return &parent->members.back().value;
    }
    bool add(node n) {
        place(std::move(n));
        return true;
    }
    bool open(node n) {
        stack_.push_back(place(std::move(n)));
        return true;
    }

    std::string_view text_;
    node& root_;
    std::string& error_;
    std::vector<node*> stack_;
};

bool blank(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

}  // namespace

bool parse_yaml(std::string_view text, node& root, std::string& error) {
    try {
        root = from_yaml(YAML::Load(std::string(text)), 0);
        return true;
    } catch (const YAML::Exception& e) {
        error = "line " + std::to_string(e.mark.is_null() ? 1 : e.mark.line + 1) + ": " + e.msg;
        return false;
    }
}

bool parse_json(std::string_view text, node& root, std::string& error) {
    root = node{};
    if (blank(text)) return true;  // an empty file means "all defaults", as for YAML
    json_builder builder(text, root, error);
    // Strict: no comments, exactly one value.
    return nlohmann::json::sax_parse(text, &builder, nlohmann::json::input_format_t::json, true);
}

}  // namespace edged::config::detail

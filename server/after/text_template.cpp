#include "server/after/text_template.hpp"

#include <charconv>
#include <stdexcept>

#include "lifecycle/json_escape.hpp"

namespace edged::server {

text_template::text_template(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t open = text.find("${", pos);
        if (open == std::string_view::npos) {
            parts_.push_back({var::literal, std::string(text.substr(pos))});
            break;
        }
        if (open > pos) parts_.push_back({var::literal, std::string(text.substr(pos, open - pos))});
        std::size_t close = text.find('}', open);
        if (close == std::string_view::npos)
            throw std::invalid_argument("unterminated ${ in template");
        std::string_view name = text.substr(open + 2, close - open - 2);
        if (name == "request.id")
            parts_.push_back({var::id, {}});
        else if (name == "request.method")
            parts_.push_back({var::method, {}});
        else if (name == "request.path")
            parts_.push_back({var::path, {}});
        else if (name == "request.query")
            parts_.push_back({var::query, {}});
        else if (name == "request.host")
            parts_.push_back({var::host, {}});
        else if (name == "route.name")
            parts_.push_back({var::route, {}});
        else if (name == "response.status")
            parts_.push_back({var::status, {}});
        else if (name == "timing.handler_us")
            parts_.push_back({var::handler_us, {}});
        else if (name.starts_with("request.header.") && name.size() > 15)
            parts_.push_back({var::header, std::string(name.substr(15))});
        else
            throw std::invalid_argument("unknown template variable ${" + std::string(name) + "}");
        pos = close + 1;
    }
}

void text_template::render(std::string& out, const template_values& v, bool json) const {
    auto put = [&](std::string_view s) {
        if (json)
            lifecycle::append_json_escaped(out, s);
        else
            out += s;
    };
    for (const auto& p : parts_) {
        switch (p.kind) {
            case var::literal:
                out += p.text;
                break;
            case var::id:
                put(v.request_id);
                break;
            case var::method:
                put(v.method);
                break;
            case var::path:
                put(v.path);
                break;
            case var::query:
                put(v.query);
                break;
            case var::host:
                put(v.host);
                break;
            case var::route:
                put(v.route);
                break;
            case var::status:
                out += std::to_string(v.status);
                break;
            case var::handler_us:
                out += std::to_string(v.handler_us);
                break;
            case var::header:
                if (v.request) {
                    auto it = v.request->find(p.text);
                    if (it != v.request->end()) put(it->value());
                }
                break;
        }
    }
}

bool text_template::variable_inside_json_escape() const {
    // The escape state at the end of each literal; a variable's escaped value starts from a
    // clean state and leaves one.
    for (std::size_t i = 0; i + 1 < parts_.size(); ++i) {
        if (parts_[i].kind != var::literal) continue;
        const std::string_view t = parts_[i].text;
        bool open = false;  // inside `\`, `\u` with fewer than 4 digits, or after a high surrogate
        for (std::size_t k = t.find('\\'); k != std::string_view::npos; k = t.find('\\', k)) {
            const std::string_view esc = t.substr(k + 1);  // after the backslash
            if (esc.empty() || esc[0] != 'u') {
                open = esc.empty();
                k += 2;
                continue;
            }
            // \uXXXX: from_chars takes the hex digits there are (at most the 4 it is given).
            unsigned code = 0;
            const std::string_view digits = esc.substr(1, 4);
            const auto [end, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), code, 16);
            const std::size_t n = static_cast<std::size_t>(end - digits.data());
            const bool at_end = k + 2 + n == t.size();
            open = at_end && (n < 4 || (code >= 0xD800 && code <= 0xDBFF));
            k += 2 + n;
        }
        if (open) return true;
    }
    return false;
}

std::string text_template::render(const template_values& v, bool json) const {
    std::string out;
    render(out, v, json);
    return out;
}

}  // namespace edged::server

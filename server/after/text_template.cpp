#include "server/after/text_template.hpp"

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
    auto is_hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    for (std::size_t i = 0; i + 1 < parts_.size(); ++i) {
        if (parts_[i].kind != var::literal) continue;
        const std::string& t = parts_[i].text;
        bool open = false;  // inside `\`, `\u` with fewer than 4 digits, or after a high surrogate
        for (std::size_t k = 0; k < t.size(); ++k) {
            open = false;
            if (t[k] != '\\') continue;
            if (++k == t.size()) {
                open = true;
                break;
            }
            if (t[k] != 'u') continue;
            std::size_t digits = 0;
            while (digits < 4 && k + 1 < t.size() && is_hex(t[k + 1])) {
                ++k;
                ++digits;
            }
            if (digits < 4) {
                open = k + 1 == t.size();
                continue;
            }
            const char lead = t[k - 3];
            const char second = t[k - 2];
            const bool high_surrogate =
                (lead == 'd' || lead == 'D') && (second == '8' || second == '9' || second == 'a' ||
                                                 second == 'A' || second == 'b' || second == 'B');
            open = high_surrogate && k + 1 == t.size();
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

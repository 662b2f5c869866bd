#pragma once
// The text templates of after-actions: `${request.id}`, `${request.header.NAME}`, ... in a path,
// a header value or a body. Parsed once at start-up (an unknown variable is an error), rendered
// per request from values captured while the request still exists.

#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/message.hpp"

namespace edged::server {

// What a template may refer to, captured at registration.
struct template_values {
    const lifecycle::request* request = nullptr;
    std::string_view request_id, method, path, query, host, route;
    unsigned status = 0;
    long long handler_us = 0;
};

class text_template {
public:
    // Parses `${name}` references; throws std::invalid_argument naming an unknown variable.
    explicit text_template(std::string_view text);
    void render(std::string& out, const template_values& v, bool json_escape) const;
    std::string render(const template_values& v, bool json_escape = false) const;
    // Whether a variable stands inside an escape sequence of the template's own text read as a
    // JSON string (`\${x}`, `\u00${x}`, a high surrogate `\ud83d${x}`): its escaped value would
    // complete the sequence, so the value's first bytes would change meaning. A JSON body with
    // one is refused.
    bool variable_inside_json_escape() const;

private:
    enum class var { literal, id, method, path, query, host, route, status, handler_us, header };
    struct part {
        var kind;
        std::string text;  // the literal, or the header name
    };
    std::vector<part> parts_;
};

}  // namespace edged::server

// libFuzzer target: the after-action text templates (server/after/text_template.*). The first
// line is the template, the rest the request's header fields ("Name: value" lines). A template
// is either refused (std::invalid_argument) or renders. Rendered for JSON, the values cannot
// change what the template's own text means: when the template with every value empty is a valid
// JSON string (inside quotes), it still is with the values filled in, whatever bytes the header
// values hold.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/after/text_template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t eol = in.find('\n');
    const std::string_view text = in.substr(0, eol);
    std::optional<edged::server::text_template> t;
    try {
        t.emplace(text);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    edged::lifecycle::request req;
    req.method(boost::beast::http::verb::post);
    req.target("/a?b=c");
    if (eol != std::string_view::npos) {
        std::string_view rest = in.substr(eol + 1);
        while (!rest.empty()) {
            const std::size_t end = rest.find('\n');
            const std::string_view line = rest.substr(0, end);
            const std::size_t colon = line.find(':');
            if (colon != std::string_view::npos && colon > 0)
                req.insert(line.substr(0, colon), line.substr(colon + 1));
            if (end == std::string_view::npos) break;
            rest.remove_prefix(end + 1);
        }
    }
    edged::server::template_values v;
    v.request = &req;
    v.request_id = "0123456789abcdef";
    v.method = "POST";
    v.path = "/a";
    v.query = "b=c";
    v.host = "example.com";
    v.route = "fuzz";
    v.status = 200;
    v.handler_us = 12;
    (void)t->render(v, false);
    edged::lifecycle::request bare;
    edged::server::template_values empty;
    empty.request = &bare;
    // (A NUL ends nlohmann's input early, so a literal with one proves nothing: skipped. So is
    // a template whose own text is not UTF-8: a value placed inside one of its multi-byte
    // sequences, as in "\xd8${request.id}\xa0", cuts it, though it escapes nothing.)
    const std::string literal = t->render(empty, true);
    bool text_utf8 = true;
    try {
        (void)nlohmann::json(std::string(text)).dump();  // strict: throws on ill-formed UTF-8
    } catch (const nlohmann::json::type_error&) {
        text_utf8 = false;
    }
    // A variable inside one of the text's escapes (`\${x}`) is refused for a JSON body.
    const bool literal_ok = text_utf8 && !t->variable_inside_json_escape() &&
                            literal.find('\0') == std::string::npos &&
                            nlohmann::json::accept("\"" + literal + "\"");
    if (literal_ok && !nlohmann::json::accept("\"" + t->render(v, true) + "\"")) __builtin_trap();
    return 0;
}

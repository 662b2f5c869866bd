// The after-action text templates on their own: what they refuse and what they render.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "server/after/after_actions.hpp"
#include "server/after/text_template.hpp"

using edged::server::template_values;
using edged::server::text_template;

namespace {

std::string render_json(const text_template& t, const edged::lifecycle::request& req) {
    template_values v;
    v.request = &req;
    v.request_id = "0123456789abcdef";
    return t.render(v, true);
}

edged::config::after_action json_call(std::string body) {
    edged::config::http_action a;
    a.upstream = "sink";
    a.headers = {{"content-type", "application/json"}};
    a.body = std::move(body);
    return a;
}

}  // namespace

TEST_CASE("a JSON body's values stay inside their string whatever the request sends",
          "[after][template]") {
    text_template t(R"({"ua":"${request.header.user-agent}","id":"${request.id}"})");
    CHECK_FALSE(t.variable_inside_json_escape());
    edged::lifecycle::request req;
    req.insert("user-agent", "a\"b\\c\x01\n\xff");
    auto doc = nlohmann::json::parse(render_json(t, req), nullptr, false);
    REQUIRE_FALSE(doc.is_discarded());
    CHECK(doc["id"] == "0123456789abcdef");
    CHECK(doc["ua"].get<std::string>().starts_with("a\"b\\c\x01\n"));
}

TEST_CASE("a variable inside the template's own JSON escape is found and refused",
          "[after][template]") {
    // Found by fuzz_template: `\${request.id}` renders `\0123...`, an invalid escape, and a value
    // starting with `"` would render `\\"`, closing the string.
    for (const char* text :
         {R"("/\${request.id}x")", R"("\u00${request.id}")", R"("\u${request.id}")",
          R"("\ud83d${request.id}")", R"("a\\\${request.id}")"}) {
        INFO(text);
        CHECK(text_template(text).variable_inside_json_escape());
        std::vector<edged::config::after_action> actions{json_call(text)};
        CHECK_THROWS_WITH(edged::server::after_actions(actions),
                          Catch::Contains("after[0]") && Catch::Contains("backslash"));
    }
    // Escapes that end before the variable are fine.
    for (const char* text :
         {R"("\\${request.id}")", R"("\n${request.id}\t")", R"("\u00e9${request.id}")",
          R"("\ud83d\ude00${request.id}")", R"("${request.id}\"")"}) {
        INFO(text);
        CHECK_FALSE(text_template(text).variable_inside_json_escape());
        std::vector<edged::config::after_action> actions{json_call(text)};
        CHECK_NOTHROW(edged::server::after_actions(actions));
        edged::lifecycle::request req;
        CHECK(nlohmann::json::accept(render_json(text_template(text), req)));
    }
    // Outside JSON a backslash is only text: a plain body keeps it.
    edged::config::http_action plain;
    plain.upstream = "sink";
    plain.body = R"(\${request.id})";
    std::vector<edged::config::after_action> actions{plain};
    CHECK_NOTHROW(edged::server::after_actions(actions));
}

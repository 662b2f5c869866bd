// Log lines stay valid JSON (UTF-8) whatever bytes a client sent: the escaping every log field
// and templated JSON body goes through.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "lifecycle/json_escape.hpp"
#include "lifecycle/log.hpp"
#include "log_capture.hpp"

namespace {

std::string escaped(std::string_view s) {
    std::string out = "\"";
    edged::lifecycle::append_json_escaped(out, s);
    out += '"';
    return out;
}

// What a strict JSON parser (nlohmann, which refuses ill-formed UTF-8) reads back.
std::string parsed(std::string_view s) {
    return nlohmann::json::parse(escaped(s)).get<std::string>();
}

}  // namespace

TEST_CASE("JSON escaping keeps well-formed UTF-8 and replaces every ill-formed byte",
          "[log][json]") {
    const std::string fffd = "\xef\xbf\xbd";
    CHECK(parsed("plain \"quoted\" \\ \n\t\x01\x7f") == "plain \"quoted\" \\ \n\t\x01\x7f");
    CHECK(parsed("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(parsed("\xff") == fffd);
    CHECK(parsed("a\x80z") == "a" + fffd + "z");
    CHECK(parsed("\xc0\x80") == fffd + fffd);                        // overlong NUL
    CHECK(parsed("\xe0\x80\xaf") == fffd + fffd + fffd);             // overlong '/'
    CHECK(parsed("\xed\xa0\x80") == fffd + fffd + fffd);             // a surrogate
    CHECK(parsed("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // past U+10FFFF
    CHECK(parsed("\xe2\x82") == fffd + fffd);                        // cut short at the end
    CHECK(parsed("\xe2\x82z") == fffd + fffd + "z");
    // Every single byte, and random strings: always parseable.
    for (int b = 0; b < 256; ++b) CHECK_NOTHROW(parsed(std::string(1, static_cast<char>(b))));
    std::mt19937 rng(12345);
    for (int i = 0; i < 2000; ++i) {
        std::string s(rng() % 16, '\0');
        for (auto& ch : s) ch = static_cast<char>(rng() & 0xff);
        INFO(i);
        REQUIRE_NOTHROW(parsed(s));
    }
}

TEST_CASE("a log line with a client's raw bytes in a field is valid JSON", "[log][json]") {
    edged::test::log_capture captured;
    edged::lifecycle::log::event("access")
        .str("path", "/\xff\xfe/\xc3\x28\"}{\n")
        .str("user_agent", "x\r\n{\"injected\":1}")
        .info();
    captured.stop();
    const std::string line = captured.text().substr(0, captured.text().find('\n'));
    INFO(line);
    nlohmann::json j;
    REQUIRE_NOTHROW(j = nlohmann::json::parse("{" + line + "}"));  // as the sinks frame it
    CHECK(j.at("path") == "/\xef\xbf\xbd\xef\xbf\xbd/\xef\xbf\xbd(\"}{\n");
    CHECK(j.at("user_agent") == "x\r\n{\"injected\":1}");
    CHECK(!j.contains("injected"));
}

#pragma once
// JSON string escaping, shared by the log lines and by templated after-action bodies.

#include <cstddef>
#include <string_view>

namespace edged::lifecycle {

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong
// forms, no surrogates, nothing past U+10FFFF), or 0 when it is not one. `s[0]` is >= 0x80.
constexpr std::size_t utf8_sequence(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xc0) == 0x80; };
    const unsigned char c = b(0);
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (!cont(1) || !cont(2)) return 0;
        if (c == 0xe0 && b(1) < 0xa0) return 0;   // overlong
        if (c == 0xed && b(1) >= 0xa0) return 0;  // a surrogate
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        if (c == 0xf0 && b(1) < 0x90) return 0;   // overlong
        if (c == 0xf4 && b(1) >= 0x90) return 0;  // past U+10FFFF
        return 4;
    }
    return 0;
}

// Appends `s` escaped for the inside of a JSON string. `Out` is std::string or
// fmt::memory_buffer (anything with append(first, last) and push_back). The result is always
// valid UTF-8 whatever `s` holds: a byte that does not start a well-formed sequence becomes
// U+FFFD (the replacement character), so a client's bytes can never break a log line's JSON.
template <class Out>
void append_json_escaped(Out& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    auto put = [&](std::string_view text) { out.append(text.data(), text.data() + text.size()); };
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char ch = s[i];
        auto c = static_cast<unsigned char>(ch);
        if (c >= 0x80) {
            const std::size_t n = utf8_sequence(s.substr(i));
            if (n == 0) {
                put("\xef\xbf\xbd");
            } else {
                put(s.substr(i, n));
                i += n - 1;
            }
            continue;
        }
        switch (c) {
            case '"':
                put("\\\"");
                break;
            case '\\':
                put("\\\\");
                break;
            case '\n':
                put("\\n");
                break;
            case '\r':
                put("\\r");
                break;
            case '\t':
                put("\\t");
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
                    out.append(esc, esc + 6);
                } else {
                    out.push_back(ch);
                }
        }
    }
}

}  // namespace edged::lifecycle

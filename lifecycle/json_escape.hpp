#pragma once
// JSON string escaping, shared by the log lines and by templated after-action bodies.

#include <string_view>

namespace edged::lifecycle {

// Appends `s` escaped for the inside of a JSON string. `Out` is std::string or
// fmt::memory_buffer (anything with append(first, last) and push_back).
template <class Out>
void append_json_escaped(Out& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    auto put = [&](std::string_view text) { out.append(text.data(), text.data() + text.size()); };
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
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

#pragma once
// What may stand in a header field (RFC 9110 §5.1, §5.5), checked in one place for everything
// that writes one: the config loader (static headers, after-action headers), the response writer,
// the after-action templates. Header-only and a leaf (the standard library only): config/ is
// the lowest layer, and server/ takes these under its own names (server/http/header_text.hpp).

#include <cstddef>
#include <string_view>

namespace edged::config {

// An RFC 9110 token character (field names, methods).
constexpr bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A non-empty token.
constexpr bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// CR, LF and NUL would end or corrupt a header line; nothing else is refused in a value here
// (the request parser refuses other control characters on the way in).
constexpr bool breaks_header_line(char c) {
    return c == '\r' || c == '\n' || c == '\0';
}

// True when `value` may go on a header line.
constexpr bool is_safe_header_value(std::string_view value) {
    for (char c : value)
        if (breaks_header_line(c)) return false;
    return true;
}

// ASCII case-insensitive equality (field names, tokens, codings). Not beast::iequals: Boost
// 1.81's reads one byte past the end of both strings when they differ only in the case of their
// last character (found by fuzz_accept_encoding).
constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// `s` without the optional whitespace (SP, HTAB) around a field value or list element.
constexpr std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace edged::config

// Boost's assertion handler, in the sanitizer and fuzz builds only (BOOST_ENABLE_ASSERT_HANDLER
// is defined there; release builds compile BOOST_ASSERT out, as NDEBUG does). It aborts with the
// usual message, as the default would, except for one assertion of Beast 1.81 that is wrong:
// basic_parser::parse_chunk_header asserts `n >= 5` after the last chunk's line, but a chunked
// body's end that arrives a byte at a time ("0\r\n", then "\r") reaches it with 4 bytes, and the
// code after it answers need_more correctly (boostorg/beast#2861, fixed in Boost 1.86). Every
// other assertion still aborts. It lives in config/, the library every edged binary links first.

#ifdef BOOST_ENABLE_ASSERT_HANDLER

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
    if (std::string_view(expr) == "n >= 5" &&
        std::string_view(file).ends_with("beast/http/impl/basic_parser.ipp"))
        return;
    std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
    std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
    std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr,
                 msg);
    std::abort();
}

}  // namespace boost

#endif

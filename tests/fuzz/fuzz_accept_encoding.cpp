// libFuzzer target: the Accept-Encoding negotiation (server/compress/accept_encoding.hpp) on any
// field value. The choice must always be one of the offered codings, or identity.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/compress/accept_encoding.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view field(reinterpret_cast<const char*>(data), size);
    static const std::vector<std::string> offered{"br", "gzip"};
    static const std::vector<std::string> one{"gzip"};
    for (const auto* list : {&offered, &one}) {
        const std::string_view chosen = edged::server::negotiate_encoding(field, true, *list);
        bool known = chosen.empty();
        for (const auto& c : *list) known = known || chosen == c;
        if (!known) __builtin_trap();
    }
    return 0;
}

#include "server/upstream/hop_by_hop.hpp"

#include "server/http/header_text.hpp"

namespace edged::server {

bool is_hop_by_hop(std::string_view name) {
    static constexpr std::string_view names[] = {"connection", "keep-alive",    "proxy-connection",
                                                 "te",         "trailer",       "transfer-encoding",
                                                 "upgrade",    "content-length"};
    for (auto n : names)
        if (iequals(n, name)) return true;
    return false;
}

}  // namespace edged::server

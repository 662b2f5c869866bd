#include "server/upstream/traceparent.hpp"

#include "lifecycle/request_id.hpp"

namespace edged::server {
namespace {

void append_hex16(std::string& out, std::uint64_t v) {
    lifecycle::request_id id;
    id.set_generated(v);
    out += id.view();
}

}  // namespace

void append_traceparent(std::string& out, std::string_view trace_id, std::uint64_t r1,
                        std::uint64_t r2, std::uint64_t r3) {
    out += "00-";
    if (trace_id.size() == 32) {
        out += trace_id;
    } else {
        append_hex16(out, r1);
        append_hex16(out, r2);
    }
    out += '-';
    append_hex16(out, r3 | 1);  // a span id of all zeros is invalid
    out += "-01";
}

std::string make_traceparent(std::string_view trace_id, std::uint64_t r1, std::uint64_t r2,
                             std::uint64_t r3) {
    std::string tp;
    append_traceparent(tp, trace_id, r1, r2, r3);
    return tp;
}

}  // namespace edged::server

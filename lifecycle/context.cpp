#include "lifecycle/context.hpp"

#include <utility>

namespace edged::lifecycle {
namespace {
thread_local const context* current = nullptr;
}

const context* current_context() {
    return current;
}

context_scope::context_scope(const context* ctx) : previous_(current) {
    current = ctx;
}
context_scope::~context_scope() {
    current = previous_;
}
const context* context_scope::exchange(const context* ctx) {
    return std::exchange(current, ctx);
}

namespace {
bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}
}  // namespace

void context::set_incoming_traceparent(std::string_view v) {
    // version "00" - trace-id (32 hex, not all zero) - parent-id (16 hex) - flags (2 hex)
    if (v.size() != 55 || v.substr(0, 3) != "00-" || v[35] != '-' || v[52] != '-') return;
    std::string_view trace = v.substr(3, 32);
    if (!is_lower_hex(trace) || trace == std::string(32, '0')) return;
    if (!is_lower_hex(v.substr(36, 16)) || !is_lower_hex(v.substr(53, 2))) return;
    trace_id_.assign(trace);
}

std::string_view context::trace_id() const {
    if (trace_id_.empty()) {
        thread_local id_generator gen = id_generator::seeded();
        request_id a, b;
        a.set_generated(gen());
        b.set_generated(gen());
        trace_id_.assign(a.view());
        trace_id_.append(b.view());
    }
    return trace_id_;
}

void context::reset() {
    trace_id_.clear();
    peer_.clear();
    client_.clear();
    peer_trusted_ = false;
    body_stream_.reset();
    last_upstream_.clear();
    upstream_time_ = {};
    subrequests_ = 0;
    id_ = request_id{};
    route_ = prefix_ = method_ = path_ = query_ = host_ = {};
    locals_.clear();
}

}  // namespace edged::lifecycle

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

void context::reset() {
    id_ = request_id{};
    route_ = prefix_ = method_ = path_ = query_ = host_ = {};
    locals_.clear();
}

}  // namespace edged::lifecycle

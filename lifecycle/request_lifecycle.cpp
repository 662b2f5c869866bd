#include "lifecycle/request_lifecycle.hpp"

#include <exception>

#include "lifecycle/log.hpp"

namespace edged::lifecycle {

using std::chrono::duration_cast;
using std::chrono::microseconds;

void request_lifecycle::begin(clock::time_point at) {
    phase_ = phase::receiving;
    received_at_ = at;
}

response request_lifecycle::handle(handler& h, const request& req) {
    phase_ = phase::handling;
    context_scope scope(&ctx_);
    handler_started_ = clock::now();
    response res;
    try {
        res = h.handle(req, ctx_);
    } catch (const std::exception& e) {
        log::event("handler failed").str("route", ctx_.route()).str("error", e.what()).error();
        res = response{};
        res.status = 500;
        res.body_ref = "internal server error\n";
    } catch (...) {
        log::event("handler failed").str("route", ctx_.route()).str("error", "unknown").error();
        res = response{};
        res.status = 500;
        res.body_ref = "internal server error\n";
    }
    handled_at_ = clock::now();
    phase_ = phase::responding;
    return res;
}

void request_lifecycle::flushed(clock::time_point at) {
    flushed_at_ = at;
    close();
}

void request_lifecycle::abandon() {
    close();
}

void request_lifecycle::close() {
    phase_ = phase::closed;
}

microseconds request_lifecycle::handler_time() const {
    return duration_cast<microseconds>(handled_at_ - handler_started_);
}

microseconds request_lifecycle::time_to_flush() const {
    return duration_cast<microseconds>(flushed_at_ - received_at_);
}

void lifecycle_pool::deleter::operator()(request_lifecycle* lc) const {
    if (lc->pool_)
        lc->pool_->release(lc);
    else
        delete lc;
}

lifecycle_pool::~lifecycle_pool() {
    for (auto* lc : free_) delete lc;
}

lifecycle_pool::handle lifecycle_pool::acquire() {
    request_lifecycle* lc;
    if (free_.empty()) {
        lc = new request_lifecycle;
    } else {
        lc = free_.back();
        free_.pop_back();
    }
    lc->pool_ = this;
    lc->phase_ = request_lifecycle::phase::idle;
    ++live_;
    return handle(lc);
}

void lifecycle_pool::release(request_lifecycle* lc) {
    --live_;
    if (lc->phase_ != request_lifecycle::phase::closed) lc->abandon();
    lc->ctx_.reset();
    if (free_.size() < max_idle_) {
        free_.push_back(lc);
    } else {
        delete lc;
    }
}

}  // namespace edged::lifecycle

#pragma once
// The shutdown gate of one I/O thread (Seastar's gate, without futures): a count of what must end
// before the thread may stop — its open sessions and its lifecycles still running background
// tasks — and one "closed" callback.
//
// Invariants:
// - Every enter() is matched by one leave(); the count never goes below zero.
// - After close(), the callback runs exactly once, as soon as the count is zero (at once when it
//   already is). Entering after that is a logic error: whatever enters is held by something
//   that is itself counted (a session holds its lifecycles until they leave for the background),
//   so the count cannot reach zero while something is still on its way in.
// - Not thread-safe: the thread that owns it enters, leaves and closes it.

#include <cassert>
#include <cstddef>
#include <functional>
#include <utility>

namespace edged::lifecycle {

class gate {
public:
    gate() = default;
    gate(const gate&) = delete;
    gate& operator=(const gate&) = delete;

    void enter() {
        assert(!closed_ || count_ > 0);
        ++count_;
    }
    void leave() {
        assert(count_ > 0);
        if (--count_ == 0 && closed_) fire();
    }
    // `on_closed` runs (inside this call or inside the last leave()) once nothing is left. It
    // must not destroy what is leaving: post from it.
    void close(std::function<void()> on_closed) {
        closed_ = true;
        on_closed_ = std::move(on_closed);
        if (count_ == 0) fire();
    }
    // Drops a callback that has not run yet (the thread is being stopped instead).
    void forget() { on_closed_ = nullptr; }

    std::size_t count() const { return count_; }
    bool closed() const { return closed_; }

private:
    void fire() {
        if (auto fn = std::exchange(on_closed_, nullptr)) fn();
    }

    std::size_t count_ = 0;
    bool closed_ = false;
    std::function<void()> on_closed_;
};

}  // namespace edged::lifecycle

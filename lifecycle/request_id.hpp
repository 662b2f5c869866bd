#pragma once
// Request ids: an incoming X-Request-Id is honoured when it is short and made of safe
// characters (so it can go into logs, headers and JSON unescaped); otherwise one is generated.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edged::lifecycle {

class request_id {
public:
    static constexpr std::size_t max_length = 64;

    request_id() = default;
    std::string_view view() const { return {buf_, len_}; }
    bool empty() const { return len_ == 0; }

    // True when `candidate` is 1..max_length characters of [A-Za-z0-9._:-].
    static bool is_safe(std::string_view candidate);

    // Takes `incoming` when safe, else generates a fresh id from `gen`. Returns true when the
    // incoming value was used.
    template <class Generator>
    bool assign(std::string_view incoming, Generator& gen) {
        if (is_safe(incoming)) {
            set(incoming);
            return true;
        }
        set_generated(gen());
        return false;
    }

    void set(std::string_view value);
    // 16 lower-case hex digits of `bits`.
    void set_generated(std::uint64_t bits);

private:
    char buf_[max_length];
    std::size_t len_ = 0;
};

// A fast per-thread generator for request ids (splitmix64 over a random seed). Not for secrets.
class id_generator {
public:
    explicit id_generator(std::uint64_t seed) : state_(seed) {}
    static id_generator seeded();  // from std::random_device
    std::uint64_t operator()();

private:
    std::uint64_t state_;
};

}  // namespace edged::lifecycle

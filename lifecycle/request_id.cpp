#include "lifecycle/request_id.hpp"

#include <algorithm>
#include <random>

namespace edged::lifecycle {

bool request_id::is_safe(std::string_view candidate) {
    if (candidate.empty() || candidate.size() > max_length) return false;
    return std::all_of(candidate.begin(), candidate.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == ':';
    });
}

void request_id::set(std::string_view value) {
    len_ = std::min(value.size(), max_length);
    std::copy_n(value.data(), len_, buf_);
}

void request_id::set_generated(std::uint64_t bits) {
    static constexpr char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {
        buf_[i] = digits[bits & 0xf];
        bits >>= 4;
    }
    len_ = 16;
}

id_generator id_generator::seeded() {
    std::random_device rd;
    return id_generator((std::uint64_t{rd()} << 32) ^ rd());
}

std::uint64_t id_generator::operator()() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace edged::lifecycle

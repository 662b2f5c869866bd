// Durations and sizes as written in the config file: "250ms", "30s", "16KiB", "1MiB".
//
// The grammar is deliberately narrow (an unsigned integer, then one unit, no spaces, no
// fractions): a value either means exactly one thing or is rejected, so "1.5s" or "10 KB" never
// silently becomes something the operator did not intend.

#include <charconv>
#include <cstdint>
#include <limits>

#include "config/config.hpp"

namespace edged::config {

namespace {

struct unit {
    std::string_view suffix;
    std::uint64_t factor;
};

// Largest first: format_* picks the first unit that divides the value exactly.
constexpr unit duration_units[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};
constexpr unit size_units[] = {
    {"GiB", 1024ull * 1024 * 1024}, {"MiB", 1024ull * 1024}, {"KiB", 1024}, {"B", 1}};

// Splits "123unit" into its number and unit; nullopt when there is no leading digit or the
// number does not fit in 64 bits.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
    if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{}) return std::nullopt;
    return std::pair{value, text.substr(static_cast<std::size_t>(end - text.data()))};
}

// value * factor when it stays at or below `max`.
std::optional<std::uint64_t> scale(std::uint64_t value, std::uint64_t factor, std::uint64_t max) {
    if (value > max / factor) return std::nullopt;
    return value * factor;
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
    auto parts = split_number(text);
    if (!parts) return std::nullopt;
    auto [value, suffix] = *parts;
    // A bare number is only unambiguous when it is zero.
    if (suffix.empty()) return value == 0 ? std::optional<duration>{0ms} : std::nullopt;
    for (const auto& u : duration_units) {
        if (u.suffix != suffix) continue;
        auto ms = scale(value, u.factor,
                        static_cast<std::uint64_t>(std::numeric_limits<duration::rep>::max()));
        if (!ms) return std::nullopt;
        return duration{static_cast<duration::rep>(*ms)};
    }
    return std::nullopt;
}

std::optional<std::size_t> parse_size(std::string_view text) {
    auto parts = split_number(text);
    if (!parts) return std::nullopt;
    auto [value, suffix] = *parts;
    if (suffix.empty()) suffix = "B";
    for (const auto& u : size_units) {
        if (u.suffix != suffix) continue;
        auto bytes = scale(value, u.factor, std::numeric_limits<std::size_t>::max());
        if (!bytes) return std::nullopt;
        return static_cast<std::size_t>(*bytes);
    }
    return std::nullopt;
}

std::string format_duration(duration d) {
    if (d.count() == 0) return "0s";
    // Negative durations never come out of the loader; print them in ms rather than guess.
    if (d.count() < 0) return std::to_string(d.count()) + "ms";
    const auto ms = static_cast<std::uint64_t>(d.count());
    for (const auto& u : duration_units) {
        if (ms % u.factor == 0) return std::to_string(ms / u.factor) + std::string(u.suffix);
    }
    return std::to_string(ms) + "ms";  // unreachable: the last unit divides everything
}

std::string format_size(std::size_t bytes) {
    if (bytes == 0) return "0B";
    for (const auto& u : size_units) {
        if (bytes % u.factor == 0) return std::to_string(bytes / u.factor) + std::string(u.suffix);
    }
    return std::to_string(bytes) + "B";  // unreachable: the last unit divides everything
}

}  // namespace edged::config

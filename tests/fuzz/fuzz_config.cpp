// libFuzzer target: the config loader (config/) on any text, read as YAML and as JSON. Bad input
// must end in an exception the daemon reports (std::exception), never a crash, a hang or a leak.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (auto fmt : {edged::config::format::yaml, edged::config::format::json}) {
        try {
            (void)edged::config::load_string(text, fmt, "/nonexistent-fuzz-dir");
        } catch (const std::exception&) {
        }
    }
    return 0;
}

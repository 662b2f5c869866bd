// libFuzzer target: the request reader on its own (server/http/request_reader.*), bytes in,
// verdicts out, no socket. The first input byte picks how the rest arrives: in pieces of 1 to
// 64 bytes, as a slow or fragmented client sends them. What the reader makes of the bytes must
// not depend on that: the requests it completes (method, target, body), the streamed bodies it
// gives block by block (targets under /stream), and the status it refuses with must be the same
// as when everything arrives at once. (Of a streamed body that fails, only the failure: the
// blocks given before it depend on what had arrived, as they do for any stream.) header_bytes is
// above any input here: the bound on an unfinished chunk line or trailer section is checked
// while it is unfinished, so a long one is refused when it trickles in and read when it comes in
// one piece; that bound depends on arrival by design (README, "HTTP behaviour"). The session's
// fuzzer (fuzz_request) and the unit tests cover the limits. Beyond that: a
// refusal carries one of the front door's statuses, no body is over body_bytes, and no block is
// empty unless the body ended. A difference, like an ASan or UBSan report or a leak, is a crash.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "server/http/request_reader.hpp"

namespace {

using namespace edged;
using namespace edged::server;
using verdict = request_reader::verdict;

class routes final : public body_router {
public:
    bool streams_body(std::string_view, std::string_view path, std::string_view) const override {
        return path.starts_with("/stream");
    }
};

constexpr std::size_t body_bytes = 8 * 1024;

// What the reader made of `input` arriving `piece` bytes at a time (0: all at once).
std::string read_all(std::string_view input, std::size_t piece) {
    config::limits_config limits;
    limits.header_bytes = 1 << 20;
    limits.body_bytes = body_bytes;
    routes r;
    request_reader reader(limits, r);
    beast::flat_buffer in;
    std::string out, block(512, '\0');
    std::size_t fed = 0;
    const auto feed = [&] {  // false: nothing left to give
        if (fed == input.size()) return false;
        const std::size_t n = piece == 0 ? input.size() : std::min(piece, input.size() - fed);
        auto b = in.prepare(n);
        std::memcpy(b.data(), input.data() + fed, n);
        in.commit(n);
        fed += n;
        return true;
    };
    feed();
    for (;;) {
        const verdict v = reader.parse(in, "fuzz");
        if (v == verdict::need_more) {
            if (!feed()) break;
            continue;
        }
        if (v == verdict::failed) {
            const unsigned s = reader.status();
            if (s != 400 && s != 413 && s != 417 && s != 431 && s != 505) __builtin_trap();
            out += "refused " + std::to_string(s) + "\n";
            break;
        }
        const auto& req = reader.request();
        out += std::string(req.method_string()) + " " + std::string(req.target()) + "\n";
        if (v == verdict::complete) {
            if (req.body().size() > body_bytes) __builtin_trap();
            out += "body " + req.body() + "\n";
        } else {
            reader.begin_streamed_body();
            std::string body;
            bool ended = false, failed = false;
            for (;;) {
                const auto got = reader.pull(in, block);
                if (got.status != 0) {
                    out += "body refused " + std::to_string(got.status) + "\n";
                    failed = true;
                    break;
                }
                if (got.ended) {
                    ended = true;
                    break;
                }
                if (got.need_more()) {
                    if (!feed()) break;
                    continue;
                }
                body.append(block, 0, got.bytes);
            }
            if (body.size() > body_bytes) __builtin_trap();
            if (!failed) out += "streamed " + body + (ended ? " (end)\n" : "\n");
            if (failed || !ended) break;
        }
        reader.next_request();
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t piece = 1 + data[0] % 64;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    if (read_all(input, piece) != read_all(input, 0)) __builtin_trap();
    return 0;
}

#include "server/compress/codec.hpp"

#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <memory>

namespace edged::server {
namespace {

constexpr std::size_t block = 64 * 1024;

std::string gzip(std::string_view data, int level, const std::stop_token& stop) {
    z_stream zs{};
    // windowBits 15 + 16: a gzip wrapper (RFC 1952), not zlib's.
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("gzip: deflateInit2 failed");
    std::unique_ptr<z_stream, decltype(&deflateEnd)> guard(&zs, &deflateEnd);
    // deflateBound for the whole body: the output nearly always fits; it grows if not.
    std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
    std::size_t offset = 0;
    for (;;) {
        if (stop.stop_requested()) throw encode_stopped();
        const std::size_t n = std::min(block, data.size() - offset);
        const bool last = offset + n == data.size();
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + offset));
        zs.avail_in = static_cast<uInt>(n);
        for (;;) {
            if (zs.total_out == out.size()) out.resize(out.size() * 2 + 1024);
            zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
            zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
            const int rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
            if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
            if (last ? rc == Z_STREAM_END : zs.avail_in == 0 && zs.avail_out != 0) break;
        }
        offset += n;
        if (last) break;
    }
    out.resize(zs.total_out);
    return out;
}

std::string brotli(std::string_view data, int quality, const std::stop_token& stop) {
    std::unique_ptr<BrotliEncoderState, decltype(&BrotliEncoderDestroyInstance)> state(
        BrotliEncoderCreateInstance(nullptr, nullptr, nullptr), &BrotliEncoderDestroyInstance);
    if (!state) throw std::runtime_error("br: BrotliEncoderCreateInstance failed");
    BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_QUALITY,
                              static_cast<std::uint32_t>(quality));
    BrotliEncoderSetParameter(
        state.get(), BROTLI_PARAM_SIZE_HINT,
        static_cast<std::uint32_t>(std::min<std::size_t>(data.size(), 1u << 30)));
    std::string out;
    out.reserve(data.size() / 4 + 1024);
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(data.data());
    std::size_t offset = 0;
    for (;;) {
        if (stop.stop_requested()) throw encode_stopped();
        const std::size_t n = std::min(block, data.size() - offset);
        std::size_t avail_in = n;
        const bool last = offset + n == data.size();
        const auto op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
        // Feed the block, and take what the encoder has made, until it holds no more input (and,
        // on the last block, until it is finished).
        for (;;) {
            std::size_t avail_out = 0;
            if (!BrotliEncoderCompressStream(state.get(), op, &avail_in, &next_in, &avail_out,
                                             nullptr, nullptr))
                throw std::runtime_error("br: BrotliEncoderCompressStream failed");
            std::size_t size = 0;
            const std::uint8_t* made = BrotliEncoderTakeOutput(state.get(), &size);
            out.append(reinterpret_cast<const char*>(made), size);
            if (last ? BrotliEncoderIsFinished(state.get()) != 0
                     : avail_in == 0 && BrotliEncoderHasMoreOutput(state.get()) == 0)
                break;
        }
        offset += n;
        if (last) return out;
    }
}

}  // namespace

struct stream_encoder::state {
    bool gzip = false;
    z_stream zs{};
    BrotliEncoderState* br = nullptr;
    ~state() {
        if (gzip) deflateEnd(&zs);
        if (br) BrotliEncoderDestroyInstance(br);
    }
};

stream_encoder::stream_encoder(std::string_view coding, int level) : s_(std::make_unique<state>()) {
    if (coding == "gzip") {
        if (deflateInit2(&s_->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw std::runtime_error("gzip: deflateInit2 failed");
        s_->gzip = true;
    } else if (coding == "br") {
        s_->br = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
        if (!s_->br) throw std::runtime_error("br: BrotliEncoderCreateInstance failed");
        BrotliEncoderSetParameter(s_->br, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(level));
    } else {
        throw std::invalid_argument("unknown content coding " + std::string(coding));
    }
}

stream_encoder::~stream_encoder() = default;

std::string stream_encoder::feed(std::string_view data, bool last) {
    std::string out;
    if (s_->gzip) {
        z_stream& zs = s_->zs;
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
        zs.avail_in = static_cast<uInt>(data.size());
        char chunk[16 * 1024];
        for (;;) {
            zs.next_out = reinterpret_cast<Bytef*>(chunk);
            zs.avail_out = sizeof chunk;
            const int rc = deflate(&zs, last ? Z_FINISH : Z_SYNC_FLUSH);
            if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
            out.append(chunk, sizeof chunk - zs.avail_out);
            // Done when the flush fit with room to spare (or, for the last, the stream ended).
            if (last ? rc == Z_STREAM_END : zs.avail_out != 0) break;
        }
        return out;
    }
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(data.data());
    std::size_t avail_in = data.size();
    const auto op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
    for (;;) {
        std::size_t avail_out = 0;
        if (!BrotliEncoderCompressStream(s_->br, op, &avail_in, &next_in, &avail_out, nullptr,
                                         nullptr))
            throw std::runtime_error("br: BrotliEncoderCompressStream failed");
        std::size_t size = 0;
        const std::uint8_t* made = BrotliEncoderTakeOutput(s_->br, &size);
        out.append(reinterpret_cast<const char*>(made), size);
        if (last ? BrotliEncoderIsFinished(s_->br) != 0
                 : avail_in == 0 && BrotliEncoderHasMoreOutput(s_->br) == 0)
            break;
    }
    return out;
}

std::string encode(std::string_view coding, std::string_view data, int level,
                   std::stop_token stop) {
    if (coding == "gzip") return gzip(data, level, stop);
    if (coding == "br") return brotli(data, level, stop);
    throw std::invalid_argument("unknown content coding " + std::string(coding));
}

}  // namespace edged::server

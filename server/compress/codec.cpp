#include "server/compress/codec.hpp"

#include <brotli/encode.h>
#include <zlib.h>

#include <stdexcept>

namespace edged::server {
namespace {

std::string gzip(std::string_view data, int level) {
    z_stream zs{};
    // windowBits 15 + 16: a gzip wrapper (RFC 1952), not zlib's.
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("gzip: deflateInit2 failed");
    std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    const auto written = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
    out.resize(written);
    return out;
}

std::string brotli(std::string_view data, int quality) {
    std::size_t size = BrotliEncoderMaxCompressedSize(data.size());
    if (size == 0) size = data.size() + 1024;
    std::string out(size, '\0');
    if (!BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, data.size(),
                               reinterpret_cast<const std::uint8_t*>(data.data()), &size,
                               reinterpret_cast<std::uint8_t*>(out.data())))
        throw std::runtime_error("br: BrotliEncoderCompress failed");
    out.resize(size);
    return out;
}

}  // namespace

std::string encode(std::string_view coding, std::string_view data, int level) {
    if (coding == "gzip") return gzip(data, level);
    if (coding == "br") return brotli(data, level);
    throw std::invalid_argument("unknown content coding " + std::string(coding));
}

}  // namespace edged::server

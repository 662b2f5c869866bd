#pragma once
// The content codings edged produces, by the reference libraries: gzip (zlib) and br (Brotli).

#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>

namespace edged::server {

// Thrown by encode() when its stop token fired before the body was done.
struct encode_stopped : std::runtime_error {
    encode_stopped() : std::runtime_error("compression stopped") {}
};

// `coding` is "gzip" or "br"; `level` is zlib's 1..9 or Brotli's quality 0..11. The body is fed
// to the library in blocks of 64 KiB, and `stop` is checked between blocks (encode_stopped), so
// a cancelled pool item ends within one block. Throws std::runtime_error when the library fails
// (out of memory).
std::string encode(std::string_view coding, std::string_view data, int level,
                   std::stop_token stop = {});

}  // namespace edged::server

#pragma once
// The content codings edged produces, by the reference libraries: gzip (zlib) and br (Brotli).

#include <string>
#include <string_view>

namespace edged::server {

// `coding` is "gzip" or "br"; `level` is zlib's 1..9 or Brotli's quality 0..11. Throws
// std::runtime_error when the library fails (out of memory).
std::string encode(std::string_view coding, std::string_view data, int level);

}  // namespace edged::server

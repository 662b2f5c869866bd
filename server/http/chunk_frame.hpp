#pragma once
// One block of a body written with the chunked transfer coding (RFC 9112 §7.1): chunk-size CRLF
// chunk-data CRLF, the size in hex; an empty block is the last chunk ("0" CRLF CRLF, no
// trailers). The session's streamed responses and the upstream client's streamed request bodies
// frame their blocks here. Not chunked: the block alone.

#include <array>
#include <charconv>
#include <string_view>

#include "server/net.hpp"

namespace edged::server {

class chunk_frame {
public:
    explicit chunk_frame(std::string_view block, bool chunked = true) : block_(block) {
        if (!chunked) return;
        auto [end, ec] = std::to_chars(size_, size_ + sizeof size_ - 2, block.size(), 16);
        *end++ = '\r';
        *end++ = '\n';
        size_len_ = static_cast<std::size_t>(end - size_);
    }
    chunk_frame(const chunk_frame&) = delete;  // buffers() points into it
    chunk_frame& operator=(const chunk_frame&) = delete;

    // Valid while this object lives.
    std::array<net::const_buffer, 3> buffers() const {
        return {net::buffer(size_, size_len_), net::buffer(block_),
                net::buffer(crlf_, size_len_ > 0 ? 2 : 0)};
    }

private:
    static constexpr char crlf_[] = "\r\n";
    char size_[20];  // 16 hex digits and CRLF at most
    std::size_t size_len_ = 0;
    std::string_view block_;
};

}  // namespace edged::server

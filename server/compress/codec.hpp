#pragma once
// The content codings edged produces, by the reference libraries: gzip (zlib) and br (Brotli).

#include <memory>
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

// One body compressed as it streams: each feed() compresses its block and flushes the coder
// (zlib's Z_SYNC_FLUSH, Brotli's BROTLI_OPERATION_FLUSH), so everything fed so far can be decoded
// by the client at once (an event stream's events arrive one by one); the `last` feed ends the
// stream. Not thread-safe: one feed at a time (the pool runs them one after another).
class stream_encoder {
public:
    stream_encoder(std::string_view coding, int level);
    ~stream_encoder();
    std::string feed(std::string_view data, bool last);

private:
    struct state;
    std::unique_ptr<state> s_;
};

}  // namespace edged::server

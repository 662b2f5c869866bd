#pragma once
// The value of the Date header, formatted at most once per second per thread.

#include <ctime>
#include <string_view>

namespace edged::server {

class http_date {
public:
    // "Sun, 06 Nov 1994 08:49:37 GMT" for the current second.
    std::string_view now() {
        std::time_t t = std::time(nullptr);
        if (t != cached_) refresh(t);
        return {buf_, 29};
    }

private:
    void refresh(std::time_t t);
    std::time_t cached_ = -1;
    char buf_[32] = {};
};

}  // namespace edged::server

#pragma once
// Errors the handler API reports to its callers (wait_until, fetch).

#include <system_error>

namespace edged::lifecycle {

enum class errc {
    wait_until_overflow = 1,  // more than lifecycle.max_wait_until tasks for this request
    background_full,          // lifecycle.max_background_tasks tasks already running
    subrequest_overflow,      // more than lifecycle.max_subrequests for this request
    lifecycle_closed,         // the request's lifecycle has already closed
    unknown_upstream,
    upstream_busy,  // no upstream connection came free within the upstream's timeout
};

const std::error_category& lifecycle_category();
inline std::error_code make_error_code(errc e) {
    return {static_cast<int>(e), lifecycle_category()};
}

}  // namespace edged::lifecycle

template <>
struct std::is_error_code_enum<edged::lifecycle::errc> : std::true_type {};

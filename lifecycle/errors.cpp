#include "lifecycle/errors.hpp"

#include <string>

namespace edged::lifecycle {
namespace {
class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "edged.lifecycle"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::wait_until_overflow:
                return "too many wait_until tasks for this request";
            case errc::background_full:
                return "too many background tasks in the process";
            case errc::subrequest_overflow:
                return "too many subrequests for this request";
            case errc::lifecycle_closed:
                return "the request's lifecycle has closed";
            case errc::unknown_upstream:
                return "unknown upstream";
            case errc::upstream_busy:
                return "no upstream connection free within the timeout (max_connections reached)";
        }
        return "unknown lifecycle error";
    }
};
}  // namespace

const std::error_category& lifecycle_category() {
    static const category c;
    return c;
}

}  // namespace edged::lifecycle

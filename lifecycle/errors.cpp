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
            case errc::no_healthy_upstream:
                return "no healthy upstream address (all ejected or failing their health check)";
            case errc::no_worker_pool:
                return "no worker pool to offload to";
            case errc::offload_rejected:
                return "the worker pool's queue is full";
            case errc::offload_cancelled:
                return "the offloaded work was cancelled";
            case errc::offload_queue_timeout:
                return "the offloaded work did not start within worker_pool.queue_timeout";
            case errc::offload_run_timeout:
                return "the offloaded work ran past worker_pool.run_timeout";
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

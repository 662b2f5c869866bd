#pragma once
// Active health checks (upstreams.*.health_check): on one I/O thread, every `interval`, a GET of
// `path` to each address an upstream's name resolves to, with `timeout`. A 2xx or 3xx answer
// passes. `unhealthy_threshold` failures in a row take the address out of rotation (every
// thread's picks skip it), `healthy_threshold` passes in a row bring it back; each change is
// logged. The checks also keep the name looked up on its resolve_interval while no request
// comes.
//
// A generation's checks end on their own once its tables are gone (a reload replaced it and
// its last request closed); stop() ends every check at once (shutdown).

#include <memory>
#include <vector>

#include "server/net.hpp"
#include "server/upstream/address_table.hpp"

namespace edged::server {

class health_checker {
public:
    explicit health_checker(net::io_context& ioc) : ioc_(ioc) {}
    // Starts the checks of the upstreams in `dir` that have a health_check path.
    void start(const address_directory& dir);
    // Ends every check in progress (its probe and its wait) at once.
    void stop();

    struct probe_state;  // a check's socket and timer, shared with stop()

private:
    net::io_context& ioc_;
    std::vector<std::weak_ptr<probe_state>> running_;
    bool stopped_ = false;
};

}  // namespace edged::server

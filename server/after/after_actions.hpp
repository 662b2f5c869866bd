#pragma once
// A route's `after:` actions, each registered as a wait_until task once the handler has produced
// its response: `http` (a call to an upstream, with a templated path, headers and body), `mirror`
// (the request replayed to an upstream, the answer ignored) and `log` (a structured event line).
//
// Templates are parsed once, at start-up, and unknown variables are errors that name the route.
// They are rendered when the action is registered, while the request still exists: the tasks
// carry copies, never references into the request. Values are JSON-escaped in JSON bodies, and
// CR/LF never reach a header line.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/context.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/message.hpp"
#include "server/after/text_template.hpp"
#include "server/net.hpp"

namespace edged::server {

class after_actions final : public lifecycle::response_hook {
public:
    // Throws std::invalid_argument (naming the action) for a bad template.
    explicit after_actions(const std::vector<config::after_action>& actions);
    ~after_actions();

    // Registers every action as a wait_until task of `ctx` (the lifecycle calls it once the
    // response exists). A registration the lifecycle refuses (over its bounds) is counted
    // there; the others go on.
    void on_response(lifecycle::context& ctx, const lifecycle::request& req,
                     const lifecycle::response& res,
                     std::chrono::microseconds handler_time) const override;

    // Some action copies the request body (a mirror): the route's handler then gets the body
    // whole, not streamed.
    bool reads_request_body() const { return reads_body_; }

    struct action;  // one configured action (defined in the .cpp)

private:
    std::vector<std::unique_ptr<action>> actions_;
    bool reads_body_ = false;
};

}  // namespace edged::server

#pragma once
// The seam between the HTTP session and the rest of edged (Beast's `handle_request`, grown up):
// the session parses a request and hands it over; the dispatcher routes it, drives its lifecycle
// and gives the response back; the session serialises and writes it, then tells the dispatcher
// the batch is out. The session never touches a lifecycle; the dispatcher never touches a socket.
//
// Per request, in order: begin() (and, when it returns nothing, respond_async()), then flushed()
// once the response has left (or the write failed). An exchange the session drops without
// flushed() (its connection died first) ends its lifecycle without a flush: the request's tasks
// still run, under a budget counted from then.

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "lifecycle/message.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "server/http/request_target.hpp"
#include "server/net.hpp"

namespace edged::server {

struct route;  // server/router.hpp: the session only carries the pointer

// One request from its dispatch to the flush of its response. The session keeps exchanges in
// response order and reuses them; what they hold is the dispatcher's business.
struct exchange {
    lifecycle::lifecycle_pool::handle lc;  // the request's lifecycle
    const route* matched = nullptr;        // null when no route answered (400, 404, 405)
    std::string_view request_id;           // echoed as X-Request-Id; lives as long as `lc`
    bool close = false;                    // the response must end the connection
    unsigned status = 0;                   // set by the session when it serialises
    std::size_t bytes = 0;                 // body bytes, likewise
    bool logged = false;                   // an access log line is due (log.access when it began)
    std::uint32_t fields = 0;              // which fields it carries (log.access_fields, a mask)
    std::string method, path;              // for the access log (copied only when it is on)
    std::string query, host, user_agent, referer;  // likewise, when log.access_fields name them
    std::size_t bytes_received =
        0;  // the request body's bytes, likewise (a streamed one: the session)
};

// What the session hands over once a request (head and body) is complete.
struct inbound {
    const lifecycle::request& req;
    const request_target* target;  // normalised; null when the target is malformed (400)
    std::string_view host;         // normalised (lower case, no port)
    std::string_view request_id;   // the one incoming X-Request-Id, "" when none or several
    std::string_view traceparent;  // the first incoming traceparent, or ""
    std::string_view peer;         // the connection's peer address, as text
    net::ip::address peer_ip;      // the same
    std::chrono::steady_clock::time_point received;  // when the request head was complete
    // The body as it arrives, when the route streams it (dispatcher::streams_body): req.body()
    // is then empty.
    std::shared_ptr<lifecycle::body_source> body = nullptr;
};

// What the request reader asks of the routes: whether the route this request goes to takes its
// body as it arrives. Then the session dispatches it at the end of its head, with inbound::body
// to pull from. Asked only of requests with a body.
class body_router {
public:
    virtual bool streams_body(std::string_view host, std::string_view path,
                              std::string_view method) const = 0;

protected:
    ~body_router() = default;
};

class dispatcher : public body_router {
public:
    // Routes the request and begins its lifecycle with everything it brings. Returns the
    // response, or nullopt when the route's handler is asynchronous: then await respond_async().
    virtual std::optional<lifecycle::response> begin(exchange& ex, const inbound& in) = 0;
    virtual net::awaitable<lifecycle::response> respond_async(exchange& ex,
                                                              const lifecycle::request& req) = 0;
    // The responses of `batch` were handed to the kernel at `handed` (`ec` clear) or their
    // write failed: their lifecycles learn it, the access log gets a line each, and each
    // exchange lets go of its lifecycle. `handed` is read just before the system call that
    // wrote the batch's last bytes: the clock is not read after it, as the call itself may be
    // preempted by the client it wakes (on loopback that client can get the response, and even
    // finish, before the call returns).
    virtual void flushed(std::span<exchange> batch, error_code ec, std::string_view peer,
                         std::chrono::steady_clock::time_point handed) = 0;
    // The connection was closed under `ex` (the shutdown grace ran out): a handler still running
    // for it is cancelled, with its subrequests and offloaded work, as nobody will read its
    // answer. Does nothing for an exchange not begun or already answered.
    virtual void cancel(exchange& ex) = 0;

protected:
    ~dispatcher() = default;
};

}  // namespace edged::server

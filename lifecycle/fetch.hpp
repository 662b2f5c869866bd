#pragma once
// Subrequests as the handler API sees them: ctx.fetch(upstream, request). The lifecycle counts
// them against lifecycle.max_subrequests; the transport (server/upstream.*) stays behind this
// interface, so lifecycle/ knows nothing of sockets.
//
// A subrequest is awaited by the handler or task that started it, so cancelling that task (budget,
// shutdown) aborts the subrequest and closes its connection.

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "lifecycle/message.hpp"

namespace edged::lifecycle {

using upstream_response = boost::beast::http::response<boost::beast::http::string_body>;

struct fetch_result {
    std::error_code ec;      // lifecycle errors (errc) or transport errors
    bool timed_out = false;  // the upstream's timeout ran out
    bool connect_failed = false;
    upstream_response response;
};

// A subrequest whose response body is streamed: the head, and the body as a source the caller
// pulls block by block (a proxied download reaches the client as it arrives).
struct stream_options {
    std::optional<std::uint64_t> max_body;  // a longer body ends with an error; none: no limit
    std::size_t block = 64 * 1024;          // the body is read this much at a time
    unsigned retries = 0;  // idempotent requests, before any response byte (see the README)
    // The request body, streamed as it is pulled (instead of req.body()): sent with its length
    // when it has one, else chunked. A request is not sent again once a block of it has gone.
    std::shared_ptr<body_source> body;
};
struct stream_result {
    std::error_code ec;
    bool timed_out = false;
    bool connect_failed = false;
    bool unavailable = false;  // no healthy address (errc::no_healthy_upstream)
    bool body_failed = false;  // the streamed request body failed (the client's side)
    boost::beast::http::response_header<> head;
    std::shared_ptr<body_source> body;  // set when ec is clear (ends at once when bodiless)
};

class fetcher {
public:
    virtual boost::asio::awaitable<fetch_result> fetch(std::string_view upstream, request req,
                                                       std::size_t max_body) = 0;
    virtual boost::asio::awaitable<stream_result> open(std::string_view upstream,
                                                       const request& req, stream_options opts) = 0;
    // A subrequest to `upstream` the lifecycle refused (lifecycle.max_subrequests): counted
    // with the upstream's other outcomes.
    virtual void count_rejected(std::string_view upstream) noexcept {}

protected:
    ~fetcher() = default;
};

}  // namespace edged::lifecycle

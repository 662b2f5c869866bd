#pragma once
// Namespace aliases used throughout server/.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace edged::server {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
// The completion token of edged's coroutines: an operation's error comes back as a value (a
// tuple with the results), never as an exception (no exception escapes a connection loop).
inline constexpr auto token = net::as_tuple(net::use_awaitable);
}  // namespace edged::server

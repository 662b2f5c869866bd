#pragma once
// Why the session itself ended a connection while a response was on its way. The write (or the
// streamed body's wait) that was pending then fails with whatever the close left it (EBADF,
// ECANCELED, a cancelled source); the session reports this cause instead, so the access log's
// `error` says what happened to the response.

#include <string>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace edged::server {

enum class connection_error {
    shutdown_grace = 1,  // the shutdown's grace ran out (session::close_now)
    write_timeout,       // the client read nothing for server.timeouts.write
};

const boost::system::error_category& connection_category() noexcept;

inline boost::system::error_code make_error_code(connection_error e) noexcept {
    return {static_cast<int>(e), connection_category()};
}

}  // namespace edged::server

template <>
struct boost::system::is_error_code_enum<edged::server::connection_error> : std::true_type {};

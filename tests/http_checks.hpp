#pragma once
// Test support: checks on raw HTTP exchanges shared by the session and front-door tests.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "harness.hpp"

namespace edged::test {

// Sends `bytes` on a fresh connection; expects one response with `status`, then a closed
// connection.
inline void expect_rejected(std::uint16_t port, const std::string& bytes, unsigned status) {
    INFO("request: " << bytes);
    raw_client c(port);
    c.send(bytes);
    auto res = c.read();
    CHECK(res.result_int() == status);
    CHECK(res[http::field::connection] == "close");
    CHECK(c.closed_by_peer());
}

}  // namespace edged::test

#pragma once
// Precompiled header for the server/ libraries and their tests: the expensive includes, parsed
// once (built by server/pch.cpp, reused by every target with REUSE_FROM).
#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

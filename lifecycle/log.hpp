#pragma once
// Structured logging: one JSON object per line on stdout, through spdlog.
//
// An `event` builds the fields of one line; `emit` adds the request id of the request the calling
// thread is serving (see context.hpp, current_context()), so code that runs on behalf of a
// request never passes its id around. Two loggers share one sink: `events` (flushed at once, for
// operators and tests reading start-up and shutdown lines) and `access` (flushed every second,
// so a busy server does not pay a write(2) per request).

#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

namespace edged::lifecycle::log {

// Sets up both loggers on stdout. `level` is a config level name (trace .. off).
void init(std::string_view level);
// The loggers; init() must have run (tests call init too).
spdlog::logger& events();
spdlog::logger& access();
void flush();

// Logs the exception a coroutine ended with (nothing when `e` is null) as an error line `what`
// with its message: the completion of every co_spawn whose failure matters.
void failure(std::string_view what, std::exception_ptr e);
// A co_spawn completion handler that does only that. `what` must outlive it (a literal).
inline auto on_failure(std::string_view what) {
    return [what](std::exception_ptr e) { failure(what, e); };
}

// Appends `s` to `out` escaped for the inside of a JSON string.
void append_escaped(fmt::memory_buffer& out, std::string_view s);

class event {
public:
    explicit event(std::string_view msg);
    event& str(std::string_view key, std::string_view value);
    event& num(std::string_view key, std::int64_t value);
    event& unum(std::string_view key, std::uint64_t value);
    event& boolean(std::string_view key, bool value);
    // Adds "request_id" explicitly (otherwise emit() takes the current request's, if any).
    event& request_id(std::string_view id);

    void emit(spdlog::level::level_enum level);
    void emit_to(spdlog::logger& logger, spdlog::level::level_enum level);
    void info() { emit(spdlog::level::info); }
    void warn() { emit(spdlog::level::warn); }
    void error() { emit(spdlog::level::err); }
    void debug() { emit(spdlog::level::debug); }

private:
    void key(std::string_view k);
    fmt::memory_buffer buf_;
    bool has_request_id_ = false;
};

}  // namespace edged::lifecycle::log

#include "lifecycle/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "lifecycle/context.hpp"
#include "lifecycle/json_escape.hpp"

namespace edged::lifecycle::log {
namespace {

struct loggers {
    std::shared_ptr<spdlog::logger> events;
    std::shared_ptr<spdlog::logger> access;
};

loggers& instance() {
    static loggers l = [] {
        auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
        // Each line is a complete JSON object; %v is the pre-escaped field list.
        sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
            R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc));
        loggers r{std::make_shared<spdlog::logger>("edged", sink),
                  std::make_shared<spdlog::logger>("access", sink)};
        r.events->flush_on(spdlog::level::trace);
        r.access->flush_on(spdlog::level::off);
        return r;
    }();
    return l;
}

}  // namespace

void init(std::string_view level) {
    auto lvl = spdlog::level::from_str(std::string(level));
    instance().events->set_level(lvl);
    // The access log is not an event log: log.access alone turns it on or off (a warn level
    // for events must not silence it).
    instance().access->set_level(spdlog::level::trace);
    static bool flusher_started = false;
    if (!flusher_started) {
        flusher_started = true;
        spdlog::flush_every(std::chrono::seconds(1));
        spdlog::register_logger(instance().access);
    }
}

spdlog::logger& events() {
    return *instance().events;
}
spdlog::logger& access() {
    return *instance().access;
}
void flush() {
    instance().access->flush();
    instance().events->flush();
}

void append_escaped(fmt::memory_buffer& out, std::string_view s) {
    append_json_escaped(out, s);
}

event::event(std::string_view msg) {
    buf_.append(std::string_view("\"msg\":\""));
    append_escaped(buf_, msg);
    buf_.push_back('"');
}

void event::key(std::string_view k) {
    buf_.append(std::string_view(",\""));
    buf_.append(k);
    buf_.append(std::string_view("\":"));
}

event& event::str(std::string_view k, std::string_view value) {
    key(k);
    buf_.push_back('"');
    append_escaped(buf_, value);
    buf_.push_back('"');
    return *this;
}

event& event::num(std::string_view k, std::int64_t value) {
    key(k);
    fmt::format_to(std::back_inserter(buf_), "{}", value);
    return *this;
}

event& event::unum(std::string_view k, std::uint64_t value) {
    key(k);
    fmt::format_to(std::back_inserter(buf_), "{}", value);
    return *this;
}

event& event::boolean(std::string_view k, bool value) {
    key(k);
    buf_.append(value ? std::string_view("true") : std::string_view("false"));
    return *this;
}

event& event::request_id(std::string_view id) {
    has_request_id_ = true;
    return str("request_id", id);
}

void event::emit(spdlog::level::level_enum level) {
    emit_to(events(), level);
}

void event::emit_to(spdlog::logger& logger, spdlog::level::level_enum level) {
    if (!logger.should_log(level)) return;
    if (!has_request_id_) {
        if (const context* ctx = current_context()) request_id(ctx->id());
    }
    logger.log(level, spdlog::string_view_t(buf_.data(), buf_.size()));
}

void failure(std::string_view what, std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        event(what).str("error", ex.what()).error();
    } catch (...) {
        event(what).str("error", "unknown exception").error();
    }
}

}  // namespace edged::lifecycle::log

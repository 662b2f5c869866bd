#pragma once
// Test support: the lines edged's event logger writes while one of these lives, as text.

#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>
#include <string>

#include "lifecycle/log.hpp"

namespace edged::test {

class log_capture {
public:
    log_capture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
        sink_->set_pattern("%v");
        lifecycle::log::events().sinks().push_back(sink_);
        lifecycle::log::events().set_level(spdlog::level::info);
    }
    ~log_capture() { stop(); }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;

    // Stops capturing (the destructor does it too).
    void stop() {
        auto& sinks = lifecycle::log::events().sinks();
        if (!sinks.empty() && sinks.back() == sink_) sinks.pop_back();
    }
    std::string text() const { return out_.str(); }

private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace edged::test

#pragma once
// An async job as the stores keep it and the status API shows it.
//
// A job moves pending -> running -> succeeded | failed | cancelled, or pending -> cancelled; a
// finished state never changes again (the stores refuse the write). Ids are 128 bits from the
// kernel's CSPRNG as 32 lower-case hex digits: they cannot be guessed or enumerated, and
// anything else is not an id (404 without asking the store).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace edged::server::jobs {

enum class job_state { pending, running, succeeded, failed, cancelled };

std::string_view to_string(job_state s);
std::optional<job_state> parse_state(std::string_view s);
inline bool finished(job_state s) {
    return s == job_state::succeeded || s == job_state::failed || s == job_state::cancelled;
}

using wall_clock = std::chrono::system_clock;

// The upstream's answer, as kept: the body up to the route's result_bytes, as text when it is
// valid UTF-8, else base64.
struct job_result {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // UTF-8 text, or base64 when body_base64
    bool body_base64 = false;
    bool truncated = false;
};

struct job_record {
    std::string id;
    std::string route;
    job_state state = job_state::pending;
    wall_clock::time_point created_at{}, started_at{}, finished_at{};  // epoch = not yet
    std::optional<job_result> result;                                  // succeeded
    std::string error;                                                 // failed, cancelled: why
};

// 32 hex digits from getrandom(2). Throws std::system_error when the kernel cannot give them.
std::string new_job_id();
bool valid_job_id(std::string_view id);

// The status API's JSON (also how the Redis store keeps a record).
nlohmann::json to_json(const job_record& r);
// Throws nlohmann::json::exception or std::invalid_argument for a document to_json did not write.
job_record record_from_json(const nlohmann::json& j);

// Fills `out` from an upstream answer: body cut to `limit` bytes, text or base64.
job_result make_result(unsigned status, std::vector<std::pair<std::string, std::string>> headers,
                       std::string_view body, std::size_t limit);

bool valid_utf8(std::string_view s);
std::string base64(std::string_view bytes);
std::string base64_decode(std::string_view text);  // throws std::invalid_argument

}  // namespace edged::server::jobs

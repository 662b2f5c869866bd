#include "server/jobs/job.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace edged::server::jobs {

namespace {

constexpr std::array<std::string_view, 5> state_names = {"pending", "running", "succeeded",
                                                         "failed", "cancelled"};

// RFC 3339 in UTC with milliseconds; epoch (not yet) is null.
nlohmann::json timestamp(wall_clock::time_point t) {
    if (t == wall_clock::time_point{}) return nullptr;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    return buf;
}

wall_clock::time_point parse_timestamp(const nlohmann::json& j) {
    if (j.is_null()) return {};
    const std::string s = j.get<std::string>();
    std::tm tm{};
    int ms = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        throw std::invalid_argument("malformed timestamp " + s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return wall_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(ms);
}

constexpr std::string_view b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string_view to_string(job_state s) {
    return state_names[static_cast<std::size_t>(s)];
}

std::optional<job_state> parse_state(std::string_view s) {
    for (std::size_t i = 0; i < state_names.size(); ++i)
        if (state_names[i] == s) return static_cast<job_state>(i);
    return std::nullopt;
}

std::string new_job_id() {
    unsigned char bytes[16];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        got += static_cast<std::size_t>(n);
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (std::size_t i = 0; i < sizeof bytes; ++i) {
        id[2 * i] = hex[bytes[i] >> 4];
        id[2 * i + 1] = hex[bytes[i] & 0xf];
    }
    return id;
}

bool valid_job_id(std::string_view id) {
    if (id.size() != 32) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

nlohmann::json to_json(const job_record& r) {
    nlohmann::json j = {
        {"id", r.id},
        {"route", r.route},
        {"state", to_string(r.state)},
        {"created_at", timestamp(r.created_at)},
        {"started_at", timestamp(r.started_at)},
        {"finished_at", timestamp(r.finished_at)},
    };
    if (r.result) {
        nlohmann::json headers = nlohmann::json::array();
        for (const auto& [name, value] : r.result->headers) headers.push_back({name, value});
        j["result"] = {
            {"status", r.result->status},
            {"headers", std::move(headers)},
            {"body", r.result->body},
            {"body_encoding", r.result->body_base64 ? "base64" : "utf-8"},
            {"truncated", r.result->truncated},
        };
    }
    if (!r.error.empty()) j["error"] = r.error;
    return j;
}

job_record record_from_json(const nlohmann::json& j) {
    job_record r;
    r.id = j.at("id").get<std::string>();
    r.route = j.at("route").get<std::string>();
    auto state = parse_state(j.at("state").get<std::string>());
    if (!state) throw std::invalid_argument("unknown state");
    r.state = *state;
    r.created_at = parse_timestamp(j.at("created_at"));
    r.started_at = parse_timestamp(j.at("started_at"));
    r.finished_at = parse_timestamp(j.at("finished_at"));
    if (auto it = j.find("result"); it != j.end()) {
        job_result res;
        res.status = it->at("status").get<unsigned>();
        for (const auto& h : it->at("headers"))
            res.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
        res.body = it->at("body").get<std::string>();
        res.body_base64 = it->at("body_encoding").get<std::string>() == "base64";
        res.truncated = it->at("truncated").get<bool>();
        r.result = std::move(res);
    }
    if (auto it = j.find("error"); it != j.end()) r.error = it->get<std::string>();
    return r;
}

job_result make_result(unsigned status, std::vector<std::pair<std::string, std::string>> headers,
                       std::string_view body, std::size_t limit) {
    job_result out;
    out.status = status;
    out.headers = std::move(headers);
    out.truncated = body.size() > limit;
    std::string_view kept = body.substr(0, limit);
    // A cut inside a UTF-8 sequence would make text look binary: back off to its start.
    if (out.truncated && !valid_utf8(kept)) {
        std::size_t end = kept.size();
        for (int i = 0;
             i < 3 && end > 0 && (static_cast<unsigned char>(kept[end - 1]) & 0xC0) == 0x80; ++i)
            --end;
        if (end > 0 && static_cast<unsigned char>(kept[end - 1]) >= 0xC0) --end;
        if (valid_utf8(kept.substr(0, end))) kept = kept.substr(0, end);
    }
    if (valid_utf8(kept)) {
        out.body.assign(kept);
    } else {
        out.body = base64(kept);
        out.body_base64 = true;
    }
    return out;
}

bool valid_utf8(std::string_view s) {
    // RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t n = 0;
        std::uint32_t cp = 0, min = 0;
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size()) return false;
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

std::string base64(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16 |
                                static_cast<unsigned char>(bytes[i + 1]) << 8 |
                                static_cast<unsigned char>(bytes[i + 2]);
        out += b64[v >> 18];
        out += b64[(v >> 12) & 63];
        out += b64[(v >> 6) & 63];
        out += b64[v & 63];
    }
    if (i < bytes.size()) {
        std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        out += b64[v >> 18];
        out += b64[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? b64[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string base64_decode(std::string_view text) {
    if (text.size() % 4) throw std::invalid_argument("base64: length not a multiple of 4");
    std::string out;
    out.reserve(text.size() / 4 * 3);
    auto value = [](char c) -> int {
        auto p = b64.find(c);
        return p == std::string_view::npos ? -1 : static_cast<int>(p);
    };
    for (std::size_t i = 0; i < text.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = text[i + k];
            if (c == '=' && i + 4 == text.size() && k >= 2) {
                v[k] = 0;
                ++pad;
            } else if (pad || (v[k] = value(c)) < 0) {
                throw std::invalid_argument("base64: bad character");
            }
        }
        const std::uint32_t n = v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3];
        out += static_cast<char>(n >> 16);
        if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
        if (pad < 1) out += static_cast<char>(n & 0xFF);
    }
    return out;
}

}  // namespace edged::server::jobs

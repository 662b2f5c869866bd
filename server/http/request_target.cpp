#include "server/http/request_target.hpp"

#include <algorithm>

namespace edged::server {
namespace {

bool iequal_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

// A segment is "." or ".." also when its dots are written as %2e.
int dot_segment(std::string_view seg) {
    int dots = 0;
    for (std::size_t i = 0; i < seg.size();) {
        if (seg[i] == '.') {
            ++i;
        } else if (seg.size() - i >= 3 && seg[i] == '%' && seg[i + 1] == '2' &&
                   (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
            i += 3;
        } else {
            return 0;
        }
        if (++dots > 2) return 0;
    }
    return dots;
}

bool needs_normalising(std::string_view path) {
    for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        if (path[i] == '/' && (path[i + 1] == '.' || path[i + 1] == '%')) return true;
    }
    return false;
}

// Resolves dot segments of an absolute path into `out`. False when it climbs above the root.
bool normalise_path(std::string_view path, std::string& out) {
    out.clear();
    std::size_t pos = 1;  // path[0] == '/'
    out.push_back('/');
    while (pos <= path.size()) {
        std::size_t next = path.find('/', pos);
        if (next == std::string_view::npos) next = path.size();
        std::string_view seg = path.substr(pos, next - pos);
        const bool last = next == path.size();
        switch (dot_segment(seg)) {
            case 1:
                break;  // "." : drop
            case 2: {   // "..": drop the previous segment
                if (out.size() == 1) return false;
                out.pop_back();  // the trailing '/'
                out.erase(out.rfind('/') + 1);
                break;
            }
            default:
                out.append(seg);
                if (!last) out.push_back('/');
        }
        pos = next + 1;
    }
    return true;
}

}  // namespace

bool parse_target(std::string_view target, request_target& out, std::string& storage) {
    out = {};
    if (target == "*") {
        out.path = target;
        return true;
    }
    if (iequal_prefix(target, "http://") || iequal_prefix(target, "https://")) {
        std::size_t start = target.find("://") + 3;
        std::size_t end = target.find_first_of("/?", start);
        if (end == std::string_view::npos) end = target.size();
        out.authority = target.substr(start, end - start);
        if (out.authority.empty()) return false;
        target = target.substr(end);
        if (target.empty() || target.front() == '?') {
            // "http://host?q" has the path "/"
            out.query = target.empty() ? std::string_view{} : target.substr(1);
            out.path = "/";
            return true;
        }
    }
    if (target.empty() || target.front() != '/') return false;
    std::size_t q = target.find('?');
    std::string_view path = target.substr(0, q);
    if (q != std::string_view::npos) out.query = target.substr(q + 1);
    if (!needs_normalising(path)) {
        out.path = path;
        return true;
    }
    if (!normalise_path(path, storage)) return false;
    out.path = storage;
    return true;
}

std::string_view normalise_host(std::string_view host, std::string& storage) {
    std::string_view name = host;
    if (!name.empty() && name.front() == '[') {
        std::size_t close = name.find(']');
        if (close != std::string_view::npos) name = name.substr(0, close + 1);
    } else if (std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
        name = name.substr(0, colon);
    }
    storage.assign(name);
    std::transform(storage.begin(), storage.end(), storage.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return storage;
}

}  // namespace edged::server

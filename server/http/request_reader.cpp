#include "server/http/request_reader.hpp"

#include <cstring>

#include "lifecycle/log.hpp"
#include "server/http/header_text.hpp"

namespace edged::server {
namespace {

// Empty lines skipped before a request line (RFC 9112 §2.2 asks for at least one).
constexpr unsigned max_blank_lines = 8;

std::string_view view(const beast::flat_buffer& in) {
    return {static_cast<const char*>(in.data().data()), in.size()};
}

// Where a request header ends, and whether a line in it is folded.
struct header_scan {
    std::size_t length = 0;  // including the blank line; 0: the end is not here yet
    bool folded = false;     // obsolete line folding before the end
};

// One pass over the line ends. Beast itself rejects a bare CR or LF, NUL and other control
// characters, but accepts obsolete line folding (a line that starts with SP or HTAB continues the
// previous one) and joins the lines; a smuggling-safe server must refuse it (RFC 9112 §5.2).
header_scan scan_header(std::string_view data) {
    header_scan r;
    for (std::size_t lf = data.find('\n'); lf != std::string_view::npos && lf + 1 < data.size();
         lf = data.find('\n', lf + 1)) {
        const char next = data[lf + 1];
        if (next == ' ' || next == '\t') {
            r.folded = true;
        } else if (next == '\r' && lf + 2 < data.size() && data[lf + 2] == '\n') {
            r.length = lf + 3;
            break;
        }
    }
    return r;
}

// Beast accepts only HTTP/1.0 and 1.1 and reports any other version as malformed; a request
// line that ends in a well-formed "HTTP/d.d" deserves 505 rather than 400.
bool well_formed_version(std::string_view data) {
    std::string_view line = data.substr(0, data.find("\r\n"));
    if (line.size() < 9) return false;
    std::string_view v = line.substr(line.size() - 8);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return line[line.size() - 9] == ' ' && v.starts_with("HTTP/") && digit(v[5]) && v[6] == '.' &&
           digit(v[7]);
}

// A field name of letters, digits and '-' only. Others (an underscore, a dot) are valid tokens,
// but a backend that maps '-' and '_' to one (CGI, PHP, many frameworks) could read
// "Content_Length" or "Transfer_Encoding" as a framing header the proxy never saw as one.
bool plain_name(std::string_view name) {
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    return true;
}

}  // namespace

request_reader::request_reader(const config::limits_config& limits, const body_router& routes)
    : limits_(limits), routes_(routes) {}

request_reader::verdict request_reader::parse(beast::flat_buffer& in, std::string_view peer) {
    if (!header_done_) {
        // Skip empty lines before a request line (RFC 9112 §2.2), a few: a client that sends
        // nothing else would otherwise keep the connection open past every timeout.
        while (in.size() >= 2 && std::memcmp(in.data().data(), "\r\n", 2) == 0) {
            if (++blank_lines_ > max_blank_lines) return fail(400);
            in.consume(2);
        }
        if (in.size() == 0) return verdict::need_more;
        const header_scan scan =
            scan_header(view(in).substr(0, std::min(in.size(), limits_.header_bytes + 4)));
        if (scan.length == 0)
            return in.size() >= limits_.header_bytes ? fail(431) : verdict::need_more;
        // Too large before folded: a client that sends the head in pieces meets the size limit
        // before the head's end can show a fold, and the answer must not depend on the pieces.
        if (scan.length > limits_.header_bytes) return fail(431);
        if (scan.folded) return fail(400);
        head_at_ = clock::now();
        if (!parse_header(in, scan.length, peer)) return verdict::failed;

        bool continue_wanted = false;
        if (fields_.expect) {
            if (!iequals(trim_ows(*fields_.expect), "100-continue")) return fail(417);
            // Ask for the body only if it is not here yet and the client still waits for it.
            continue_wanted =
                !parser_->is_done() && in.size() == 0 && parser_->get().version() >= 11;
        }
        continue_owed_ = continue_wanted;
        // A malformed target is answered 400 once the body is in, as without streaming.
        if (!parser_->is_done() && target_ok() &&
            routes_.streams_body(host_, target_.path, parser_->get().method_string()))
            return verdict::streamed;
    }
    if (parser_->is_done()) return verdict::complete;
    if (in.size() == 0) return verdict::need_more;

    error_code ec;
    const std::size_t used = parser_->put(in.data(), ec);
    in.consume(used);
    if (ec == http::error::need_more)
        return chunk_framing_broken(in, !parser_->get().body().empty()) ? fail(400)
                                                                        : verdict::need_more;
    if (ec) return fail(ec == http::error::body_limit ? 413 : 400);
    return parser_->is_done() ? verdict::complete : verdict::need_more;
}

bool request_reader::parse_header(beast::flat_buffer& in, std::size_t header_len,
                                  std::string_view peer) {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.header_bytes));
    parser_->body_limit(limits_.body_bytes);
    parser_->eager(true);

    error_code ec;
    parser_->put(net::buffer(in.data().data(), header_len), ec);
    if (ec == http::error::need_more && parser_->is_header_done()) ec = {};
    if (ec) {
        if (ec == http::error::header_limit)
            fail(431);
        else if (ec == http::error::body_limit)
            fail(413);
        else if (ec == http::error::bad_version && well_formed_version(view(in)))
            fail(505);
        else
            fail(400);
        return false;
    }
    in.consume(header_len);
    header_done_ = true;

    auto& req = parser_->get();
    // HTTP/1.x only: 1.0 and 1.1 as themselves, a higher 1.x minor as 1.1 (RFC 9110 §6.2).
    if (req.version() / 10 != 1) {
        fail(505);
        return false;
    }
    index_fields(req);
    // Exactly one Host in HTTP/1.1 (RFC 9112 §3.2); at most one in 1.0.
    if ((req.version() >= 11 && fields_.hosts != 1) || fields_.hosts > 1) {
        fail(400);
        return false;
    }
    // One Content-Length with one value. RFC 9112 §6.3 lets a recipient accept a list of equal
    // values ("5, 5") or repeated equal fields; a proxy that passes them on, or a backend that
    // reads only the first or last, is where request smuggling starts: refused (Beast itself
    // refuses differing values).
    if (fields_.content_lengths > 1 || fields_.content_length_list) {
        fail(400);
        return false;
    }
    // Field names with an underscore or another character outside [A-Za-z0-9-] are dropped,
    // as nginx does (ignore_invalid_headers): no handler, after-action or upstream sees them.
    if (fields_.odd_names > 0) drop_odd_fields(req, peer);
    // Transfer-Encoding: only a single "chunked" is accepted; anything else cannot be framed
    // safely (RFC 9112 §6.1). Beast already refuses it together with Content-Length.
    if (fields_.transfer_encodings > 0 &&
        (fields_.transfer_encodings > 1 ||
         !iequals(trim_ows(fields_.transfer_encoding), "chunked") || req.version() < 11)) {
        fail(400);
        return false;
    }
    return true;
}

void request_reader::index_fields(const lifecycle::request& req) {
    fields_ = {};
    for (const auto& f : req) {
        switch (f.name()) {
            case http::field::host:
                if (fields_.hosts++ == 0) fields_.host = f.value();
                break;
            case http::field::transfer_encoding:
                if (fields_.transfer_encodings++ == 0) fields_.transfer_encoding = f.value();
                break;
            case http::field::expect:
                if (!fields_.expect) fields_.expect = f.value();
                break;
            case http::field::content_length:
                ++fields_.content_lengths;
                if (f.value().find(',') != std::string_view::npos)
                    fields_.content_length_list = true;
                break;
            case http::field::unknown:
                if (!plain_name(f.name_string())) {
                    ++fields_.odd_names;
                } else if (iequals(f.name_string(), "x-request-id")) {
                    if (fields_.request_ids++ == 0) fields_.request_id = f.value();
                } else if (iequals(f.name_string(), "traceparent")) {
                    if (fields_.traceparent.empty()) fields_.traceparent = f.value();
                }
                break;
            default:
                break;
        }
    }
}

void request_reader::drop_odd_fields(lifecycle::request& req, std::string_view peer) {
    for (auto it = req.begin(); it != req.end();) {
        if (it->name() == http::field::unknown && !plain_name(it->name_string())) {
            lifecycle::log::event("header field dropped")
                .str("name", it->name_string())
                .str("remote", peer)
                .debug();
            it = req.erase(it);
        } else {
            ++it;
        }
    }
    fields_.odd_names = 0;
}

bool request_reader::chunk_framing_broken(const beast::flat_buffer& in, bool had_data) const {
    if (fields_.transfer_encodings == 0 || in.size() == 0) return false;
    // What the parser left unconsumed is a chunk line (or the trailer) it waits to see whole.
    // Bounded like a header: a line that never ends would otherwise grow the buffer until the
    // body_read timeout.
    if (in.size() >= limits_.header_bytes) return true;
    // After chunk data comes CRLF (RFC 9112 §7.1): Beast checks it only once four bytes are
    // here, so a client that sent one or two wrong bytes and waits is refused now, not at the
    // timeout.
    const auto* p = static_cast<const char*>(in.data().data());
    return had_data && !(p[0] == '\r' && (in.size() < 2 || p[1] == '\n'));
}

bool request_reader::target_ok() {
    if (!target_ready_) {
        target_ready_ = true;
        target_ok_ = parse_target(request().target(), target_, path_storage_);
        if (target_ok_)
            host_ = normalise_host(target_.authority.empty() ? fields_.host : target_.authority,
                                   host_storage_);
    }
    return target_ok_;
}

std::optional<std::uint64_t> request_reader::begin_streamed_body() {
    // The handler gets a copy of the head; the parser, with its state and limits (body_bytes),
    // goes on as one that parses the body into the handler's blocks.
    streamed_req_ = lifecycle::request(parser_->get().base());
    body_parser_.emplace(std::move(*parser_));
    parser_.reset();
    index_fields(streamed_req_);
    target_ready_ = false;  // parsed again from the copy
    received_any_ = false;
    std::optional<std::uint64_t> length;
    if (auto n = body_parser_->content_length()) length = *n;
    return length;
}

request_reader::pulled request_reader::pull(beast::flat_buffer& in, std::string& block) {
    pulled out;
    if (!body_parser_) {
        out.ended = true;
        return out;
    }
    auto& p = *body_parser_;
    while (!p.is_done() && in.size() > 0) {
        auto& b = p.get().body();
        b.data = block.data();
        b.size = block.size();
        error_code ec;
        const std::size_t used = p.put(in.data(), ec);
        in.consume(used);
        const std::size_t got = block.size() - b.size;
        if (ec == http::error::need_more && chunk_framing_broken(in, received_any_))
            ec = http::error::bad_chunk;
        if (ec == http::error::need_buffer || ec == http::error::need_more) ec = {};
        if (ec) {
            out.status = ec == http::error::body_limit ? 413 : 400;
            out.ec = ec;
            return out;
        }
        if (got > 0) {
            received_any_ = true;
            out.bytes = got;
            return out;
        }
        if (used == 0) break;  // a chunk line not yet whole: more bytes are needed
    }
    out.ended = p.is_done();
    return out;
}

void request_reader::next_request() {
    parser_.reset();
    body_parser_.reset();
    header_done_ = false;
    continue_owed_ = false;
    target_ready_ = false;
    blank_lines_ = 0;
}

}  // namespace edged::server

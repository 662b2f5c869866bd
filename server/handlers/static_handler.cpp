#include "server/handlers/static_handler.hpp"

#include "server/compress/codec.hpp"

namespace edged::server {

static_handler::static_handler(const config::static_handler& cfg,
                               const config::compress_config* compress)
    : status_(cfg.status), body_(cfg.body) {
    for (const auto& [name, value] : cfg.headers) {
        headers_ += name;
        headers_ += ": ";
        headers_ += value;
        headers_ += "\r\n";
    }
    if (!compress) return;
    compression_.emplace(*compress);
    headers_ += compression::vary_line;
    // Whether the body qualifies does not depend on the request (a GET stands for all).
    lifecycle::request get;
    get.method(boost::beast::http::verb::get);
    lifecycle::response identity;
    identity.status = status_;
    identity.fixed_headers = headers_;
    identity.body_ref = body_;
    if (!compression_->eligible(get, identity)) return;
    for (const auto& coding : compression_->encodings()) {
        variant v;
        v.coding = coding;
        v.headers = headers_ + "Content-Encoding: " + coding + "\r\n";
        v.body = encode(coding, body_, compression_->level(coding));
        variants_.push_back(std::move(v));
    }
}

lifecycle::response static_handler::handle(const lifecycle::request& req, lifecycle::context&) {
    lifecycle::response res;
    res.status = status_;
    res.fixed_headers = headers_;
    res.body_ref = body_;
    if (!variants_.empty() && req.method() != boost::beast::http::verb::head) {
        const auto coding = compression_->choose(req);
        for (const auto& v : variants_) {
            if (v.coding != coding) continue;
            res.fixed_headers = v.headers;
            res.body_ref = v.body;
            break;
        }
    }
    return res;
}

}  // namespace edged::server

// Response compression: Accept-Encoding negotiation, the codecs checked with the real zlib and
// Brotli decoders, which responses qualify, and compressing routes through a running server
// (static bodies compressed at start-up, proxied ones on the worker pool).

#include <catch2/catch.hpp>

#include <brotli/decode.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "server/compress/accept_encoding.hpp"
#include "server/compress/codec.hpp"
#include "server/compress/compression.hpp"
#include "sink.hpp"

using namespace edged::test;
using edged::server::compression;
using edged::server::encode;
using edged::server::negotiate_encoding;

namespace {

std::string gunzip(const std::string& data) {
    z_stream zs{};
    REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
    std::string out;
    char chunk[16384];
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(chunk);
        zs.avail_out = sizeof chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(chunk, sizeof chunk - zs.avail_out);
    }
    inflateEnd(&zs);
    REQUIRE(rc == Z_STREAM_END);
    return out;
}

std::string unbrotli(const std::string& data, std::size_t expected_size) {
    std::string out(expected_size + 16, '\0');
    std::size_t size = out.size();
    REQUIRE(BrotliDecoderDecompress(data.size(), reinterpret_cast<const std::uint8_t*>(data.data()),
                                    &size, reinterpret_cast<std::uint8_t*>(out.data())) ==
            BROTLI_DECODER_RESULT_SUCCESS);
    out.resize(size);
    return out;
}

std::string decode(const std::string& coding, const std::string& body, std::size_t size) {
    if (coding == "gzip") return gunzip(body);
    if (coding == "br") return unbrotli(body, size);
    return body;
}

// A JSON document of about `bytes`, compressible but not trivially so.
std::string json_document(std::size_t bytes) {
    std::string out = "[";
    for (int i = 0; out.size() < bytes; ++i) {
        if (i) out += ",";
        out += R"({"id":)" + std::to_string(i) + R"(,"name":"item )" + std::to_string(i * 7919) +
               R"(","tags":["edge","lifecycle"],"score":)" + std::to_string((i * 37) % 101) + "}";
    }
    return out + "]";
}

const std::vector<std::string> br_gzip{"br", "gzip"};

}  // namespace

TEST_CASE("Accept-Encoding: q-values, identity, * and q=0 (RFC 9110)", "[compress][negotiate]") {
    CHECK(negotiate_encoding("", false, br_gzip) == "");  // no field: identity
    CHECK(negotiate_encoding("", true, br_gzip) == "");   // an empty field: identity only
    CHECK(negotiate_encoding("gzip", true, br_gzip) == "gzip");
    CHECK(negotiate_encoding("gzip, deflate, br", true, br_gzip) == "br");  // server order on ties
    CHECK(negotiate_encoding("br;q=0.5, gzip", true, br_gzip) == "gzip");   // the client's q first
    CHECK(negotiate_encoding("GZIP;Q=1.0", true, br_gzip) == "gzip");       // case-insensitive
    CHECK(negotiate_encoding("x-gzip", true, br_gzip) == "gzip");
    CHECK(negotiate_encoding("gzip;q=0", true, br_gzip) == "");
    CHECK(negotiate_encoding("gzip;q=0, br;q=0", true, br_gzip) == "");
    CHECK(negotiate_encoding("*", true, br_gzip) == "br");
    CHECK(negotiate_encoding("*;q=0", true, br_gzip) == "");
    CHECK(negotiate_encoding("*, br;q=0", true, br_gzip) == "gzip");
    CHECK(negotiate_encoding("identity;q=0, gzip", true, br_gzip) == "gzip");
    CHECK(negotiate_encoding("identity, gzip;q=0.5", true, br_gzip) == "");  // identity preferred
    CHECK(negotiate_encoding("identity;q=0.4, gzip;q=0.5", true, br_gzip) == "gzip");
    CHECK(negotiate_encoding("deflate, compress", true, br_gzip) == "");
    // A malformed element is ignored, the rest counts.
    CHECK(negotiate_encoding("gzip;q=2, br", true, br_gzip) == "br");
    CHECK(negotiate_encoding("gzip;q=0.1234, br;q=0.001", true, br_gzip) == "br");
    CHECK(negotiate_encoding(" , gzip ;  q=0.8 ,", true, br_gzip) == "gzip");
    CHECK(negotiate_encoding("br", true, {"gzip"}) == "");  // only what the route offers
}

TEST_CASE("codecs: gzip and br decode to the original with zlib and Brotli", "[compress][codec]") {
    const std::string doc = json_document(200 * 1024);
    for (const std::string coding : {"gzip", "br"}) {
        INFO(coding);
        for (int level : {1, 6, 9}) {
            const std::string packed = encode(coding, doc, level);
            CHECK(packed.size() < doc.size() / 3);
            CHECK(decode(coding, packed, doc.size()) == doc);
        }
        CHECK(decode(coding, encode(coding, "", 6), 0).empty());
        // Bytes that do not compress (the output outgrows the input) across several blocks.
        std::string noise(3 * 64 * 1024 + 1, '\0');
        std::uint32_t x = 2463534242u;
        for (auto& ch : noise) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            ch = static_cast<char>(x);
        }
        CHECK(decode(coding, encode(coding, noise, 1), noise.size()) == noise);
    }
}

TEST_CASE("codecs: a stop token that fired ends the encoding with encode_stopped",
          "[compress][codec]") {
    std::stop_source stop;
    stop.request_stop();
    for (const std::string coding : {"gzip", "br"}) {
        INFO(coding);
        CHECK_THROWS_AS(encode(coding, json_document(1024), 6, stop.get_token()),
                        edged::server::encode_stopped);
        // A token that did not fire changes nothing.
        std::stop_source idle;
        const std::string doc = json_document(150 * 1024);
        CHECK(decode(coding, encode(coding, doc, 6, idle.get_token()), doc.size()) == doc);
    }
}

TEST_CASE("which responses qualify for compression", "[compress][policy]") {
    edged::config::compress_config cfg;
    cfg.min_bytes = 100;
    cfg.types = {"application/json", "text/*"};
    compression c(cfg);
    edged::lifecycle::request get;
    get.method(http::verb::get);
    edged::lifecycle::response res;
    res.body = std::string(200, 'x');
    res.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    CHECK(c.eligible(get, res));

    auto head = get;
    head.method(http::verb::head);
    CHECK_FALSE(c.eligible(head, res));
    for (unsigned status : {100u, 204u, 304u}) {
        auto r = res;
        r.status = status;
        CHECK_FALSE(c.eligible(get, r));
    }
    auto small = res;
    small.body = std::string(99, 'x');
    CHECK_FALSE(c.eligible(get, small));
    auto encoded = res;
    encoded.headers.emplace_back("content-encoding", "gzip");
    CHECK_FALSE(c.eligible(get, encoded));
    auto image = res;
    image.headers[0].second = "image/png";
    CHECK_FALSE(c.eligible(get, image));
    auto text = res;
    text.headers.clear();
    text.fixed_headers = "Content-Type: TEXT/CSV\r\n";  // preformatted, any case, wildcard type
    CHECK(c.eligible(get, text));
    auto untyped = res;
    untyped.headers.clear();
    CHECK_FALSE(c.eligible(get, untyped));
}

namespace {

struct response_parts {
    unsigned status = 0;
    std::string encoding, vary, body, content_length;
};

response_parts fetch(std::uint16_t port, const std::string& method, const std::string& target,
                     const std::string& accept_encoding) {
    raw_client c(port);
    std::string head = method + " " + target + " HTTP/1.1\r\nHost: test\r\n";
    if (!accept_encoding.empty()) head += "Accept-Encoding: " + accept_encoding + "\r\n";
    c.send(head + "\r\n");
    auto res = c.read(method == "HEAD");
    return {res.result_int(), std::string(res[http::field::content_encoding]),
            std::string(res[http::field::vary]), res.body(),
            std::string(res[http::field::content_length])};
}

}  // namespace

TEST_CASE("a compressing static route: each coding decodes to the body, Vary always, HEAD plain",
          "[compress][static]") {
    const std::string doc = json_document(64 * 1024);
    const std::string file = "/tmp/edged-compress-" + std::to_string(::getpid()) + ".json";
    std::ofstream(file) << doc;
    running_server s(base_config() + R"(
routes:
  - name: doc
    match: { path: /doc }
    handler: { static: { file: )" +
                     file + R"(, headers: { content-type: application/json } } }
    compress: { min_bytes: 1KiB }
  - name: tiny
    match: { path: /tiny }
    handler: { static: { body: "{}", headers: { content-type: application/json } } }
    compress: {}
)");
    std::remove(file.c_str());
    struct expectation {
        std::string accept, coding;
    };
    for (const auto& [accept, coding] : std::vector<expectation>{{"br", "br"},
                                                                 {"gzip, deflate", "gzip"},
                                                                 {"gzip, br", "br"},
                                                                 {"br;q=0, gzip", "gzip"},
                                                                 {"gzip;q=0", ""},
                                                                 {"identity;q=0, gzip", "gzip"},
                                                                 {"", ""}}) {
        INFO("Accept-Encoding: " << accept);
        auto r = fetch(s.port(), "GET", "/doc", accept);
        CHECK(r.status == 200);
        CHECK(r.encoding == coding);
        CHECK(r.vary == "Accept-Encoding");
        CHECK(r.content_length == std::to_string(r.body.size()));
        CHECK(decode(coding, r.body, doc.size()) == doc);
        if (!coding.empty()) CHECK(r.body.size() < doc.size() / 3);
    }
    auto head = fetch(s.port(), "HEAD", "/doc", "gzip, br");
    CHECK(head.encoding.empty());
    CHECK(head.vary == "Accept-Encoding");
    CHECK(head.content_length == std::to_string(doc.size()));
    auto tiny = fetch(s.port(), "GET", "/tiny", "gzip");  // under min_bytes
    CHECK(tiny.encoding.empty());
    CHECK(tiny.body == "{}");
    CHECK(tiny.vary == "Accept-Encoding");
}

TEST_CASE("a compressing proxy route compresses on the worker pool, and a 304 is untouched",
          "[compress][proxy][pool]") {
    const std::string doc = json_document(128 * 1024);
    sink_server origin;
    origin.answer_body(doc, "application/json");
    running_server big(base_config() + "upstreams:\n  origin: { url: \"http://127.0.0.1:" +
                       std::to_string(origin.port()) + "\" }\n" + R"(
routes:
  - name: api
    match: { prefix: /api/ }
    handler: { proxy: { upstream: origin, max_response_bytes: 1MiB } }
    compress: { encodings: [gzip, br] }
)");
    for (const std::string coding : {"gzip", "br"}) {
        auto r = fetch(big.port(), "GET", "/api/doc", coding);
        CHECK(r.status == 200);
        CHECK(r.encoding == coding);
        CHECK(r.vary == "Accept-Encoding");
        CHECK(decode(coding, r.body, doc.size()) == doc);
    }
    auto plain = fetch(big.port(), "GET", "/api/doc", "");
    CHECK(plain.encoding.empty());
    CHECK(plain.body == doc);
    CHECK(plain.vary == "Accept-Encoding");
    // The two compressed answers were made on the pool (block by block), not on the I/O
    // thread: at least the last block of each is an item.
    const auto completed = big.get().stats().at("worker_pool").at("completed").get<int>();
    CHECK(completed >= 2);

    origin.answer_with(304);
    origin.answer_body("");
    auto not_modified = fetch(big.port(), "GET", "/api/doc", "gzip");
    CHECK(not_modified.status == 304);
    CHECK(not_modified.encoding.empty());
    CHECK(big.get().stats().at("worker_pool").at("completed") == completed);
}

// SPDX-License-Identifier: MIT
//
// How fast corio's HTTP/1.1 parser (corio/net/http/parser.hpp) reads whole
// messages from memory, as bytes/s, beside Node's http_parser (the C parser
// before llhttp, packaged by Debian as libhttp-parser-dev) when it is there.
// Same binary, same run, same messages, so that machine, compiler and moment
// are the same for both.
//
//   BM_corio_request / BM_http_parser_request    a browser-like GET: 11
//       header fields, 501 bytes, no body
//   BM_corio_response / BM_http_parser_response  a 200 with 9 header
//       fields and a 1 KiB Content-Length body
//   BM_corio_chunked / BM_http_parser_chunked    the same body chunked in
//       8 chunks of 128 bytes, one chunk extension, one trailer
//   BM_corio_pipelined / ...                     16 small GETs (75 bytes
//       each, 1200 in all) back to back in one buffer (what a pipelining client or wrk's keep-alive sends)
//
// Each iteration parses the buffer to message_complete (every message of
// it for the pipelined case) from a reset parser. Both parsers see the
// message in one contiguous piece. corio's parser hands out the head as views
// and the body as views; http_parser is given callbacks that do the same
// (remember each header name/value pointer and length, count body bytes),
// which is the least any user of it does. bytes_per_second is the message
// size times the iterations.
//
// Run with --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// and read the medians.
#include <corio/net/http/parser.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#ifdef CORIO_BENCH_HTTP_PARSER
#include <http_parser.h>
#endif

namespace {

using namespace corio::http;

const std::string& request_message() {
    static const std::string m =
        "GET /static/css/site.min.css?v=20261125 HTTP/1.1\r\n"
        "Host: www.example.com\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
        "Accept: text/css,*/*;q=0.1\r\n"
        "Accept-Language: en-GB,en;q=0.5\r\n"
        "Accept-Encoding: gzip, deflate, br\r\n"
        "Referer: https://www.example.com/articles/2026/11/event-loops.html\r\n"
        "Connection: keep-alive\r\n"
        "Cookie: session=3f9a1c0e7b2d4a6f8e1b5c9d0a7f3e2b; theme=dark; consent=1\r\n"
        "Sec-Fetch-Dest: style\r\n"
        "Sec-Fetch-Mode: no-cors\r\n"
        "If-None-Match: \"5f1c-63a2b8e0\"\r\n"
        "\r\n";
    return m;
}

const std::string& body_1k() {
    static const std::string b = [] {
        std::string s;
        while (s.size() < 1024) s += "<p>corio parses HTTP/1.1 without copying the bytes it reads.</p>\n";
        s.resize(1024);
        return s;
    }();
    return b;
}

std::string response_head() {
    return "HTTP/1.1 200 OK\r\n"
           "Date: Wed, 25 Nov 2026 15:30:00 GMT\r\n"
           "Server: corio\r\n"
           "Content-Type: text/html; charset=utf-8\r\n"
           "Cache-Control: public, max-age=3600\r\n"
           "ETag: \"5f1c-63a2b8e0\"\r\n"
           "Last-Modified: Tue, 24 Nov 2026 09:12:44 GMT\r\n"
           "Vary: Accept-Encoding\r\n"
           "X-Request-Id: 7c4e2a91-0b5d-4f3e-9a86-12d4c7e0f5ab\r\n";
}

const std::string& response_message() {
    static const std::string m = response_head() + "Content-Length: 1024\r\n\r\n" + body_1k();
    return m;
}

const std::string& chunked_message() {
    static const std::string m = [] {
        std::string s = response_head() + "Transfer-Encoding: chunked\r\n\r\n";
        const std::string& b = body_1k();
        for (std::size_t at = 0; at < b.size(); at += 128) {
            s += at == 0 ? "80;name=first\r\n" : "80\r\n";
            s.append(b, at, 128).append("\r\n");
        }
        s += "0\r\nX-Checksum: 1a2b3c4d\r\n\r\n";
        return s;
    }();
    return m;
}

const std::string& pipelined_message() {
    static const std::string m = [] {
        std::string s;
        for (int i = 0; i < 16; ++i)
            s += "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
        return s;
    }();
    return m;
}

// Parses every message of `data` with `p`; returns the messages and adds the
// body bytes and header fields seen to `sink`.
int corio_parse_all(parser& p, std::string_view data, std::size_t& sink) {
    int messages = 0;
    for (;;) {
        // A message without a body ends with the call after its head, which
        // may see no bytes at all: stop only when the parser wants more.
        parse_result r = p.feed(data);
        data.remove_prefix(r.consumed);
        switch (r.event) {
        case parse_event::need_more:
            if (!data.empty()) throw std::runtime_error("micro_http: the benchmark message is cut short");
            return messages;
        case parse_event::headers_complete: sink += p.headers().size(); break;
        case parse_event::body: sink += r.body.size(); break;
        case parse_event::message_complete:
            ++messages;
            p.reset();
            p.set_request_method("GET");
            break;
        default: throw std::runtime_error("micro_http: the benchmark message does not parse");
        }
    }
}

void run_corio(benchmark::State& state, message_kind kind, const std::string& message, int expected) {
    parser p(kind);
    p.set_request_method("GET");
    std::size_t sink = 0;
    for (auto _ : state) {
        if (corio_parse_all(p, message, sink) != expected) state.SkipWithError("wrong message count");
        benchmark::DoNotOptimize(sink);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
}

void BM_corio_request(benchmark::State& s) { run_corio(s, message_kind::request, request_message(), 1); }
void BM_corio_response(benchmark::State& s) { run_corio(s, message_kind::response, response_message(), 1); }
void BM_corio_chunked(benchmark::State& s) { run_corio(s, message_kind::response, chunked_message(), 1); }
void BM_corio_pipelined(benchmark::State& s) { run_corio(s, message_kind::request, pipelined_message(), 16); }
BENCHMARK(BM_corio_request);
BENCHMARK(BM_corio_response);
BENCHMARK(BM_corio_chunked);
BENCHMARK(BM_corio_pipelined);

#ifdef CORIO_BENCH_HTTP_PARSER

// What a user of http_parser keeps: the fields as pointer and length (one
// piece each, since the message is contiguous), and the body size.
struct peer_sink {
    struct field {
        const char* at;
        std::size_t len;
    };
    field fields[2 * 64];
    std::size_t nfields = 0;
    std::size_t body = 0;
    int messages = 0;
};

int on_field(http_parser* p, const char* at, std::size_t len) {
    auto* s = static_cast<peer_sink*>(p->data);
    if (s->nfields < std::size(s->fields)) s->fields[s->nfields++] = {at, len};
    return 0;
}
int on_body(http_parser* p, const char*, std::size_t len) {
    static_cast<peer_sink*>(p->data)->body += len;
    return 0;
}
int on_message_begin(http_parser* p) {
    static_cast<peer_sink*>(p->data)->nfields = 0;
    return 0;
}
int on_message_complete(http_parser* p) {
    ++static_cast<peer_sink*>(p->data)->messages;
    return 0;
}

void run_http_parser(benchmark::State& state, http_parser_type type, const std::string& message, int expected) {
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_field;
    settings.on_header_field = on_field;
    settings.on_header_value = on_field;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    peer_sink sink;
    http_parser p;
    for (auto _ : state) {
        http_parser_init(&p, type);
        p.data = &sink;
        sink.messages = 0;
        std::size_t n = http_parser_execute(&p, &settings, message.data(), message.size());
        if (n != message.size() || HTTP_PARSER_ERRNO(&p) != HPE_OK || sink.messages != expected)
            state.SkipWithError("http_parser did not parse the message");
        benchmark::DoNotOptimize(sink);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
}

void BM_http_parser_request(benchmark::State& s) { run_http_parser(s, HTTP_REQUEST, request_message(), 1); }
void BM_http_parser_response(benchmark::State& s) { run_http_parser(s, HTTP_RESPONSE, response_message(), 1); }
void BM_http_parser_chunked(benchmark::State& s) { run_http_parser(s, HTTP_RESPONSE, chunked_message(), 1); }
void BM_http_parser_pipelined(benchmark::State& s) { run_http_parser(s, HTTP_REQUEST, pipelined_message(), 16); }
BENCHMARK(BM_http_parser_request);
BENCHMARK(BM_http_parser_response);
BENCHMARK(BM_http_parser_chunked);
BENCHMARK(BM_http_parser_pipelined);

#endif

} // namespace

BENCHMARK_MAIN();

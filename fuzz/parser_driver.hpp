// SPDX-License-Identifier: MIT
//
// Why: the parser's safety argument is "same bytes, same framing, whatever
// the packet boundaries" (request smuggling hides in the cases where that
// fails) plus "never reads outside the buffer". Unit tests check both on
// hand-written messages; the request and response fuzz targets check them on
// arbitrary ones. This is their shared, differential driver: each input is
// driven whole, split at a point the fuzzer picks, and (when short) byte by
// byte, like a connection that compacts its buffer between reads, and the
// transcripts must be identical. Any mismatch, a view outside the caller's
// buffer, an error without a code and message, or a parser that stops making
// progress aborts. With ASan/UBSan that also covers memory errors.
//
// Input layout (both targets): byte 0 holds options (bit 0: HEAD instead of
// GET for responses, bit 2: bare LF allowed, bit 3: small limits, bit 4: the
// peer closes at the end), bytes 1-2 the split point, the rest the message.
#pragma once

#include <corio/net/http/parser.hpp>

#include "tests/net/http/parser_feed.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace corio::fuzz {

using namespace corio::http;

[[noreturn]] inline void die(const char* what) {
    std::fprintf(stderr, "parser fuzz: %s\n", what);
    std::abort();
}

inline bool inside(std::string_view v, const std::string& buf) {
    return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

struct mode {
    message_kind kind;
    std::string_view method;
    parser_limits limits;
    bool eof;
};

// Feeds `input` to a fresh parser, appending the pieces cut at `cuts`, and
// returns a transcript of every event and view.
inline std::string drive(std::string_view input, const std::vector<std::size_t>& cuts, const mode& m) {
    parser p(m.kind, m.limits);
    p.set_request_method(m.method);
    std::string buf, out;
    auto on_event = [&](const parse_result& r, const std::string&) {
        if (r.consumed > buf.size()) die("consumed more than it was given");
        switch (r.event) {
        case parse_event::need_more: return true;
        case parse_event::headers_complete:
            if (!inside(p.method(), buf) || !inside(p.target(), buf) || !inside(p.reason(), buf))
                die("start line view outside the buffer");
            out += "H" + std::string(p.method()) + " " + std::string(p.target()) + " " + std::to_string(p.status()) +
                   " " + std::string(p.reason()) + " " + std::to_string(int(p.framing())) +
                   std::to_string(p.keep_alive()) + std::to_string(p.upgrade()) + std::to_string(p.is_interim());
            for (const auto& h : p.headers()) {
                if (!inside(h.name, buf) || !inside(h.value, buf)) die("header view outside the buffer");
                out += "{" + std::string(h.name) + ":" + std::string(h.value) + "}";
            }
            out += "\n";
            return true;
        case parse_event::body:
            if (r.body.empty() || !inside(r.body, buf)) die("body view empty or outside the buffer");
            out += r.body;
            return true;
        case parse_event::message_complete:
            out += "\nM";
            for (const auto& h : p.trailers()) {
                if (!inside(h.name, buf) || !inside(h.value, buf)) die("trailer view outside the buffer");
                out += "{" + std::string(h.name) + ":" + std::string(h.value) + "}";
            }
            out += "\n";
            if (p.upgrade()) return false;
            p.reset();
            p.set_request_method(m.method);
            return true;
        case parse_event::error:
            if (p.error() == parse_errc::none || p.error_message().empty()) die("error without code or message");
            out += "E" + std::string(to_string(p.error())) + "\n";
            return false;
        case parse_event::end_of_stream: die("feed returned end_of_stream");
        }
        return false;
    };
    auto outcome = testing::feed_pieces(p, input, cuts, buf, on_event);
    if (outcome == testing::feed_outcome::no_progress) die("no progress");
    const bool stopped = outcome == testing::feed_outcome::stopped;
    if (!stopped && m.eof) {
        auto r = p.finish();
        out += "F" + std::to_string(int(r.event)) + std::string(to_string(p.error()));
    }
    return out;
}

// The whole check for one fuzz input of the layout above.
inline int check_message(message_kind kind, const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const std::uint8_t flags = data[0];
    const std::size_t cut_hint = std::size_t(data[1]) << 8 | data[2];
    std::string_view input(reinterpret_cast<const char*>(data + 3), size - 3);

    mode m{kind, (flags & 1) != 0 ? "HEAD" : "GET", {}, (flags & 16) != 0};
    m.limits.allow_bare_lf = (flags & 4) != 0;
    if (flags & 8) {
        m.limits.max_header_bytes = 256;
        m.limits.max_headers = 4;
        m.limits.max_start_line = 64;
        m.limits.max_body = 32;
        m.limits.max_chunk_ext = 8;
    }
    const std::string whole = drive(input, {}, m);
    if (!input.empty()) {
        std::size_t cut = cut_hint % input.size();
        if (cut != 0 && drive(input, {cut}, m) != whole) die("a split changed the transcript");
    }
    if (input.size() <= 512) {
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
        if (drive(input, every, m) != whole) die("byte-by-byte feeding changed the transcript");
    }
    return 0;
}

} // namespace corio::fuzz

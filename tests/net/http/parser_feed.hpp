// SPDX-License-Identifier: MIT
//
// Feeding a parser the way a connection does, for the parser's unit tests
// and its fuzz targets (fuzz/parser_driver.hpp): both check that the same
// bytes give the same transcript whatever the packet boundaries, and both
// need the same loop to cut the input into packets and drive the parser over
// a buffer that is compacted between reads.
#pragma once

#include <corio/net/http/parser.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace corio::http::testing {

enum class feed_outcome { fed, stopped, no_progress };

// Appends `input` to `buf` piece by piece, cut at `cuts` (increasing
// offsets), and after each piece feeds `p` until it asks for more. Every
// result goes to `on_event(result, buf)` before its bytes are erased from
// `buf` (views into `buf` are valid only during the call); on_event returns
// false to stop. A parser that never asks for more within a million events
// is `no_progress`.
template <class OnEvent>
feed_outcome feed_pieces(parser& p, std::string_view input, const std::vector<std::size_t>& cuts, std::string& buf,
                         OnEvent&& on_event) {
    std::size_t prev = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        std::size_t end = i < cuts.size() ? cuts[i] : input.size();
        buf.append(input.substr(prev, end - prev));
        prev = end;
        for (int guard = 0;; ++guard) {
            if (guard == 1'000'000) return feed_outcome::no_progress;
            parse_result r = p.feed(buf);
            if (!on_event(r, buf)) return feed_outcome::stopped;
            buf.erase(0, r.consumed);
            if (r.event == parse_event::need_more) break;
        }
    }
    return feed_outcome::fed;
}

}  // namespace corio::http::testing

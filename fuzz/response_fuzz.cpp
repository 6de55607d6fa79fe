// SPDX-License-Identifier: MIT
//
// libFuzzer target: HTTP/1.1 response parsing (what the client reads from a
// server), to GET or, with bit 0 of the first byte, to HEAD. See
// parser_driver.hpp for the checks and the input layout.
#include "parser_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return corio::fuzz::check_message(corio::http::message_kind::response, data, size);
}

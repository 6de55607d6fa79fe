// SPDX-License-Identifier: MIT
//
// libFuzzer target: HTTP/1.1 request parsing (what a server reads from
// anyone). See parser_driver.hpp for the checks and the input layout.
#include "parser_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return corio::fuzz::check_message(corio::http::message_kind::request, data, size);
}

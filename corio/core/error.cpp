// SPDX-License-Identifier: MIT
//
// Out of line so that the error path does not inline a std::string and a
// system_error constructor into every awaiter that can fail.
#include <corio/core/error.hpp>

namespace corio {

void throw_system_error(int err, const std::string& what) {
  throw std::system_error(err, std::system_category(), what);
}

}  // namespace corio

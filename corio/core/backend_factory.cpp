// SPDX-License-Identifier: MIT
//
// The only file that names the backends (Seastar's available()/create()).
// Adding one means a new backend_*.cpp, a line here and a line in
// corio/meson.build. The choice is made at run time: CORIO_BACKEND or the
// loop's options name one; "auto" prefers io_uring where the kernel lets us
// set it up and falls back to the platform's poller, saying so once. The
// platform's poller is epoll where corio was built with it (Linux), else
// kqueue (macOS, the BSDs); on Linux, kqueue (through libkqueue) is only
// ever chosen by name.
#include <corio/config.hpp>
#include <corio/core/backend.hpp>
#include <corio/core/log.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

namespace corio {

#if CORIO_HAS_EPOLL
std::unique_ptr<backend> make_epoll_backend();
#endif
#if CORIO_HAS_KQUEUE
std::unique_ptr<backend> make_kqueue_backend();
#endif
#if CORIO_HAS_IO_URING
std::unique_ptr<backend> make_uring_backend();
#endif

namespace {

std::unique_ptr<backend> make_uring(bool required) {
#if CORIO_HAS_IO_URING
  try {
    return make_uring_backend();
  } catch (const std::system_error& e) {
    if (required) throw;
    static bool said = false;
    if (!said) {
      said = true;
      CORIO_LOG_INFO("io_uring unavailable ({}), using epoll", e.what());
    }
    return nullptr;
  }
#else
  if (required)
    throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                            "corio: backend 'uring' requested but corio was built without io_uring");
  return nullptr;
#endif
}

[[maybe_unused]] std::system_error not_built(std::string_view name, std::string_view why) {
  return std::system_error(std::make_error_code(std::errc::function_not_supported),
                           "corio: backend '" + std::string(name) + "' requested but corio was built without it (" +
                               std::string(why) + ")");
}

std::unique_ptr<backend> make_epoll() {
#if CORIO_HAS_EPOLL
  return make_epoll_backend();
#else
  throw not_built("epoll", "it needs <sys/epoll.h>: Linux");
#endif
}

std::unique_ptr<backend> make_kqueue() {
#if CORIO_HAS_KQUEUE
  return make_kqueue_backend();
#else
  throw not_built("kqueue", "it needs <sys/event.h>: macOS, the BSDs, or libkqueue on Linux");
#endif
}

// The poller "auto" falls back to.
std::unique_ptr<backend> make_platform_poller() {
#if CORIO_HAS_EPOLL
  return make_epoll_backend();
#elif CORIO_HAS_KQUEUE
  return make_kqueue_backend();
#else
  throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                          "corio: built without any backend (no epoll, io_uring or kqueue found)");
#endif
}

}  // namespace

std::unique_ptr<backend> make_backend(std::string_view name) {
  std::string chosen(name);
  if (chosen.empty()) {
    const char* env = std::getenv("CORIO_BACKEND");
    chosen = env && *env ? env : "auto";
  }
  if (chosen == "epoll") return make_epoll();
  if (chosen == "uring" || chosen == "io_uring") return make_uring(true);
  if (chosen == "auto") {
    if (auto b = make_uring(false)) return b;
    return make_platform_poller();
  }
  if (chosen == "kqueue") return make_kqueue();
  throw std::invalid_argument("corio: unknown backend '" + chosen + "' (expected auto, epoll, uring or kqueue)");
}

}  // namespace corio

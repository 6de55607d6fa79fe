// SPDX-License-Identifier: MIT
//
// The SIGINT half of corio::run(). The handler may only do
// async-signal-safe things: it bumps an atomic counter and calls the
// backend's wake() (an eventfd write), and the loop notices the counter
// after its poll returns. After the first SIGINT the default action is
// restored, so a second Ctrl-C ends a program that ignores cancellation.
#include <corio/core/run.hpp>

#include <atomic>
#include <csignal>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#else
#include <thread>
#endif

namespace corio::detail {

namespace {
std::atomic<int> sigint_count{0};
std::atomic<backend*> sigint_backend{nullptr};
struct sigaction previous_action {};

extern "C" void on_sigint(int) {
  int saved = errno;
  sigint_count.fetch_add(1, std::memory_order_relaxed);
  ::signal(SIGINT, SIG_DFL);
  if (backend* b = sigint_backend.load(std::memory_order_acquire)) b->wake();
  errno = saved;
}

#ifdef __linux__
bool on_main_thread() { return ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid)); }
#else
// No gettid(): the thread that ran the static initialisers is the main one.
const std::thread::id main_thread_id = std::this_thread::get_id();
bool on_main_thread() { return std::this_thread::get_id() == main_thread_id; }
#endif
}  // namespace

sigint_scope::sigint_scope(event_loop& loop) {
  if (!on_main_thread() || sigint_backend.load() != nullptr) return;
  struct sigaction old {};
  if (::sigaction(SIGINT, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) return;
  sigint_count.store(0);
  sigint_backend.store(&loop.io(), std::memory_order_release);
  struct sigaction sa {};
  sa.sa_handler = &on_sigint;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &previous_action);
  installed_ = true;
}

sigint_scope::~sigint_scope() {
  if (!installed_) return;
  ::sigaction(SIGINT, &previous_action, nullptr);
  sigint_backend.store(nullptr, std::memory_order_release);
}

bool sigint_scope::take() noexcept {
  if (!installed_ || sigint_count.load(std::memory_order_relaxed) == 0) return false;
  sigint_count.store(0, std::memory_order_relaxed);
  return true;
}

}  // namespace corio::detail

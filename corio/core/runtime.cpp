// SPDX-License-Identifier: MIT
//
// runtime: the loop threads, the run() handshake and pinning. See
// runtime.hpp.
//
// The handshake: run() publishes the factory and bumps generation_ under
// mutex_; each worker, idle on cv_, sees the new generation, runs its main
// to the end, stores its outcome in errors_[i] and decrements remaining_;
// run() waits on the same cv_ for remaining_ == 0. stop() never takes the
// mutex: it sets an atomic flag that each loop's run_until predicate reads,
// and posts an empty callback to every loop so that one sleeping in poll
// looks at the flag now.
#include <corio/core/runtime.hpp>

#include <corio/core/error.hpp>
#include <corio/core/log.hpp>

#include <algorithm>
#include <optional>

#if defined(__linux__)
#include <sched.h>
#endif

namespace corio {

namespace {

thread_local const runtime* this_thread_runtime = nullptr;
thread_local std::size_t this_thread_index = 0;

// The CPUs this process may run on, in order (empty if unknown).
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
#endif
  return cpus;
}

void pin_this_thread(std::size_t i, const std::vector<int>& cpus) noexcept {
  static std::once_flag warned;
#if defined(__linux__)
  if (!cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[i % cpus.size()], &set);
    // pid 0 = the calling thread.
    if (sched_setaffinity(0, sizeof set, &set) == 0) return;
  }
#else
  (void)i;
  (void)cpus;
#endif
  std::call_once(warned, [] { CORIO_LOG_WARN("runtime: cannot pin loop threads to CPUs; they will float"); });
}

}  // namespace

std::size_t runtime::default_size() noexcept { return std::max(1u, std::thread::hardware_concurrency()); }

runtime::runtime(std::size_t threads, runtime_options options) : options_(std::move(options)) {
  threads = std::max<std::size_t>(threads, 1);
  workers_.resize(threads);
  std::vector<int> cpus = options_.pin ? allowed_cpus() : std::vector<int>{};
  std::size_t launched = 0;
  std::exception_ptr error;
  try {
    for (; launched < threads; ++launched)
      workers_[launched].thread = std::thread([this, launched, cpus] { worker_main(launched, cpus); });
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return started_ == launched; });
    if (!error) error = start_error_;
    if (error) quit_ = true;
  }
  if (error) {
    cv_.notify_all();
    for (auto& w : workers_)
      if (w.thread.joinable()) w.thread.join();
    std::rethrow_exception(error);
  }
}

runtime::~runtime() {
  stop();
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_)
    if (w.thread.joinable()) w.thread.join();
}

std::size_t runtime::current_index() const noexcept {
  return this_thread_runtime == this ? this_thread_index : workers_.size();
}

void runtime::wake_all() noexcept {
  for (auto& w : workers_) {
    if (!w.loop) continue;
    try {
      w.loop->call_soon_threadsafe([] {});
    } catch (...) {
      // Out of memory: the loop still sees the flag at its next iteration.
    }
  }
}

void runtime::stop() noexcept {
  stop_requested_ = true;
  wake_all();
}

void runtime::run(main_factory factory) {
  if (!factory) throw std::invalid_argument("corio: runtime::run() of an empty factory");
  if (this_thread_runtime == this) throw std::logic_error("corio: runtime::run() called from one of its own loops");
  std::unique_lock lock(mutex_);
  if (running_) throw std::logic_error("corio: runtime::run() while another run() is in progress");
  running_ = true;
  factory_ = &factory;
  errors_.assign(workers_.size(), nullptr);
  remaining_ = workers_.size();
  ++generation_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return remaining_ == 0; });
  factory_ = nullptr;
  running_ = false;
  stop_requested_ = false;
  for (auto& e : errors_)
    if (e) std::rethrow_exception(std::exchange(e, nullptr));
}

std::exception_ptr runtime::run_main(event_loop& loop, std::size_t i, const main_factory& factory) noexcept {
  std::exception_ptr error;
  try {
    join_handle<void> main = loop.spawn(factory(i), "main");
    bool cancelled = false;
    auto done = [&] {
      if (!cancelled && stop_requested_.load()) {
        cancelled = true;
        main.cancel();
      }
      return main.done();
    };
    // A main that calls loop.stop() itself only pauses the loop.
    while (!main.done()) loop.run_until(done);
    try {
      main.result();
    } catch (const cancelled_error&) {
      if (!stop_requested_.load()) throw;
    }
  } catch (...) {
    error = std::current_exception();
  }
  // What main left behind is cancelled and drained, as corio::run() does.
  try {
    loop.cancel_all_and_drain();
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  return error;
}

void runtime::worker_main(std::size_t i, std::vector<int> cpus) noexcept {
  this_thread_runtime = this;
  this_thread_index = i;
  if (options_.pin) pin_this_thread(i, cpus);
  std::optional<event_loop> loop;
  {
    std::exception_ptr error;
    try {
      loop.emplace(options_.loop);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (error && !start_error_) start_error_ = error;
    workers_[i].loop = loop ? &*loop : nullptr;
    ++started_;
  }
  cv_.notify_all();
  if (!loop) return;

  std::uint64_t seen = 0;
  for (;;) {
    const main_factory* factory;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return quit_ || generation_ != seen; });
      if (quit_) break;
      seen = generation_;
      factory = factory_;
    }
    std::exception_ptr error = run_main(*loop, i, *factory);
    // One loop failed: the others stop too, and run() reports the failure.
    if (error) stop();
    {
      std::lock_guard lock(mutex_);
      // Moved, not copied: this thread must hold no reference to the
      // exception once run() may rethrow it on another thread.
      errors_[i] = std::move(error);
      --remaining_;
    }
    cv_.notify_all();
  }
  try {
    loop->close();
  } catch (const std::exception& e) {
    CORIO_LOG_ERROR("runtime: closing loop {} failed: {}", i, e.what());
  }
}

}  // namespace corio

// SPDX-License-Identifier: MIT
//
// thread_pool: the workers' loop and shutdown. See thread_pool.hpp.
#include <corio/core/thread_pool.hpp>

#include <algorithm>
#include <stdexcept>

namespace corio {

namespace {
// The pool whose worker this thread is, if any (to refuse self-joins).
thread_local const thread_pool* this_worker_pool = nullptr;
}  // namespace

thread_pool::thread_pool(std::size_t threads) {
  threads = std::max<std::size_t>(threads, 1);
  workers_.reserve(threads);
  try {
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  } catch (...) {
    shutdown(true);
    throw;
  }
}

thread_pool::~thread_pool() { shutdown(true); }

std::size_t thread_pool::default_size() noexcept { return std::max(2u, std::thread::hardware_concurrency()); }

void thread_pool::post(std::unique_ptr<detail::pool_job> job) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw std::runtime_error("corio: thread_pool: cannot submit work after shutdown");
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void thread_pool::work() noexcept {
  this_worker_pool = this;
  for (;;) {
    std::unique_ptr<detail::pool_job> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
      // Closed: drain what was queued before leaving (Executor semantics).
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job->run();
  }
}

bool thread_pool::on_worker_thread() const noexcept { return this_worker_pool == this; }

void thread_pool::shutdown(bool wait) {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  cv_.notify_all();
  if (!wait) return;
  if (on_worker_thread()) throw std::logic_error("corio: thread_pool::shutdown(true) called from one of its workers");
  // Two threads may shut down at once; std::thread::join must not race.
  std::lock_guard lock(join_mutex_);
  for (auto& t : workers_)
    if (t.joinable()) t.join();
}

thread_pool& default_thread_pool() {
  static thread_pool pool(thread_pool::default_size());
  return pool;
}

}  // namespace corio

// SPDX-License-Identifier: MIT
//
// The loop and the task states it runs. See event_loop.hpp for one
// iteration and task_state.hpp for the states of a task.
#include <corio/core/event_loop.hpp>
#include <corio/core/log.hpp>

#include <csignal>
#include <cstring>
#include <stdexcept>

namespace corio {

namespace {
thread_local event_loop* current_loop_ptr = nullptr;

// Writing to a socket whose peer left raises SIGPIPE, which kills the
// process by default. A runtime for servers must turn that into EPIPE, as
// Go and Tokio do; an application that installed its own handler keeps it.
void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

// Task creation and cancellation are logged at debug level. The logger is
// looked up once (an inlined guard check afterwards, where
// detail::logger() is an out-of-line call), and its level is tested before
// anything is formatted, so that with debug off a spawn pays one load and
// one compare.
spdlog::logger& task_log() noexcept {
  static spdlog::logger& log = detail::logger();
  return log;
}
bool task_debug() noexcept { return task_log().should_log(spdlog::level::debug); }
}  // namespace

const char* to_string(task_status s) noexcept {
  switch (s) {
    case task_status::scheduled: return "scheduled";
    case task_status::running: return "running";
    case task_status::suspended: return "suspended";
    case task_status::done: return "done";
    case task_status::failed: return "failed";
    case task_status::cancelled: return "cancelled";
  }
  return "?";
}

// --- task_state -------------------------------------------------------------

namespace detail {

task_state::task_state(event_loop& loop, std::coroutine_handle<> body, promise_base& promise, exception_fn exc,
                       std::uint64_t id, std::uint64_t spawn_iteration) noexcept
    : ready_node(&run_fn),
      loop_(loop),
      body_(body),
      resume_(body),
      exception_of_(exc),
      root_frame_(&promise.frame()),
      id_(id),
      spawn_iteration_(spawn_iteration) {
  promise.set_root(this);
}

void task_state::run_fn(ready_node* n) noexcept {
  auto* self = static_cast<task_state*>(n);
  event_loop& loop = self->loop_;
  if (!self->started_) {
    self->started_ = true;
    // Cancelled before it ever ran: the body never starts (asyncio does the same).
    if (self->cancel_requested_) {
      self->status_ = task_status::cancelled;
      self->finish();
      return;
    }
  }
  self->status_ = task_status::running;
  self->hook_ = nullptr;
  self->waiting_on_ = nullptr;
  task_state* outer = loop.running_task_;
  loop.running_task_ = self;
  self->resume_.resume();  // may destroy *self (via on_root_done)
  loop.running_task_ = outer;
}

void task_state::wake() noexcept {
  status_ = task_status::scheduled;
  hook_ = nullptr;
  loop_.schedule(*this);
}

bool task_state::cancel() noexcept {
  if (finished()) return false;
  if (task_debug() && !cancel_requested_)
    task_log().debug("task {} '{}': cancellation requested ({})", id_, name_, to_string(status_));
  cancel_requested_ = true;
  cancel_ever_requested_ = true;
  if (hook_) {
    cancel_hook hook = std::exchange(hook_, nullptr);
    hook(hook_ctx_);
  }
  return true;
}

void task_state::add_done_callback(std::function<void()> fn) {
  if (finished())
    loop_.call_soon(std::move(fn));
  else
    callbacks_.push_back(std::move(fn));
}

void task_state::detach() noexcept {
  detached_ = true;
  if (finished()) report_unretrieved();
}

void task_state::release() noexcept {
  if (--refs_ != 0) return;
  if (body_) body_.destroy();
  delete this;
}

void task_state::report_unretrieved() noexcept {
  if (status_ != task_status::failed || retrieved_) return;
  retrieved_ = true;
  std::exception_ptr e = exception_of_(body_);
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    CORIO_LOG_ERROR("task {} '{}' failed and nobody awaited it: {}", id_, name_, ex.what());
  } catch (...) {
    CORIO_LOG_ERROR("task {} '{}' failed and nobody awaited it (non-std exception)", id_, name_);
  }
}

void task_state::finish() noexcept {
  loop_.unlink_live(*this);
  if (status_ == task_status::cancelled) {
    ++loop_.tasks_cancelled_;
    if (task_debug()) task_log().debug("task {} '{}' cancelled", id_, name_);
  }
  hook_ = nullptr;
  waiting_on_ = nullptr;
  // Done callbacks run in registration order, before the joiner resumes.
  auto callbacks = std::move(callbacks_);
  for (auto& cb : callbacks) event_loop::invoke_guarded(cb);
  if (task_state* j = std::exchange(joiner_, nullptr)) j->wake();
  if (detached_) report_unretrieved();
  release();  // the loop's reference
}

void on_root_done(task_state* s) noexcept {
  if (std::exception_ptr e = s->exception_of_(s->body_)) {
    s->status_ = task_status::failed;
    try {
      std::rethrow_exception(e);
    } catch (const cancelled_error&) {
      s->status_ = task_status::cancelled;
    } catch (...) {
    }
  } else {
    s->status_ = task_status::done;
  }
  s->finish();
}

std::vector<source_site> task_state::await_chain() const {
  std::vector<source_site> out;
  if (status_ == task_status::running || !started_) return out;
  for (const await_frame* f = root_frame_; f; f = f->inner) out.push_back(f->site.get());
  return {out.rbegin(), out.rend()};
}

source_site task_state::resume_site() const noexcept {
  if (status_ == task_status::running || !started_) return {};
  source_site s;
  for (const await_frame* f = root_frame_; f; f = f->inner) s = f->site.get();
  return s;
}

task_state& current_task() {
  event_loop* loop = event_loop::current();
  task_state* t = loop ? loop->running_task() : nullptr;
  if (!t) throw std::logic_error("corio: awaited outside a task run by an event_loop (spawn it first)");
  return *t;
}

}  // namespace detail

// --- event_loop ----------------------------------------------------------------

event_loop::event_loop(loop_options options)
    : backend_(make_backend(options.backend)),
      clock_(options.clock ? options.clock : &steady_clock_source::instance()),
      tick_(options.tick > clock_duration::zero() ? options.tick : std::chrono::milliseconds(1)),
      epoch_(clock_->now()),
      wheel_(0),
      stall_threshold_(options.stall_threshold),
      owner_(std::this_thread::get_id()),
      previous_(current_loop_ptr) {
  ignore_sigpipe_once();
  current_loop_ptr = this;
  CORIO_LOG_DEBUG("event loop on backend {}", backend_->name());
}

event_loop::~event_loop() {
  close();
  if (current_loop_ptr == this) current_loop_ptr = previous_;
}

event_loop* event_loop::current() noexcept { return current_loop_ptr; }

event_loop& current_loop() {
  event_loop* l = event_loop::current();
  if (!l) throw std::logic_error("corio: no event_loop on this thread");
  return *l;
}

void event_loop::check_thread(const char* what) const {
  if (std::this_thread::get_id() != owner_)
    throw std::logic_error(std::string("corio: event_loop::") + what + " called from a thread that does not own the loop");
}

detail::task_state* event_loop::adopt(std::coroutine_handle<> body, detail::promise_base& p,
                                      detail::task_state::exception_fn exc, std::string name) {
  if (closed_) throw std::logic_error("corio: spawn on a closed event loop");
  auto* s = new detail::task_state(*this, body, p, exc, next_task_id_++, iterations_);
  if (!name.empty()) s->set_name(std::move(name));
  if (task_debug()) task_log().debug("task {} '{}' created", s->id(), s->name());
  s->add_ref();  // one for the loop, one for the handle
  link_live(*s);
  ready_.push(s);
  ++ready_depth_;
  return s;
}

void event_loop::link_live(detail::task_state& t) noexcept {
  t.prev_live = nullptr;
  t.next_live = live_head_;
  if (live_head_) live_head_->prev_live = &t;
  live_head_ = &t;
  ++live_count_;
}

void event_loop::unlink_live(detail::task_state& t) noexcept {
  if (t.prev_live)
    t.prev_live->next_live = t.next_live;
  else
    live_head_ = t.next_live;
  if (t.next_live) t.next_live->prev_live = t.prev_live;
  t.prev_live = t.next_live = nullptr;
  --live_count_;
}

void event_loop::track(detail::loop_resource& r) noexcept {
  r.prev_resource = nullptr;
  r.next_resource = resources_;
  if (resources_) resources_->prev_resource = &r;
  resources_ = &r;
}

void event_loop::untrack(detail::loop_resource& r) noexcept {
  if (r.prev_resource)
    r.prev_resource->next_resource = r.next_resource;
  else if (resources_ == &r)
    resources_ = r.next_resource;
  if (r.next_resource) r.next_resource->prev_resource = r.prev_resource;
  r.prev_resource = r.next_resource = nullptr;
}

void event_loop::report_callback_error(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    CORIO_LOG_ERROR("exception in callback: {}", ex.what());
  } catch (...) {
    CORIO_LOG_ERROR("exception in callback (non-std exception)");
  }
}

void event_loop::post_threadsafe(detail::ready_node* n) {
  std::lock_guard lock(remote_mutex_);
  bool was_empty = remote_.empty();
  remote_.push(n);
  ++remote_depth_;
  // Only the first post since the loop last looked needs to wake it. Woken
  // under the lock: once it is released the loop may run the callback,
  // finish and destroy its backend before a wake() outside would land.
  if (was_empty) backend_->wake();
}

void event_loop::take_threadsafe() noexcept {
  std::lock_guard lock(remote_mutex_);
  ready_.splice(remote_);
  ready_depth_ += std::exchange(remote_depth_, 0);
}

void event_loop::run_once() {
  run_ready();
  poll_io();
  end_phases();
}

// Charges the time since the last mark to the phase that began there, and
// opens the next phase. One clock read.
void event_loop::mark_phase(bool polling) noexcept {
  auto now = std::chrono::steady_clock::now();
  if (phase_mark_ != std::chrono::steady_clock::time_point{})
    (phase_polling_ ? time_polling_ : time_running_) += now - phase_mark_;
  phase_mark_ = now;
  phase_polling_ = polling;
}

// The loop stops running: close the open phase, so that the time until it
// runs again is charged to nothing.
void event_loop::end_phases() noexcept {
  mark_phase(false);
  phase_mark_ = {};
}

void event_loop::run_ready() noexcept {
  ++iterations_;
  mark_phase(false);
  take_threadsafe();
  // Run what is ready now; what they make ready runs next iteration.
  detail::ready_queue batch;
  batch.splice(ready_);
  if (stall_threshold_) return run_batch_timed(batch);
  while (detail::ready_node* n = batch.pop()) {
    --ready_depth_;
    n->run(n);
  }
}

// run_ready with the stall detector on: each run is timed. What is needed
// of the task for the warning is read before the run (the run may destroy
// it): its id and the co_await it resumes from (a walk of its await chain,
// a few loads).
void event_loop::run_batch_timed(detail::ready_queue& batch) noexcept {
  while (detail::ready_node* n = batch.pop()) {
    --ready_depth_;
    std::uint64_t id = 0;
    source_site from;
    if (detail::task_state::is_task(n)) {
      auto* t = static_cast<detail::task_state*>(n);
      id = t->id();
      from = t->resume_site();
    }
    auto start = std::chrono::steady_clock::now();
    n->run(n);
    auto took = std::chrono::steady_clock::now() - start;
    if (took <= *stall_threshold_) continue;
    ++stalls_;
    report_stall(id, from, took);
  }
}

void event_loop::report_stall(std::uint64_t id, source_site from, clock_duration took) const noexcept {
  auto ms = std::chrono::duration<double, std::milli>(took).count();
  if (id == 0) {
    CORIO_LOG_WARN("stall: a callback held the loop for {:.1f} ms", ms);
    return;
  }
  const detail::task_state* task = nullptr;
  for (detail::task_state* t = live_head_; t; t = t->next_live)
    if (t->id() == id) task = t;
  // The blocking code lies between the co_await it resumed from and the
  // one it suspended at next (or its end).
  try {
  std::string where = from ? fmt::format("from the co_await at {}:{} in {}", from.file, from.line, from.function)
                           : std::string("from its start");
  source_site to = task ? task->resume_site() : source_site{};
  where += to ? fmt::format(" to the co_await at {}:{} in {}", to.file, to.line, to.function)
              : std::string(task ? "" : " to its end");
  CORIO_LOG_WARN("stall: task {} '{}' held the loop for {:.1f} ms, running {}", id,
                 task ? task->name() : std::string("(finished)"), ms, where);
  } catch (...) {  // out of memory for the message: the stall is still counted
  }
}

// Ticks count from the loop's epoch. A deadline maps to the first tick at
// or after it (rounded up) and now maps to the tick it is in (rounded down),
// so a timer never fires before its deadline and at most one tick after.
std::uint64_t event_loop::tick_for(time_point deadline) const noexcept {
  if (deadline <= epoch_) return 0;
  auto since = (deadline - epoch_).count();
  auto t = tick_.count();
  return static_cast<std::uint64_t>(since / t + (since % t != 0));
}

std::optional<clock_duration> event_loop::timer_timeout() const noexcept {
  std::optional<std::uint64_t> next = wheel_.next_expiry();
  if (!next) return std::nullopt;
  time_point due = epoch_ + static_cast<clock_duration::rep>(*next) * tick_;
  time_point now = clock_->now();
  if (due <= now) return clock_duration::zero();
  // A manual clock moves only when told: never sleep for its timers.
  if (clock_->type() == clock_source::kind::manual) return std::nullopt;
  return due - now;
}

void event_loop::fire_timers() noexcept {
  if (wheel_.empty()) return;
  auto since = clock_->now() - epoch_;
  auto now_tick = since.count() <= 0 ? 0 : static_cast<std::uint64_t>(since / tick_);
  wheel_.advance(now_tick);
}

void event_loop::poll_io() {
  if (ready_.empty()) {
    // Nothing to do until a completion, a wake() or the next timer.
    std::optional<clock_duration> timeout = timer_timeout();
    {
      std::lock_guard lock(remote_mutex_);
      if (!remote_.empty()) timeout = clock_duration::zero();
    }
    if (stop_requested_) timeout = clock_duration::zero();
    if (clock_->type() == clock_source::kind::autojump && timeout && *timeout > clock_duration::zero()) {
      // Every task waits. If no I/O is ready either, nothing but time can
      // make progress: jump straight to the next timer.
      mark_phase(true);
      backend_->poll(clock_duration::zero());
      if (ready_.empty()) clock_->jump_to(clock_->now() + *timeout);
    } else {
      mark_phase(true);
      backend_->poll(timeout);
    }
    iterations_since_poll_ = 0;
  } else if (++iterations_since_poll_ >= io_poll_interval) {
    mark_phase(true);
    backend_->poll(clock_duration::zero());
    iterations_since_poll_ = 0;
  } else {
    backend_->flush();  // start this iteration's submissions now, not at the next poll
  }
  fire_timers();
}

void event_loop::run_forever() {
  run_until([] { return false; });
}

void event_loop::cancel_all_and_drain() {
  // Each task is asked once: a task that caught cancelled_error and is
  // cleaning up (awaiting a close, say) must not be interrupted again. Tasks
  // spawned by that cleanup are asked in a later round.
  run_until([this] {
    for (detail::task_state* t = live_head_; t; t = t->next_live)
      if (!t->cancel_ever_requested()) t->cancel();
    return live_count_ == 0;
  });
}

void event_loop::close() {
  if (closed_) return;
  if (running_) throw std::logic_error("corio: close() of a running event loop");
  if (live_count_ > 0) {
    CORIO_LOG_DEBUG("closing the loop: cancelling {} live task(s)", live_count_);
    cancel_all_and_drain();
  }
  // Callbacks still queued run now: they may release resources.
  take_threadsafe();
  while (detail::ready_node* n = ready_.pop()) {
    --ready_depth_;
    n->run(n);
  }
  while (detail::loop_resource* r = resources_) {
    untrack(*r);
    r->on_loop_close();
  }
  closed_ = true;
  backend_.reset();
}

std::vector<task_info> event_loop::all_tasks() const {
  std::vector<task_info> out;
  out.reserve(live_count_);
  for (detail::task_state* t = live_head_; t; t = t->next_live)
    out.push_back({t->id(), t->name(), t->status(), t->waiting_on(), t->await_chain()});
  return out;
}

loop_stats event_loop::stats() const noexcept {
  loop_stats s;
  s.iterations = iterations_;
  s.tasks_alive = live_count_;
  s.tasks_created = next_task_id_ - 1;
  s.tasks_cancelled = tasks_cancelled_;
  s.ready_depth = ready_depth_;
  s.timers_alive = wheel_.size();
  s.stalls = stalls_;
  s.time_polling = time_polling_;
  s.time_running = time_running_;
  return s;
}

void event_loop::dump_tasks(std::FILE* out) const {
  std::fprintf(out, "corio: %zu live task(s) on backend %s, iteration %llu\n", live_count_,
               backend_ ? std::string(backend_->name()).c_str() : "(closed)", static_cast<unsigned long long>(iterations_));
  for (const detail::task_state* t = live_head_; t; t = t->next_live) {
    const char* waits = t->waiting_on();
    std::fprintf(out, "task %llu '%s' %s, age %llu iteration(s), waiting on %s\n",
                 static_cast<unsigned long long>(t->id()), t->name().c_str(), to_string(t->status()),
                 static_cast<unsigned long long>(iterations_ - t->spawn_iteration()), waits ? waits : "-");
    int depth = 0;
    for (const source_site& s : t->await_chain())
      std::fprintf(out, "  #%d %.*s at %s:%u\n", depth++, static_cast<int>(s.function.size()), s.function.data(), s.file,
                   s.line);
  }
  std::fflush(out);
}

}  // namespace corio

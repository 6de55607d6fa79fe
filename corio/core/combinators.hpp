// SPDX-License-Identifier: MIT
//
// Combinators over concurrent tasks: gather, wait, when_any, as_completed
// (a completion_queue), shield and map_bounded (asyncio's gather, wait,
// as_completed, shield, plus "N calls, K at a time").
//
// One primitive under all of them (and under task_group): a
// detail::completion_counter counts the children still running and wakes
// the one task waiting on it, either when the count reaches zero (all()) or
// at the next completion (next()). Children are spawned tasks; each one's
// add_done_callback() calls arrive(index), which records the completion
// order. The counter is held by shared_ptr from the callbacks, so a wait
// that ends early (wait(first_completed), a cancelled shield) leaves nothing
// dangling: later completions only count.
//
// The counter's waits follow the suspension protocol (task_state.hpp) and
// are plain cancellation points: a cancel request ends the wait at once with
// cancelled_error and leaves the children alone. Each combinator then
// decides what cancellation means for it, in ordinary code:
//   gather          cancels every child, waits for all, throws cancelled_error
//   wait, when_any  stop waiting; the caller's handles keep running (asyncio)
//   shield          the outer throws at once; the child keeps running
//   as_completed, completion_queue, bounded_map
//                   next() throws; children keep running until the
//                   generator (or queue) is destroyed, which cancels them
//
// Empty inputs: gather of nothing completes at once with an empty result;
// wait/when_any of nothing throws std::invalid_argument (it could never
// complete); as_completed/map_bounded of nothing yield nullopt at once.
//
// as_completed is an async generator over a completion_queue (the engine,
// usable on its own when a failed child must not end the iteration):
//   auto results = corio::as_completed(std::move(tasks));
//   while (auto v = co_await results.next()) use(*v);
#pragma once

#include <corio/core/async_generator.hpp>
#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/join_handle.hpp>
#include <corio/core/task.hpp>

#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <iterator>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace corio {

// The value a combinator gives for a task<T>: void becomes std::monostate.
template <class T>
using value_or_monostate_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// A child's result or its exception (gather(return_exceptions, ...)).
template <class T>
class outcome {
 public:
  outcome(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  // The value, or rethrows the exception.
  T& value() & {
    if (v_.index() == 1) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  T&& value() && { return std::move(value()); }
  // The exception (nullptr when there is a value).
  std::exception_ptr error() const noexcept { return v_.index() == 1 ? std::get<1>(v_) : nullptr; }

 private:
  std::variant<T, std::exception_ptr> v_;
};

// Tag: gather(return_exceptions, ...) gives outcome<T>s instead of failing
// fast. A tag rather than a runtime option because it changes the result type.
struct return_exceptions_t {
  explicit return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

enum class return_when { first_completed, first_exception, all_completed };

// What wait() returns: indices into the handles given, each in index order.
struct wait_result {
  std::vector<std::size_t> done;
  std::vector<std::size_t> pending;
};

namespace detail {

// See the top of this file. States: waiting for `pending()` children, of
// which those in the arrival queue have finished and not been popped yet.
// At most one task waits on a counter at a time.
class completion_counter {
  struct awaiter;

 public:
  // record_order = false: arrivals are only counted (task_group).
  explicit completion_counter(bool record_order = true) noexcept : record_(record_order) {}
  completion_counter(const completion_counter&) = delete;
  completion_counter& operator=(const completion_counter&) = delete;

  void add() noexcept { ++pending_; }
  // Child `index` finished: counts it and wakes the waiter if it waits for this.
  void arrive(std::size_t index);
  std::size_t pending() const noexcept { return pending_; }
  // The next finished child's index, in completion order.
  std::optional<std::size_t> pop() noexcept;

  // Suspends until pending() == 0. Cancellation point (children untouched).
  awaiter all(const char* what) noexcept { return awaiter{*this, true, what}; }
  // Suspends until an arrival is queued (or nothing is pending).
  awaiter next(const char* what) noexcept { return awaiter{*this, false, what}; }

 private:
  struct awaiter {
    completion_counter& c;
    bool all;
    const char* what;
    task_state* task = nullptr;
    bool cancelled = false;
    bool await_ready() const noexcept { return c.pending_ == 0 || (!all && !c.arrived_.empty()); }
    bool await_suspend(std::coroutine_handle<> h);
    void await_resume() const;
    static void on_cancel(void* self) noexcept;
  };

  std::deque<std::size_t> arrived_;
  task_state* waiter_ = nullptr;
  std::size_t pending_ = 0;
  bool waiter_wants_all_ = true;
  bool record_;
};

// Counts `h` in `c` as child `index`: arrives at once if it already finished.
template <class T>
void watch(join_handle<T>& h, const std::shared_ptr<completion_counter>& c, std::size_t index) {
  c->add();
  if (h.done())
    c->arrive(index);
  else
    h.add_done_callback([c, index] { c->arrive(index); });
}

// The exception a finished handle holds (nullptr on success); marks it seen.
template <class T>
std::exception_ptr error_of(join_handle<T>& h) noexcept {
  if (h.status() == task_status::done) return nullptr;
  try {
    (void)h.result();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

// Runs the children concurrently until all finished; returns each one's
// exception (nullptr = success). fail_fast: the first failure (or
// cancellation) of a child cancels the others and is rethrown once all
// finished. If the caller is cancelled, every child is cancelled and waited
// for, then cancelled_error is thrown.
task<std::vector<std::exception_ptr>> gather_core(std::vector<task<void>> children, bool fail_fast);

template <class T>
task<void> into_slot(task<T> t, std::optional<value_or_monostate_t<T>>& slot) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    slot.emplace();
  } else {
    slot.emplace(co_await std::move(t));
  }
}

// Indexable join_handles (a vector, an array, a span). Spelled without
// std::ranges: clang 14 cannot use libstdc++ 12's ranges concepts.
template <class T>
concept handle_range = requires(T& r, std::size_t i) {
  { std::size(r) } -> std::convertible_to<std::size_t>;
  { r[i].done() } -> std::same_as<bool>;
  r[i].cancel();
  r[i].add_done_callback(std::function<void()>{});
};

template <class T>
concept input_sequence = requires(T& r) {
  std::begin(r) != std::end(r);
  *std::begin(r);
};

}  // namespace detail

// ---------------------------------------------------------------------------
// gather

// Runs the tasks concurrently (each spawned on the current loop) and returns
// their values in argument order; void gives std::monostate.
// The first child to fail (or be cancelled) cancels the others; once all
// finished, its exception is rethrown. Cancelling the awaiting task cancels
// every child and waits for them before cancelled_error propagates.
//
//   auto [user, posts] = co_await corio::gather(fetch_user(id), fetch_posts(id));
template <class... T>
task<std::tuple<value_or_monostate_t<T>...>> gather(task<T>... ts) {
  static_assert((!std::is_reference_v<T> && ...), "corio: gather of task<T&> is not supported");
  std::tuple<std::optional<value_or_monostate_t<T>>...> slots;
  std::vector<task<void>> children;
  children.reserve(sizeof...(T));
  std::apply([&](auto&... s) { (children.push_back(detail::into_slot(std::move(ts), s)), ...); }, slots);
  co_await detail::gather_core(std::move(children), true);
  co_return std::apply([](auto&... s) { return std::tuple<value_or_monostate_t<T>...>(std::move(*s)...); }, slots);
}

// The same without failing fast: every child runs to its end and each
// result is an outcome (value or exception). Cancelling the awaiting task
// still cancels the children and throws cancelled_error.
template <class... T>
task<std::tuple<outcome<value_or_monostate_t<T>>...>> gather(return_exceptions_t, task<T>... ts) {
  static_assert((!std::is_reference_v<T> && ...), "corio: gather of task<T&> is not supported");
  std::tuple<std::optional<value_or_monostate_t<T>>...> slots;
  std::vector<task<void>> children;
  children.reserve(sizeof...(T));
  std::apply([&](auto&... s) { (children.push_back(detail::into_slot(std::move(ts), s)), ...); }, slots);
  std::vector<std::exception_ptr> errors = co_await detail::gather_core(std::move(children), false);
  auto pick = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::tuple<outcome<value_or_monostate_t<T>>...>(
        (errors[I] ? outcome<value_or_monostate_t<T>>(errors[I])
                   : outcome<value_or_monostate_t<T>>(std::move(*std::get<I>(slots))))...);
  };
  co_return pick(std::index_sequence_for<T...>{});
}

// gather over a vector: values in the vector's order. Empty -> empty, at once.
template <class T>
task<std::vector<value_or_monostate_t<T>>> gather(std::vector<task<T>> ts) {
  std::vector<std::optional<value_or_monostate_t<T>>> slots(ts.size());
  std::vector<task<void>> children;
  children.reserve(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) children.push_back(detail::into_slot(std::move(ts[i]), slots[i]));
  co_await detail::gather_core(std::move(children), true);
  std::vector<value_or_monostate_t<T>> out;
  out.reserve(slots.size());
  for (auto& s : slots) out.push_back(std::move(*s));
  co_return out;
}

template <class T>
task<std::vector<outcome<value_or_monostate_t<T>>>> gather(return_exceptions_t, std::vector<task<T>> ts) {
  std::vector<std::optional<value_or_monostate_t<T>>> slots(ts.size());
  std::vector<task<void>> children;
  children.reserve(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) children.push_back(detail::into_slot(std::move(ts[i]), slots[i]));
  std::vector<std::exception_ptr> errors = co_await detail::gather_core(std::move(children), false);
  std::vector<outcome<value_or_monostate_t<T>>> out;
  out.reserve(slots.size());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (errors[i])
      out.emplace_back(errors[i]);
    else
      out.emplace_back(std::move(*slots[i]));
  }
  co_return out;
}

// ---------------------------------------------------------------------------
// wait, when_any

// asyncio.wait: waits on spawned tasks until `when` holds and returns which
// have finished and which have not (indices into `handles`). Never cancels
// the tasks, not even when the awaiting task is cancelled (cancelled_error
// then propagates at once). first_exception = a task failed (cancellation
// is not a failure), or all finished. Throws std::invalid_argument if
// `handles` is empty.
//
//   auto [done, pending] = co_await corio::wait(handles, corio::return_when::first_completed);
template <detail::handle_range R>
task<wait_result> wait(R& handles, return_when when = return_when::all_completed) {
  const std::size_t n = std::size(handles);
  if (n == 0) throw std::invalid_argument("corio: wait() of no tasks (nothing could ever complete)");
  auto c = std::make_shared<detail::completion_counter>();
  for (std::size_t i = 0; i < n; ++i) detail::watch(handles[i], c, i);
  switch (when) {
    case return_when::all_completed:
      co_await c->all("wait");
      break;
    case return_when::first_completed:
      co_await c->next("wait");
      break;
    case return_when::first_exception:
      for (bool failed = false; !failed;) {
        while (auto i = c->pop()) failed = failed || handles[*i].status() == task_status::failed;
        if (failed || c->pending() == 0) break;
        co_await c->next("wait");
      }
      break;
  }
  wait_result r;
  for (std::size_t i = 0; i < n; ++i) (handles[i].done() ? r.done : r.pending).push_back(i);
  co_return r;
}

// The index of the first of `handles` to finish (whichever way). Does not
// cancel the others. Throws std::invalid_argument if `handles` is empty.
template <detail::handle_range R>
task<std::size_t> when_any(R& handles) {
  const std::size_t n = std::size(handles);
  if (n == 0) throw std::invalid_argument("corio: when_any() of no tasks (nothing could ever complete)");
  auto c = std::make_shared<detail::completion_counter>();
  for (std::size_t i = 0; i < n; ++i) detail::watch(handles[i], c, i);
  co_await c->next("when_any");
  co_return *c->pop();
}

// ---------------------------------------------------------------------------
// as_completed

// The engine of as_completed: results of spawned tasks in the order they
// finish. States: running children | finished, not yet taken | taken.
// next() gives the next finished child's value or rethrows its exception
// (the queue stays usable), and nullopt once every child was taken.
// Destroying the queue cancels the children still running (the loop
// finishes them; nothing leaks), unless it was made over borrowed handles.
//
//   corio::completion_queue<std::string> q(std::move(downloads));
//   while (auto page = co_await q.next()) store(*page);
template <class T>
class completion_queue {
 public:
  using value_type = value_or_monostate_t<T>;

  explicit completion_queue(std::vector<task<T>> tasks) {
    handles_.reserve(tasks.size());
    for (auto& t : tasks) handles_.push_back(spawn(std::move(t)));
    for (std::size_t i = 0; i < handles_.size(); ++i) detail::watch(handles_[i], counter_, i);
  }
  // cancel_on_drop = false: the caller keeps its own handles to these tasks
  // and decides their fate.
  explicit completion_queue(std::vector<join_handle<T>> handles, bool cancel_on_drop = true)
      : handles_(std::move(handles)), cancel_on_drop_(cancel_on_drop) {
    for (std::size_t i = 0; i < handles_.size(); ++i) detail::watch(handles_[i], counter_, i);
  }
  completion_queue(completion_queue&&) noexcept = default;
  completion_queue& operator=(completion_queue&&) = delete;
  ~completion_queue() {
    if (!cancel_on_drop_) return;
    for (auto& h : handles_)
      if (h) h.cancel();
  }

  // The next result in completion order; nullopt when all were taken.
  // Rethrows a child's exception (the queue stays usable). Cancelling the
  // awaiting task throws cancelled_error and leaves the children running.
  task<std::optional<value_type>> next() {
    std::optional<join_handle<T>> h = co_await next_finished();
    if (!h) co_return std::nullopt;
    if constexpr (std::is_void_v<T>) {
      h->result();
      co_return std::monostate{};
    } else {
      co_return h->result();
    }
  }
  // The same, handing over the finished child's handle (its value or its
  // exception is then read from it).
  task<std::optional<join_handle<T>>> next_finished() {
    if (taken_ == handles_.size()) co_return std::nullopt;
    co_await counter_->next("as_completed");
    ++taken_;
    co_return std::move(handles_[*counter_->pop()]);
  }
  // Children not taken yet.
  std::size_t remaining() const noexcept { return handles_.size() - taken_; }

 private:
  std::vector<join_handle<T>> handles_;
  std::shared_ptr<detail::completion_counter> counter_ = std::make_shared<detail::completion_counter>();
  std::size_t taken_ = 0;
  bool cancel_on_drop_ = true;
};

namespace detail {
template <class T>
outcome<value_or_monostate_t<T>> outcome_of(join_handle<T>& h) {
  if (h.status() != task_status::done) return outcome<value_or_monostate_t<T>>(error_of(h));
  if constexpr (std::is_void_v<T>)
    return outcome<std::monostate>(std::monostate{});
  else
    return outcome<T>(h.result());
}

// The queue is moved out of the parameter into a local: a parameter lives
// as long as the generator's frame, a local only until the body ends, and a
// failure must cancel the other children when it ends the iteration, not
// when the consumer gets round to dropping the generator.
template <class T>
async_generator<value_or_monostate_t<T>> yield_values(completion_queue<T> queue) {
  completion_queue<T> q = std::move(queue);
  while (std::optional<value_or_monostate_t<T>> v = co_await q.next()) co_yield std::move(*v);
}

template <class T>
async_generator<outcome<value_or_monostate_t<T>>> yield_outcomes(completion_queue<T> queue) {
  completion_queue<T> q = std::move(queue);
  while (std::optional<join_handle<T>> h = co_await q.next_finished()) co_yield outcome_of(*h);
}

template <class T>
std::vector<join_handle<T>> share_all(std::vector<join_handle<T>>& handles) {
  std::vector<join_handle<T>> out;
  out.reserve(handles.size());
  for (auto& h : handles) out.push_back(h.share());
  return out;
}
}  // namespace detail

// as_completed (asyncio.as_completed): an async generator of the tasks'
// values in the order they finish (void gives std::monostate). The tasks
// are spawned at the call, on the current loop.
//
// The first child to fail ends the iteration: its exception comes out of
// next(), and the children still running are cancelled (by the generator's
// end, as when the generator is dropped early). To keep going past
// failures, pass return_exceptions: each item is then an outcome (value or
// exception), and every child is reported. Cancelling the consuming task
// while it waits in next() throws cancelled_error there and cancels the
// children. Empty input: next() gives nullopt at once.
//
//   auto pages = corio::as_completed(std::move(fetches));
//   while (std::optional<std::string> page = co_await pages.next()) store(*page);
//
//   auto all = corio::as_completed(corio::return_exceptions, std::move(fetches));
//   while (auto r = co_await all.next()) if (*r) store(r->value()); else report(r->error());
template <class T>
async_generator<value_or_monostate_t<T>> as_completed(std::vector<task<T>>&& tasks) {
  return detail::yield_values(completion_queue<T>(std::move(tasks)));
}
// Over spawned tasks the generator owns (they are cancelled when it ends early).
template <class T>
async_generator<value_or_monostate_t<T>> as_completed(std::vector<join_handle<T>>&& handles) {
  return detail::yield_values(completion_queue<T>(std::move(handles)));
}
// Over the caller's handles, which must outlive the generator: they are
// never cancelled by it, and a value is copied out (a move-only one is moved
// out, so the handle's own result() no longer has it).
template <class T>
async_generator<value_or_monostate_t<T>> as_completed(std::vector<join_handle<T>>& handles) {
  return detail::yield_values(completion_queue<T>(detail::share_all(handles), false));
}

template <class T>
async_generator<outcome<value_or_monostate_t<T>>> as_completed(return_exceptions_t, std::vector<task<T>>&& tasks) {
  return detail::yield_outcomes(completion_queue<T>(std::move(tasks)));
}
template <class T>
async_generator<outcome<value_or_monostate_t<T>>> as_completed(return_exceptions_t,
                                                               std::vector<join_handle<T>>&& handles) {
  return detail::yield_outcomes(completion_queue<T>(std::move(handles)));
}
template <class T>
async_generator<outcome<value_or_monostate_t<T>>> as_completed(return_exceptions_t,
                                                               std::vector<join_handle<T>>& handles) {
  return detail::yield_outcomes(completion_queue<T>(detail::share_all(handles), false));
}

// ---------------------------------------------------------------------------
// shield

// Awaits a spawned task without passing a cancellation on to it
// (asyncio.shield): if the awaiting task is cancelled, it gets
// cancelled_error at once and the child keeps running.
template <class T>
task<T> shield(join_handle<T>& h) {
  auto c = std::make_shared<detail::completion_counter>(false);
  detail::watch(h, c, 0);
  co_await c->all("shield");
  co_return h.result();
}

// Spawns `t` and shields it. If the awaiting task is cancelled, `t` is
// detached and runs to its end (a failure it has then is logged).
template <class T>
task<T> shield(task<T> t) {
  join_handle<T> h = spawn(std::move(t));
  co_return co_await shield(h);
}

// ---------------------------------------------------------------------------
// map_bounded

// fn(item) for every item of an input, at most `limit` calls in flight,
// results as they complete: "N downloads, K at a time".
//
// States of a slot: free | running | finished, result not taken. A slot is
// freed when next() takes its result; the next item is pulled from the
// input only then (and on the first next()), so the input is read lazily
// and at most `limit` results are ever held. next() returns nullopt once
// the input is exhausted and every result was taken; an empty input gives
// nullopt at once. A failed call's exception is rethrown by the next() that
// takes it; the other calls go on. Destroying the map cancels calls still
// running.
//
//   auto m = corio::map_bounded(urls, 8, [&](std::string url) { return fetch(url); });
//   while (auto page = co_await m.next()) store(*page);
template <class R>
class bounded_map {
 public:
  using value_type = value_or_monostate_t<R>;
  // Pulls the next item and makes its call; nullopt when the input is done.
  using source_fn = std::function<std::optional<task<R>>()>;

  bounded_map(source_fn source, std::size_t limit) : source_(std::move(source)), limit_(limit) {
    if (limit == 0) throw std::invalid_argument("corio: map_bounded() with a limit of 0 would never run anything");
  }
  bounded_map(bounded_map&&) noexcept = default;
  bounded_map& operator=(bounded_map&&) = delete;
  ~bounded_map() {
    for (auto& h : slots_)
      if (h) h.cancel();
  }

  task<std::optional<value_type>> next() {
    fill();
    if (running_ == 0) co_return std::nullopt;
    co_await counter_->next("map_bounded");
    std::size_t slot = *counter_->pop();
    join_handle<R> h = std::move(slots_[slot]);
    free_.push_back(slot);
    --running_;
    fill();  // the freed slot starts the next call before the caller uses this result
    if constexpr (std::is_void_v<R>) {
      h.result();
      co_return std::monostate{};
    } else {
      co_return h.result();
    }
  }
  // Calls started and whose result was not taken yet.
  std::size_t in_flight() const noexcept { return running_; }

 private:
  void fill() {
    while (running_ < limit_ && !exhausted_) {
      std::optional<task<R>> t = source_();
      if (!t) {
        exhausted_ = true;
        break;
      }
      std::size_t slot = slots_.size();
      if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
      } else {
        slots_.emplace_back();
      }
      slots_[slot] = spawn(std::move(*t));
      detail::watch(slots_[slot], counter_, slot);
      ++running_;
    }
  }

  source_fn source_;
  std::vector<join_handle<R>> slots_;
  std::vector<std::size_t> free_;
  std::shared_ptr<detail::completion_counter> counter_ = std::make_shared<detail::completion_counter>();
  std::size_t limit_;
  std::size_t running_ = 0;
  bool exhausted_ = false;
};

namespace detail {
template <class Range, class Fn>
struct map_source {
  // An lvalue is read in place, an rvalue is owned.
  using stored_type = std::conditional_t<std::is_lvalue_reference_v<Range>, Range, std::remove_cvref_t<Range>>;
  using iterator = decltype(std::begin(std::declval<std::remove_reference_t<stored_type>&>()));
  using item_type = std::remove_cvref_t<decltype(*std::declval<iterator&>())>;
  using result_type = typename std::invoke_result_t<Fn&, item_type>::value_type;

  map_source(Range&& r, Fn f) : range(std::forward<Range>(r)), fn(std::move(f)) {}

  // The call's frame keeps the item and the source (hence fn) alive, so fn
  // may take the item by reference and be a capturing lambda.
  static task<result_type> call(std::shared_ptr<map_source> self, item_type item) {
    co_return co_await std::invoke(self->fn, std::move(item));
  }

  stored_type range;
  std::optional<iterator> it;
  bool taken = false;  // *it was handed out; step past it before the next
  Fn fn;
};
}  // namespace detail

// See bounded_map. `input` is any input range (a vector, a view, a
// generator); an lvalue is read in place and must outlive the map, an
// rvalue is moved into it. fn(item) must return a task<R>.
template <class Range, class Fn>
  requires detail::input_sequence<std::remove_reference_t<Range>>
auto map_bounded(Range&& input, std::size_t limit, Fn fn) {
  using source = detail::map_source<Range, Fn>;
  using R = typename source::result_type;
  auto src = std::make_shared<source>(std::forward<Range>(input), std::move(fn));
  return bounded_map<R>(
      [src]() -> std::optional<task<R>> {
        // Step past the item taken last time only now that another is
        // wanted: over a generator reading a pipe or a socket, stepping
        // right after taking one would wait for a line nobody needs yet.
        if (!src->it)
          src->it.emplace(std::begin(src->range));
        else if (src->taken)
          ++*src->it;
        src->taken = false;
        if (*src->it == std::end(src->range)) return std::nullopt;
        auto item = static_cast<typename source::item_type>(**src->it);
        src->taken = true;
        return source::call(src, std::move(item));
      },
      limit);
}

}  // namespace corio

// SPDX-License-Identifier: MIT
//
// do_some_work: three tasks that sleep 1, 2 and 3 s, each with a done
// callback, gathered; about 3 s in all, not 6. Ctrl-C cancels every task
// and the program exits cleanly, saying which were cancelled. The Python
// original:
//
//   async def do_some_work(x):
//       print('Waiting: ', x)
//       await asyncio.sleep(x)
//       return 'Done after {}s'.format(x)
//
//   def callback(future):
//       print('Callback: ', future.result())
//
//   async def main():
//       tasks = [asyncio.create_task(do_some_work(x)) for x in (1, 2, 3)]
//       for task in tasks:
//           task.add_done_callback(callback)
//       for result in await asyncio.gather(*tasks):
//           print('Task ret: ', result)
//
//   start = time.time()
//   try:
//       asyncio.run(main())
//   except KeyboardInterrupt:
//       ...                       # every task was cancelled by asyncio.run
//   print('TIME: ', time.time() - start)
//
// Ctrl-C: corio::run() turns the first SIGINT into a cancellation of the
// main task. gather() passes it on to its children and waits for them, so
// each sleep ends with cancelled_error and each done callback runs (it sees
// a cancelled task); then run() throws corio::interrupted, caught in main().
//
//   do_some_work [--scale F]   sleeps x * F seconds (also CORIO_TOUR_SCALE=F)
#include <corio/corio.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using seconds = std::chrono::duration<double>;

double scale = 1.0;

// What a task returns. A plain value on purpose: join_handle::result()
// moves the value out (it is std::future::get, not Python's
// Future.result()), and this program reads each result twice, in the
// callback and after gather. Moving a trivially copyable value copies it.
struct done_after {
  int seconds;
};

corio::task<done_after> do_some_work(int x) {
  std::printf("Waiting:  %d\n", x);
  co_await corio::sleep(seconds(x * scale));
  co_return done_after{x};
}

// asyncio.gather takes tasks that already run; corio::gather takes task<T>s
// and spawns them itself. Awaiting the handle from a task bridges the two,
// and keeps asyncio's cancellation: if the awaiting task is cancelled, so is
// the task it awaits. `h` is a reference kept across the co_await: the
// handle must outlive this task, as amain's vector does.
template <class T>
corio::task<T> join(corio::join_handle<T>& h) {
  co_return co_await h;
}

corio::task<void> amain() {
  std::vector<corio::join_handle<done_after>> tasks;
  tasks.reserve(3);  // the callbacks hold references into the vector
  for (int x : {1, 2, 3}) tasks.push_back(corio::spawn(do_some_work(x), "do_some_work(" + std::to_string(x) + ")"));

  // A done callback gets no argument: it captures what it needs. The
  // reference to the handle stays valid because `tasks` outlives every
  // task (gather below waits for all of them, even when cancelled).
  for (auto& task : tasks) {
    task.add_done_callback([&task] {
      if (task.cancelled())
        std::printf("Cancelled:  %s\n", task.name().c_str());
      else
        std::printf("Callback:  Done after %ds\n", task.result().seconds);
    });
  }

  std::vector<corio::task<done_after>> joins;
  for (auto& task : tasks) joins.push_back(join(task));
  for (done_after r : co_await corio::gather(std::move(joins))) std::printf("Task ret:  Done after %ds\n", r.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, even into a pipe
  if (const char* s = std::getenv("CORIO_TOUR_SCALE")) scale = std::atof(s);
  CLI::App app{"three sleeping tasks, gathered; Ctrl-C cancels them"};
  app.add_option("--scale", scale, "multiply every sleep by this")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return seconds(std::chrono::steady_clock::now() - start).count(); };
  try {
    corio::run(amain());
  } catch (const corio::interrupted&) {
    std::printf("Interrupted after %.2f s: the tasks still running were cancelled\n", elapsed());
    return 130;  // 128 + SIGINT, the shell's convention for "stopped by Ctrl-C"
  }
  std::printf("TIME:  %.2f\n", elapsed());
}

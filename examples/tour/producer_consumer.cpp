// SPDX-License-Identifier: MIT
//
// producer_consumer: producers and consumers joined by a bounded queue,
// shut down by closing it. The Python original (asyncio.Queue):
//
//   async def producer(queue, p, n):
//       for x in range(n):
//           await queue.put(f'p{p}-{x}')    # waits while the queue is full
//
//   async def consumer(queue, c):
//       while True:
//           item = await queue.get()
//           await asyncio.sleep(0.001)     # the work
//           queue.task_done()
//
//   async def main():
//       queue = asyncio.Queue(maxsize=4)
//       consumers = [asyncio.create_task(consumer(queue, c)) for c in range(3)]
//       await asyncio.gather(*(producer(queue, p, 10) for p in range(2)))
//       await queue.join()                 # every item processed
//       for c in consumers: c.cancel()     # then stop the consumers
//
// asyncio.Queue cannot be closed (before Python 3.13's shutdown()), hence
// join() and cancelling the consumers. corio::channel<T> can: once the
// producers are done the channel is closed; the consumers drain what is
// left and their receive() then returns std::nullopt, so they end by
// themselves, with no cancellation. A send() on a closed channel throws
// channel_closed. task_group waits for each group of tasks (TaskGroup).
//
//   producer_consumer [--producers 2] [--consumers 3] [--items 10] [--capacity 4]
#include <corio/corio.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct tally {
  std::size_t produced = 0;
  std::size_t consumed = 0;
  std::size_t max_buffered = 0;
};

corio::task<void> producer(corio::channel<std::string>& queue, int p, int n, tally& t) {
  for (int x = 0; x < n; ++x) {
    co_await queue.send("p" + std::to_string(p) + "-" + std::to_string(x));  // suspends while full
    ++t.produced;
    if (queue.size() > t.max_buffered) t.max_buffered = queue.size();
  }
  std::printf("producer %d: sent %d items\n", p, n);
}

corio::task<void> consumer(corio::channel<std::string>& queue, int c, tally& t) {
  int mine = 0;
  while (std::optional<std::string> item = co_await queue.receive()) {  // nullopt: closed and drained
    co_await corio::sleep(1ms);                                         // the work
    ++mine;
    ++t.consumed;
  }
  std::printf("consumer %d: channel closed and drained after %d items\n", c, mine);
}

// `t` is a reference into main()'s frame, which outlives run(): a coroutine
// keeps a reference parameter as a reference across every co_await, so what
// it refers to must outlive the task (the ints are copied into the frame).
corio::task<void> amain(int producers, int consumers, int items, std::size_t capacity, tally& t) {
  corio::channel<std::string> queue(capacity);
  co_await corio::task_group::run([&](corio::task_group& all) -> corio::task<void> {
    for (int c = 0; c < consumers; ++c) all.spawn(consumer(queue, c, t));
    co_await corio::task_group::run([&](corio::task_group& producing) -> corio::task<void> {
      for (int p = 0; p < producers; ++p) producing.spawn(producer(queue, p, items, t));
      co_return;
    });
    queue.close();  // every producer has finished: no more items
  });

  try {
    co_await queue.send("late");
  } catch (const corio::channel_closed& e) {
    std::printf("send after close: %s\n", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  int producers = 2, consumers = 3, items = 10;
  std::size_t capacity = 4;
  CLI::App app{"producers and consumers over a bounded corio::channel"};
  app.add_option("--producers", producers)->check(CLI::NonNegativeNumber);
  app.add_option("--consumers", consumers)->check(CLI::PositiveNumber);
  app.add_option("--items", items, "items per producer")->check(CLI::NonNegativeNumber);
  app.add_option("--capacity", capacity, "the channel's bound (0: rendezvous)");
  CLI11_PARSE(app, argc, argv);

  tally t;
  corio::run(amain(producers, consumers, items, capacity, t));
  std::printf("produced %zu, consumed %zu, at most %zu buffered (capacity %zu)\n", t.produced, t.consumed,
              t.max_buffered, capacity);
  return t.produced == t.consumed ? 0 : 1;
}

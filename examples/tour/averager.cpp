// SPDX-License-Identifier: MIT
//
// averager: the running average as a "classic coroutine", a generator that
// is sent values (Fluent Python's coroaverager). The Python original:
//
//   Result = namedtuple('Result', 'count average')
//
//   def averager():
//       total, count, average = 0.0, 0, None
//       while True:
//           term = yield average
//           if term is None:
//               break
//           total += term
//           count += 1
//           average = total / count
//       return Result(count, average)
//
//   coro_avg = averager()
//   next(coro_avg)                  # prime it
//   coro_avg.send(10)               # 10.0
//   coro_avg.send(30)               # 20.0
//   coro_avg.send(6.5)              # 15.5
//   try:
//       coro_avg.send(None)
//   except StopIteration as exc:
//       result = exc.value          # Result(count=3, average=15.5)
//
// corio::coroutine<Yield, Send, Return> is that generator: `co_yield`
// evaluates to what the caller sends (std::nullopt stands for None),
// send() returns what the body yields next, and finish() sends the end
// marker and hands back what the body co_returns: StopIteration.value
// without the exception. It needs no event loop: it runs on the caller's
// stack, like a Python generator.
#include <corio/core/coroutine.hpp>

#include <charconv>
#include <cstdio>
#include <optional>
#include <string>

namespace {

struct result {
  int count;
  double average;
};

corio::coroutine<double, double, result> averager() {
  double total = 0;
  int count = 0;
  double average = 0;  // Python yields None before the first term; 0 here
  while (std::optional<double> term = co_yield average) {
    total += *term;
    ++count;
    average = total / count;
  }
  co_return result{count, average};
}

// Python's repr of a float: the shortest digits that read back the same,
// with ".0" on whole numbers.
std::string py_float(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

int main() {
  auto coro_avg = averager();
  coro_avg.next();  // primes it: runs the body to its first co_yield
  for (double term : {10.0, 30.0, 6.5}) std::printf("%s\n", py_float(*coro_avg.send(term)).c_str());
  result r = coro_avg.finish();
  std::printf("Result(count=%d, average=%s)\n", r.count, py_float(r.average).c_str());
}

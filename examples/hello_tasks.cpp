// SPDX-License-Identifier: MIT
//
// The first program of the README: two tasks spawned, both awaited.
#include <corio/corio.hpp>

#include <cstdio>

corio::task<int> count_to(const char* name, int n) {
  int sum = 0;
  for (int i = 1; i <= n; ++i) sum += i;
  std::printf("%s counted to %d\n", name, n);
  co_return sum;
}

corio::task<int> amain() {
  auto a = corio::spawn(count_to("a", 10));
  auto b = corio::spawn(count_to("b", 100));
  int total = co_await a + co_await b;
  std::printf("total %d\n", total);
  co_return 0;
}

int main() { return corio::run(amain()); }

// SPDX-License-Identifier: MIT
//
// fetch_many: five concurrent GETs through one client_session, each body
// printed as its response completes, then the total time. With no URL on
// the command line the program starts its own http server in the same loop
// (on 127.0.0.1, any free port), whose /hello answers "Hello World:<time>"
// after a short wait, and fetches that five times: about one wait in all,
// not five. The Python original, with aiohttp:
//
//   async def hello(request):                      # the server
//       await asyncio.sleep(0.5)
//       return web.Response(text='Hello World:' + time.strftime('%H:%M:%S'))
//
//   async def fetch(session, url):
//       async with session.get(url) as response:
//           return await response.text()
//
//   async def main(urls):
//       async with aiohttp.ClientSession() as session:
//           for coro in asyncio.as_completed([fetch(session, url) for url in urls]):
//               print(await coro)
//
//   start = time.time()
//   asyncio.run(main(['http://127.0.0.1:8080/hello'] * 5))
//   print('TIME: ', time.time() - start)
//
// One session for all the requests, as aiohttp advises: it owns the pool of
// keep-alive connections. corio::as_completed spawns the five fetches and is
// an async generator of their results in the order they finish; with
// return_exceptions each result is an outcome, so that a fetch that fails
// (an unreachable URL) is reported on stderr and the others go on; the exit
// status is then 1.
//
//   fetch_many [--delay S] [URL...]   S: the local server's wait (0.5 s)
#include <corio/corio.hpp>
#include <corio/net/http/client.hpp>
#include <corio/net/http/server.hpp>
#include <corio/net/tcp.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace {

using seconds = std::chrono::duration<double>;

double delay = 0.5;

// "12:34:56.789", local time.
std::string now_hms() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return std::string(buf) + "." + std::to_string(1000 + ms).substr(1);
}

// The server's one route. A handler fills in the response rather than
// returning one (server.hpp says why).
corio::task<void> hello(corio::http::server_request&, corio::http::server_response& res) {
  co_await corio::sleep(seconds(delay));
  res.set_body("Hello World:" + now_hms(), "text/plain");
}

// `session` is a reference kept across co_await: the session must outlive
// every fetch, as amain's does (the generator is drained before it dies).
corio::task<std::string> fetch(corio::http::client_session& session, std::string url) {
  corio::http::response r = co_await session.get(std::move(url));
  co_return co_await r.text();
}

corio::task<int> amain(std::vector<std::string> urls) {
  // No URL: serve /hello on this loop, on a free port, and fetch it 5 times.
  corio::http::server srv;
  std::optional<corio::join_handle<void>> serving;
  if (urls.empty()) {
    srv.route("GET", "/hello", hello);
    auto listener = corio::net::tcp_listener::bind(corio::net::address::loopback_v4(0));
    std::string url = "http://" + listener.local_address().to_string() + "/hello";
    urls.assign(5, url);
    serving = corio::spawn(srv.serve(std::move(listener)), "http server");
  }

  int status = 0;
  {
    corio::http::client_session session;
    std::vector<corio::task<std::string>> fetches;
    for (const auto& url : urls) fetches.push_back(fetch(session, url));
    auto results = corio::as_completed(corio::return_exceptions, std::move(fetches));
    while (auto r = co_await results.next()) {
      try {
        std::string body = std::move(*r).value();
        if (!body.empty() && body.back() == '\n') body.pop_back();
        std::printf("%s\n", body.c_str());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "fetch_many: %s\n", e.what());
        status = 1;
      }
    }
  }

  if (serving) {
    srv.stop();  // graceful: idle keep-alive connections close at once
    co_await *serving;
  }
  co_return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, even into a pipe
  std::vector<std::string> urls;
  CLI::App app{"five concurrent GETs through one client_session, printed as they complete"};
  app.add_option("--delay", delay, "the local server's wait before it answers, in seconds")
      ->check(CLI::NonNegativeNumber);
  app.add_option("urls", urls, "URLs to fetch instead of the local server's /hello (5 times)");
  CLI11_PARSE(app, argc, argv);

  auto start = std::chrono::steady_clock::now();
  int status = 0;
  try {
    status = corio::run(amain(std::move(urls)));
  } catch (const corio::interrupted&) {
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fetch_many: %s\n", e.what());
    return 1;
  }
  std::printf("TIME:  %.2f\n", seconds(std::chrono::steady_clock::now() - start).count());
  return status;
}

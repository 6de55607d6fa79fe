// SPDX-License-Identifier: MIT
//
// client_session against raw test servers: coroutines on 127.0.0.1:0 in the
// same loop, each a few lines of canned bytes, so that hostile cases (a
// reset mid-body, a stale keep-alive connection, a server that never
// answers) are exact. Every case is bounded in time by client timeouts, and
// ends with the loop drained and no fd leaked (run_test).
#include <corio/net/http/client.hpp>

#include "../net_test_support.hpp"

#include <corio/config.hpp>
#include <corio/core/combinators.hpp>
#include <corio/core/task_group.hpp>
#include <corio/core/time.hpp>
#include <corio/net/buffered.hpp>
#include <corio/net/http/gzip.hpp>
#include <corio/net/http/tls_stream.hpp>
#include <corio/net/tcp.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using corio::task;
using corio::http::client_options;
using corio::http::client_session;
using corio::http::fields;
using corio::http::http_error;
using corio::http::response;
using corio::net::address;
using corio::net::buffered_reader;
using corio::net::tcp_listener;
using corio::net::tcp_stream;
using corio::test::run_test;

namespace {

struct request_seen {
  std::string method;
  std::string target;
  std::string head;
  std::string body;
  std::string header(std::string_view name) const {
    std::string lower_head = head, key = "\r\n" + std::string(name) + ":";
    std::transform(lower_head.begin(), lower_head.end(), lower_head.begin(), ::tolower);
    std::transform(key.begin(), key.end(), key.begin(), ::tolower);
    auto at = lower_head.find(key);
    if (at == std::string::npos) return "(none)";
    auto start = at + key.size();
    auto end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    return v.substr(v.find_first_not_of(' '));
  }
};

struct server;
// Answers one request; false ends the connection.
using handler = task<bool> (*)(server&, tcp_stream&, const request_seen&, int conn, int nth);

struct server {
  tcp_listener l = tcp_listener::bind(address::loopback_v4(0));
  handler h;
  int accepts = 0;
  int in_flight = 0;
  int max_in_flight = 0;
  std::vector<request_seen> requests;
  std::string extra;  // per-test data for handlers

  explicit server(handler fn) : h(fn) {}
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(l.local_address().port()) + std::string(path);
  }
};

template <class Stream>
task<std::optional<request_seen>> read_request(buffered_reader<Stream>& in) {
  std::optional<std::string_view> head;
  try {
    head = co_await in.read_until("\r\n\r\n");
  } catch (const std::exception&) {
    co_return std::nullopt;
  }
  if (!head) co_return std::nullopt;
  request_seen r;
  r.head = std::string(*head);
  r.method = r.head.substr(0, r.head.find(' '));
  auto t = r.head.find(' ') + 1;
  r.target = r.head.substr(t, r.head.find(' ', t) - t);
  std::string cl = r.header("content-length");
  if (cl != "(none)") {
    r.body.resize(std::stoul(cl));
    co_await in.read_exact(std::as_writable_bytes(std::span(r.body.data(), r.body.size())));
  }
  co_return r;
}

task<void> serve_conn(server& sv, tcp_stream s, int conn) {
  buffered_reader<tcp_stream> in(s);
  for (int n = 0;; ++n) {
    auto req = co_await read_request(in);
    if (!req) co_return;
    sv.requests.push_back(*req);
    ++sv.in_flight;
    sv.max_in_flight = std::max(sv.max_in_flight, sv.in_flight);
    bool go_on = false;
    try {
      go_on = co_await sv.h(sv, s, *req, conn, n);
    } catch (...) {
    }
    --sv.in_flight;
    if (!go_on) co_return;
  }
}

task<void> run_server(server& sv) {
  co_await corio::task_group::run([&sv](corio::task_group& g) -> task<void> {
    for (;;) {
      tcp_stream s = co_await sv.l.accept();
      g.spawn(serve_conn(sv, std::move(s), sv.accepts++));
    }
  });
}

// Cancels a test server and waits until it (and every connection task)
// has unwound, so that nothing touches the server's state afterwards.
task<void> stop(corio::join_handle<void>& h) {
  h.cancel();
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
  }
}

std::string ok(std::string_view body, std::string_view extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) +
         "\r\n" + std::string(body);
}

task<bool> echo_target(server&, tcp_stream& s, const request_seen& r, int, int) {
  co_await s.write_all(ok(r.method + " " + r.target + " " + r.body));
  co_return true;
}

// Answers the first request of a connection, then drops the second unanswered:
// what a server that closed an idle keep-alive connection looks like.
task<bool> answer_once_then_drop(server&, tcp_stream& s, const request_seen& r, int, int nth) {
  if (nth == 1) {
    s.close();
    co_return false;
  }
  co_await s.write_all(ok(r.target));
  co_return true;
}

client_options quick() {
  client_options o;
  o.timeouts.connect = 2s;
  o.timeouts.read = 5s;
  return o;
}

// Sends `bytes` raw, then closes (or resets with SO_LINGER 0).
task<bool> raw_then_close(tcp_stream& s, std::string bytes, bool reset) {
  co_await s.write_all(bytes);
  if (reset) {
    ::linger lg{1, 0};
    ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  s.close();
  co_return false;
}

std::uint64_t fnv1a(std::uint64_t h, std::span<const std::byte> data) {
  for (std::byte b : data) h = (h ^ static_cast<std::uint8_t>(b)) * 1099511628211ull;
  return h;
}

std::string pattern(std::size_t n, std::uint32_t seed) {
  std::string v(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (char& c : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return v;
}

std::filesystem::path temp_dir(const char* name) {
  auto p = std::filesystem::temp_directory_path() / ("corio-client-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// HACK(gcc-12): `"/" + std::to_string(i)` trips a false -Wrestrict
// (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105329).
std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

// HACK(gcc-12): a braced list inside a co_await expression fails to compile
// ("array used as initializer"); build the fields outside it.
fields one_field(std::string name, std::string value) {
  fields f;
  f.add(std::move(name), std::move(value));
  return f;
}

template <class E>
task<std::string> expect_throw(task<std::string> t) {
  try {
    co_await std::move(t);
  } catch (const E& e) {
    co_return std::string(e.what());
  }
  FAIL("no exception");
  co_return "";
}

// A self-signed certificate made at test time by the openssl command, for
// the given subjectAltName. False if openssl is not there.
bool make_cert(const std::filesystem::path& dir, const std::string& san) {
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=corio-test"
                    " -addext subjectAltName=" + san + " -keyout " + (dir / "key.pem").string() + " -out " +
                    (dir / "cert.pem").string() + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Serves `count` TLS connections: one request each, answered "secure <target>".
task<void> tls_server(tcp_listener& l, std::shared_ptr<corio::http::tls_context> ctx, int count) {
  for (int i = 0; i < count; ++i) {
    tcp_stream s = co_await l.accept();
    try {
      corio::http::tls_stream t = co_await corio::http::tls_stream::accept(std::move(s), ctx);
      buffered_reader<corio::http::tls_stream> in(t);
      auto req = co_await read_request(in);
      if (req) co_await t.write_all(ok("secure " + req->target));
      t.close();
    } catch (const std::exception&) {
    }
  }
}

task<std::string> fetch_text(client_session& c, std::string url) {
  response r = co_await c.get(url);
  co_return co_await r.text();
}


// --- real servers, as child processes --------------------------------------------

// A process started by a test and stopped by PID (SIGTERM, then waited for)
// when the test ends, its output sent to /dev/null.
struct child_process {
  pid_t pid = -1;
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() { stop(); }
  bool start(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid = -1;
    return rc == 0;
  }
  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
  }
};

// A loopback port nobody listens on right now (the kernel's choice for port 0).
std::uint16_t free_port() {
  auto l = tcp_listener::bind(address::loopback_v4(0));
  return l.local_address().port();
}

// Polls until something accepts on 127.0.0.1:port, for at most 10 s.
bool wait_for_port(std::uint16_t port, pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // it exited
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (up) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

bool have_program(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

void write_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

// nginx in the foreground (no master, no daemon) on a free loopback port,
// serving `www` with gzip on, and a few redirects.
struct nginx_server {
  std::filesystem::path dir;
  std::uint16_t port = 0;
  child_process proc;
  bool start(const std::filesystem::path& d) {
    dir = d;
    if (!have_program("nginx")) return false;
    std::filesystem::create_directories(dir / "www");
    std::filesystem::create_directories(dir / "tmp");
    port = free_port();
    std::string t = (dir / "tmp").string();
    std::string conf = "worker_processes 1; master_process off; daemon off;\n"
                       "pid " + (dir / "nginx.pid").string() + ";\n"
                       "error_log " + (dir / "error.log").string() + " warn;\n"
                       "events { worker_connections 256; }\n"
                       "http {\n access_log off; default_type application/octet-stream; keepalive_requests 10000;\n"
                       " client_body_temp_path " + t + "; proxy_temp_path " + t + "; fastcgi_temp_path " + t +
                       "; uwsgi_temp_path " + t + "; scgi_temp_path " + t + ";\n"
                       " gzip on; gzip_min_length 0; gzip_types text/plain;\n"
                       " types { text/plain txt; application/octet-stream bin; }\n"
                       " server {\n  listen 127.0.0.1:" + std::to_string(port) + ";\n"
                       "  root " + (dir / "www").string() + ";\n"
                       "  location = /moved { return 301 /a.bin; }\n"
                       "  location = /relative { absolute_redirect off; return 302 b.txt; }\n"
                       "  location = /loop1 { return 302 /loop2; }\n"
                       "  location = /loop2 { return 302 /loop1; }\n"
                       " }\n}\n";
    write_file(dir / "nginx.conf", conf);
    if (!proc.start({"nginx", "-p", dir.string(), "-c", (dir / "nginx.conf").string(), "-e",
                     (dir / "error.log").string()}))
      return false;
    return wait_for_port(port, proc.pid);
  }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
  }
};

task<std::string> get_text(client_session& c, std::string url, fields h = {}) {
  response r = co_await c.get(std::move(url), std::move(h));
  co_return co_await r.text();
}

}  // namespace

TEST_SUITE("http_client") {
  TEST_CASE("three requests on one keep-alive connection need one accept") {
    run_test([]() -> task<void> {
      server sv(echo_target);
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      for (int i = 0; i < 3; ++i) {
        response r = co_await c.get(sv.url(numbered("/n", i)));
        CHECK(r.status() == 200);
        CHECK(co_await r.text() == "GET " + numbered("/n", i) + " ");
      }
      CHECK(sv.accepts == 1);
      CHECK(c.pool().connects() == 1);
      CHECK(c.pool().idle_count() == 1);
      CHECK(sv.requests[0].header("user-agent") == "corio/" + std::string(CORIO_VERSION));
      CHECK(sv.requests[0].header("host") == "127.0.0.1:" + std::to_string(sv.l.local_address().port()));
      co_await stop(srv);
    });
  }

  TEST_CASE("a POST carries its body and a Content-Length, and default headers are sent") {
    run_test([]() -> task<void> {
      server sv(echo_target);
      auto srv = corio::spawn(run_server(sv));
      client_options o = quick();
      o.default_headers.add("X-Team", "corio");
      client_session c(o);
      response r = co_await c.post(sv.url("/submit"), "payload", one_field("Content-Type", "text/plain"));
      CHECK(co_await r.text() == "POST /submit payload");
      CHECK(sv.requests[0].header("content-length") == "7");
      CHECK(sv.requests[0].header("x-team") == "corio");
      CHECK(sv.requests[0].header("content-type") == "text/plain");
      co_await stop(srv);
    });
  }

  TEST_CASE("the per-host limit caps connections in flight, observed by the server") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        co_await corio::sleep(5ms);
        co_await s.write_all(ok(r.target));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_options o = quick();
      o.pool.limit_per_host = 3;
      client_session c(o);
      std::vector<int> items(60);
      for (int i = 0; i < 60; ++i) items[i] = i;
      auto m = corio::map_bounded(items, 20, [&](int i) { return fetch_text(c, sv.url(numbered("/", i))); });
      int done = 0;
      while (auto body = co_await m.next()) {
        CHECK(body->front() == '/');
        ++done;
      }
      CHECK(done == 60);
      CHECK(sv.max_in_flight == 3);
      CHECK(sv.accepts <= 3);
      co_await stop(srv);
    });
  }

  TEST_CASE("1000 downloads through map_bounded with a per-host limit of 4 reuse at most 4 connections") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        co_await s.write_all(ok(r.target));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_options o = quick();
      o.pool.limit_per_host = 4;
      client_session c(o);
      std::vector<int> items(1000);
      for (int i = 0; i < 1000; ++i) items[i] = i;
      auto m = corio::map_bounded(items, 64, [&](int i) { return fetch_text(c, sv.url(numbered("/", i))); });
      std::size_t bytes = 0;
      while (auto body = co_await m.next()) bytes += body->size();
      CHECK(sv.requests.size() == 1000);
      CHECK(sv.max_in_flight <= 4);
      CHECK(sv.accepts <= 4);
      CHECK(bytes > 1000);
      co_await stop(srv);
    });
  }

  TEST_CASE("the total limit caps connections across hosts") {
    run_test([]() -> task<void> {
      // Requests in flight over both servers together.
      static int in_flight, max_in_flight;
      in_flight = max_in_flight = 0;
      auto slow = +[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        max_in_flight = std::max(max_in_flight, ++in_flight);
        co_await corio::sleep(5ms);
        --in_flight;
        co_await s.write_all(ok(r.target));
        co_return true;
      };
      server a(slow), b(slow);
      auto sa = corio::spawn(run_server(a));
      auto sb = corio::spawn(run_server(b));
      client_options o = quick();
      o.pool.limit = 2;
      client_session c(o);
      std::vector<int> items(20);
      for (int i = 0; i < 20; ++i) items[i] = i;
      auto m = corio::map_bounded(items, 10, [&](int i) { return fetch_text(c, (i % 2 ? a : b).url("/x")); });
      while (co_await m.next()) {
      }
      CHECK(max_in_flight == 2);
      CHECK(c.pool().open_count() <= 2);
      co_await stop(sa);
      co_await stop(sb);
    });
  }

  TEST_CASE("a GET on a keep-alive connection the server closed is retried once on a new connection") {
    run_test([]() -> task<void> {
      server sv(answer_once_then_drop);
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      CHECK(co_await fetch_text(c, sv.url("/a")) == "/a");
      CHECK(co_await fetch_text(c, sv.url("/b")) == "/b");
      CHECK(sv.accepts == 2);
      CHECK(sv.requests.size() == 3);
      co_await stop(srv);
    });
  }

  TEST_CASE("a POST on a connection the server closed is not replayed") {
    run_test([]() -> task<void> {
      server sv(answer_once_then_drop);
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      CHECK(co_await fetch_text(c, sv.url("/a")) == "/a");
      bool failed = false;
      try {
        response r = co_await c.post(sv.url("/b"), "x");
      } catch (const std::exception& e) {
        failed = true;
        CHECK(std::string(e.what()).find("POST http://127.0.0.1:") != std::string::npos);
      }
      CHECK(failed);
      CHECK(sv.requests.size() == 2);
      co_await stop(srv);
    });
  }

  TEST_CASE("redirects 301, 302 and 303 turn a POST into a GET without a body; 307 and 308 keep both") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        if (r.target.starts_with("/r/")) {
          std::string code = r.target.substr(3);
          co_await s.write_all("HTTP/1.1 " + code + " Moved\r\nLocation: ../final\r\nContent-Length: 5\r\n\r\nmoved");
          co_return true;
        }
        co_await s.write_all(ok(r.method + " " + r.target + " [" + r.body + "] " + r.header("content-type")));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      for (std::string code : {"301", "302", "303"}) {
        response r = co_await c.request("POST", sv.url("/r/" + code), one_field("Content-Type", "text/plain"), "data");
        CHECK(r.status() == 200);
        CHECK(r.redirects() == 1);
        CHECK(r.url().path() == "/final");
        CHECK(co_await r.text() == "GET /final [] (none)");
      }
      for (std::string code : {"307", "308"}) {
        response r = co_await c.request("POST", sv.url("/r/" + code), one_field("Content-Type", "text/plain"), "data");
        CHECK(co_await r.text() == "POST /final [data] text/plain");
      }
      CHECK(sv.accepts == 1);  // redirect bodies were drained, the connection reused
      co_await stop(srv);
    });
  }

  TEST_CASE("a redirect loop and a chain longer than the limit are errors") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        if (r.target == "/loop/a") co_await s.write_all("HTTP/1.1 302 F\r\nLocation: /loop/b\r\nContent-Length: 0\r\n\r\n");
        if (r.target == "/loop/b") co_await s.write_all("HTTP/1.1 302 F\r\nLocation: /loop/a\r\nContent-Length: 0\r\n\r\n");
        if (r.target.starts_with("/chain/")) {
          int n = std::stoi(r.target.substr(7));
          co_await s.write_all("HTTP/1.1 307 F\r\nLocation: /chain/" + std::to_string(n + 1) +
                               "\r\nContent-Length: 0\r\n\r\n");
        }
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      std::string loop = co_await expect_throw<http_error>(fetch_text(c, sv.url("/loop/a")));
      CHECK(loop.find("redirect loop") != std::string::npos);
      std::string chain = co_await expect_throw<http_error>(fetch_text(c, sv.url("/chain/0")));
      CHECK(chain.find("too many redirects") != std::string::npos);
      CHECK(sv.requests.size() == 2 + 11);
      corio::http::request_options no_follow;
      no_follow.follow_redirects = false;
      response r = co_await c.request("GET", sv.url("/chain/0"), {}, {}, no_follow);
      CHECK(r.status() == 307);
      co_await stop(srv);
    });
  }

  TEST_CASE("Authorization is dropped on a redirect to another origin and kept on the same one") {
    run_test([]() -> task<void> {
      server other(+[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        co_await s.write_all(ok("auth=" + r.header("authorization")));
        co_return true;
      });
      server sv(+[](server& sv, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        if (r.target == "/away") co_await s.write_all("HTTP/1.1 302 F\r\nLocation: " + sv.extra + "\r\nContent-Length: 0\r\n\r\n");
        else if (r.target == "/near") co_await s.write_all("HTTP/1.1 302 F\r\nLocation: /here\r\nContent-Length: 0\r\n\r\n");
        else co_await s.write_all(ok("auth=" + r.header("authorization")));
        co_return true;
      });
      sv.extra = other.url("/there");
      auto s1 = corio::spawn(run_server(sv));
      auto s2 = corio::spawn(run_server(other));
      client_session c(quick());
      response r1 = co_await c.get(sv.url("/away"), one_field("Authorization", "Bearer x"));
      CHECK(co_await r1.text() == "auth=(none)");
      response r2 = co_await c.get(sv.url("/near"), one_field("Authorization", "Bearer x"));
      CHECK(co_await r2.text() == "auth=Bearer x");
      co_await stop(s1);
      co_await stop(s2);
    });
  }

  TEST_CASE("a chunked body with trailers is de-chunked and the trailers are kept") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                             "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Sum: 42\r\n\r\n");
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url());
      CHECK(co_await r.text() == "hello world!");
      CHECK(r.trailers().find("x-sum") == "42");
      CHECK(r.complete());
      CHECK(co_await fetch_text(c, sv.url()) == "hello world!");
      CHECK(sv.accepts == 1);
      co_await stop(srv);
    });
  }

  TEST_CASE("a bad chunk size is an http_error naming the URL") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_return co_await raw_then_close(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n", false);
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      std::string msg = co_await expect_throw<http_error>(fetch_text(c, sv.url("/bad")));
      CHECK(msg.find("GET http://127.0.0.1:") != std::string::npos);
      CHECK(msg.find("/bad") != std::string::npos);
      co_await stop(srv);
    });
  }

  TEST_CASE("a gzip body is decoded transparently and Accept-Encoding asks for it") {
    if (!corio::http::gzip_available()) return;
    run_test([]() -> task<void> {
      server sv(+[](server& sv, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all(ok(corio::http::gzip_compress(sv.extra), "Content-Encoding: gzip\r\n"));
        co_return true;
      });
      sv.extra = pattern(100000, 3) + std::string(300000, 'a');
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url());
      CHECK(r.decoded());
      CHECK(*r.content_length() < sv.extra.size());
      std::string body = co_await r.text();
      CHECK(body.size() == sv.extra.size());
      CHECK(body == sv.extra);
      CHECK(sv.requests[0].header("accept-encoding") == "gzip");
      co_await stop(srv);
    });
  }

  TEST_CASE("a truncated gzip body is an error, not a short body") {
    if (!corio::http::gzip_available()) return;
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        std::string z = corio::http::gzip_compress(pattern(50000, 9));
        z.resize(z.size() / 2);
        co_await s.write_all(ok(z, "Content-Encoding: gzip\r\n"));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      std::string msg = co_await expect_throw<http_error>(fetch_text(c, sv.url()));
      CHECK(msg.find("truncated gzip") != std::string::npos);
      co_await stop(srv);
    });
  }

  TEST_CASE("HEAD reads no body despite Content-Length and keeps the connection") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        if (r.method == "HEAD")
          co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        else
          co_await s.write_all(ok("after"));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response h = co_await c.head(sv.url());
      CHECK(h.status() == 200);
      CHECK(h.content_length() == 1000u);
      CHECK(h.complete());
      CHECK(co_await h.text() == "");
      CHECK(co_await fetch_text(c, sv.url()) == "after");
      CHECK(sv.accepts == 1);
      co_await stop(srv);
    });
  }

  TEST_CASE("a close-delimited body is read to EOF and the connection is not reused") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_return co_await raw_then_close(s, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", false);
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      CHECK(co_await fetch_text(c, sv.url()) == "until the end");
      CHECK(co_await fetch_text(c, sv.url()) == "until the end");
      CHECK(sv.accepts == 2);
      CHECK(c.pool().idle_count() == 0);
      co_await stop(srv);
    });
  }

  TEST_CASE("a body shorter than its Content-Length is an error, never a short body") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_return co_await raw_then_close(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(500, 'x'), false);
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      std::string msg = co_await expect_throw<http_error>(fetch_text(c, sv.url("/short")));
      CHECK(msg.find("/short") != std::string::npos);
      CHECK(msg.find("got 500 of 1000 bytes") != std::string::npos);
      co_await stop(srv);
    });
  }

  TEST_CASE("a connection reset mid-body is an error naming the URL") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + std::string(100000, 'x'));
        co_await corio::sleep(20ms);
        co_return co_await raw_then_close(s, "", true);
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url("/reset"));
      std::string msg;
      try {
        std::string body = co_await r.text();
      } catch (const std::exception& e) {
        msg = e.what();
      }
      CHECK(msg.find("GET http://127.0.0.1:") != std::string::npos);
      CHECK(msg.find("/reset") != std::string::npos);
      CHECK(!r.complete());
      co_await stop(srv);
    });
  }

  TEST_CASE("a server that accepts and never answers hits the read timeout") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream&, const request_seen&, int, int) -> task<bool> {
        co_await corio::sleep(10s);
        co_return false;
      });
      auto srv = corio::spawn(run_server(sv));
      client_options o = quick();
      o.timeouts.read = 100ms;
      client_session c(o);
      std::string msg = co_await expect_throw<corio::timeout_error>(fetch_text(c, sv.url("/slow")));
      CHECK(msg.find("read timeout") != std::string::npos);
      CHECK(msg.find("/slow") != std::string::npos);
      co_await stop(srv);
    });
  }

  TEST_CASE("a body that trickles forever hits the total timeout, not the read timeout") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        for (;;) {
          co_await corio::sleep(20ms);
          co_await s.write_all("x");
        }
      });
      auto srv = corio::spawn(run_server(sv));
      client_options o = quick();
      o.timeouts.read = 1s;
      o.timeouts.total = 200ms;
      client_session c(o);
      std::string msg = co_await expect_throw<corio::timeout_error>(fetch_text(c, sv.url()));
      CHECK(msg.find("total timeout") != std::string::npos);
      co_await stop(srv);
    });
  }

  TEST_CASE("a connect that gets no answer hits the connect timeout") {
    run_test([]() -> task<void> {
      // A listener with a full accept queue drops further SYNs: connect hangs.
      corio::net::listen_options lo;
      lo.backlog = 0;
      auto l = tcp_listener::bind(address::loopback_v4(0), lo);
      std::vector<int> fillers;
      for (int i = 0; i < 8; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ::connect(fd, l.local_address().sockaddr_ptr(), l.local_address().sockaddr_len());
        fillers.push_back(fd);
      }
      co_await corio::sleep(50ms);
      client_options o = quick();
      o.timeouts.connect = 200ms;
      client_session c(o);
      std::string url = "http://127.0.0.1:" + std::to_string(l.local_address().port()) + "/";
      std::string msg = co_await expect_throw<corio::timeout_error>(fetch_text(c, url));
      CHECK(msg.find("connect timeout") != std::string::npos);
      for (int fd : fillers) ::close(fd);
    });
  }

  TEST_CASE("save_to renames only a complete body, and leaves nothing after a failure") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen& r, int, int) -> task<bool> {
        if (r.target == "/good") {
          co_await s.write_all(ok(std::string(70000, 'g')));
          co_return true;
        }
        co_return co_await raw_then_close(s, "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + std::string(30000, 'b'), false);
      });
      auto srv = corio::spawn(run_server(sv));
      auto dir = temp_dir("save");
      client_session c(quick());
      response good = co_await c.get(sv.url("/good"));
      CHECK(co_await good.save_to((dir / "good.bin").string()) == 70000u);
      CHECK(std::filesystem::file_size(dir / "good.bin") == 70000u);
      response bad = co_await c.get(sv.url("/bad"));
      bool failed = false;
      try {
        co_await bad.save_to((dir / "bad.bin").string());
      } catch (const http_error&) {
        failed = true;
      }
      CHECK(failed);
      CHECK(!std::filesystem::exists(dir / "bad.bin"));
      CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
      std::filesystem::remove_all(dir);
      co_await stop(srv);
    });
  }

  TEST_CASE("save_to into a directory that does not exist is a system_error naming the file") {
    run_test([]() -> task<void> {
      server sv(echo_target);
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url());
      std::string msg;
      try {
        co_await r.save_to("/nonexistent-corio-dir/x.bin");
      } catch (const std::system_error& e) {
        msg = e.what();
      }
      CHECK(msg.find("/nonexistent-corio-dir/x.bin") != std::string::npos);
      co_await stop(srv);
    });
  }

  TEST_CASE("text() refuses a body over its limit") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all(ok(std::string(5000, 'z')));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url());
      bool failed = false;
      try {
        (void)co_await r.text(1000);
      } catch (const http_error& e) {
        failed = std::string(e.what()).find("limit") != std::string::npos;
      }
      CHECK(failed);
      co_await stop(srv);
    });
  }

  TEST_CASE("a 64 MiB body streams through read_chunk with its hash intact") {
    run_test([]() -> task<void> {
      constexpr std::size_t size = 64u << 20;
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
        std::string block = pattern(1 << 20, 5);
        for (std::size_t i = 0; i < size / block.size(); ++i) co_await s.write_all(block);
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      std::string block = pattern(1 << 20, 5);
      std::uint64_t want = 14695981039346656037ull;
      for (std::size_t i = 0; i < size / block.size(); ++i)
        want = fnv1a(want, std::as_bytes(std::span(block.data(), block.size())));
      client_session c(quick());
      response r = co_await c.get(sv.url("/big"));
      std::uint64_t got = 14695981039346656037ull;
      std::uint64_t n = 0;
      auto chunks = r.chunks();
      while (auto piece = co_await chunks.next()) {
        got = fnv1a(got, *piece);
        n += piece->size();
      }
      CHECK(n == size);
      CHECK(got == want);
      CHECK(r.complete());
      co_await stop(srv);
    });
  }

  TEST_CASE("read_some copies the body in small pieces") {
    run_test([]() -> task<void> {
      server sv(echo_target);
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url("/pieces"));
      std::string got;
      std::array<std::byte, 3> buf;
      while (std::size_t n = co_await r.read_some(buf)) got.append(reinterpret_cast<const char*>(buf.data()), n);
      CHECK(got == "GET /pieces ");
      co_await stop(srv);
    });
  }

  TEST_CASE("a 100 Continue before the final response is skipped") {
    run_test([]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all("HTTP/1.1 100 Continue\r\n\r\n" + ok("final"));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url());
      CHECK(r.status() == 200);
      CHECK(co_await r.text() == "final");
      co_await stop(srv);
    });
  }

  TEST_CASE("a header with CR or LF is refused before anything is sent") {
    run_test([]() -> task<void> {
      client_session c(quick());
      bool refused = false;
      try {
        response r = co_await c.get("http://127.0.0.1:1/", one_field("X-Evil", "a\r\nInjected: 1"));
      } catch (const std::invalid_argument&) {
        refused = true;
      }
      CHECK(refused);
    });
  }

  TEST_CASE("a refused connection is a system_error naming the request") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      std::string url = "http://127.0.0.1:" + std::to_string(l.local_address().port()) + "/x";
      l.close();
      client_session c(quick());
      std::string msg = co_await expect_throw<std::system_error>(fetch_text(c, url));
      CHECK(msg.find("GET http://127.0.0.1:") != std::string::npos);
    });
  }
  TEST_CASE("https verifies a self-signed certificate given as ca_file and rejects it without") {
    if (!corio::http::tls_available()) return;
    auto dir = temp_dir("tls");
    if (!make_cert(dir, "DNS:localhost,IP:127.0.0.1")) {
      MESSAGE("openssl command not found: TLS test skipped");
      return;
    }
    run_test([&dir]() -> task<void> {
      corio::http::tls_options so;
      so.cert_file = (dir / "cert.pem").string();
      so.key_file = (dir / "key.pem").string();
      auto ctx = corio::http::tls_context::server(so);
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto srv = corio::spawn(tls_server(l, ctx, 3));
      std::string port = std::to_string(l.local_address().port());

      client_options trusting = quick();
      trusting.pool.tls.ca_file = (dir / "cert.pem").string();
      client_session c(trusting);
      CHECK(co_await fetch_text(c, "https://127.0.0.1:" + port + "/ip") == "secure /ip");
      CHECK(co_await fetch_text(c, "https://localhost:" + port + "/name") == "secure /name");

      client_session strict(quick());  // the system's CA store does not know our certificate
      std::string msg = co_await expect_throw<corio::http::tls_error>(fetch_text(strict, "https://127.0.0.1:" + port + "/"));
      CHECK(msg.find("certificate verify failed") != std::string::npos);
      CHECK(msg.find("self") != std::string::npos);
      CHECK(msg.find("GET https://127.0.0.1:") != std::string::npos);
      co_await srv;
    });
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("https rejects a trusted certificate issued for another host name") {
    if (!corio::http::tls_available()) return;
    auto dir = temp_dir("tls-name");
    if (!make_cert(dir, "DNS:other.example")) {
      MESSAGE("openssl command not found: TLS test skipped");
      return;
    }
    run_test([&dir]() -> task<void> {
      corio::http::tls_options so;
      so.cert_file = (dir / "cert.pem").string();
      so.key_file = (dir / "key.pem").string();
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto srv = corio::spawn(tls_server(l, corio::http::tls_context::server(so), 2));
      std::string port = std::to_string(l.local_address().port());
      client_options o = quick();
      o.pool.tls.ca_file = (dir / "cert.pem").string();
      client_session c(o);
      std::string by_ip = co_await expect_throw<corio::http::tls_error>(fetch_text(c, "https://127.0.0.1:" + port + "/"));
      CHECK(by_ip.find("mismatch") != std::string::npos);
      std::string by_name = co_await expect_throw<corio::http::tls_error>(fetch_text(c, "https://localhost:" + port + "/"));
      CHECK(by_name.find("hostname mismatch") != std::string::npos);
      co_await srv;
    });
    std::filesystem::remove_all(dir);
  }
}

TEST_SUITE("http_client") {
  TEST_CASE("a pooled connection idle longer than idle_timeout is not reused") {
    run_test([]() -> task<void> {
      server sv(echo_target);
      auto srv = corio::spawn(run_server(sv));
      client_options o = quick();
      o.pool.idle_timeout = 150ms;
      client_session c(o);
      CHECK(co_await get_text(c, sv.url("/1")) == "GET /1 ");
      co_await corio::sleep(20ms);
      CHECK(co_await get_text(c, sv.url("/2")) == "GET /2 ");
      CHECK(c.pool().connects() == 1);  // within the idle timeout: reused
      co_await corio::sleep(300ms);
      CHECK(co_await get_text(c, sv.url("/3")) == "GET /3 ");
      CHECK(c.pool().connects() == 2);  // past it: closed, a new one
      CHECK(sv.accepts == 2);
      CHECK(c.pool().open_count() == 1);
      co_await stop(srv);
    });
  }

  TEST_CASE("save_to on a full disk is a system_error (ENOSPC) naming the file, and leaves no file") {
    auto dir = temp_dir("enospc");
    if (::geteuid() != 0 || ::mount("corio-test", dir.c_str(), "tmpfs", 0, "size=256k") != 0) {
      MESSAGE("not root or tmpfs mount refused: ENOSPC test skipped");
      std::filesystem::remove_all(dir);
      return;
    }
    run_test([&dir]() -> task<void> {
      server sv(+[](server&, tcp_stream& s, const request_seen&, int, int) -> task<bool> {
        co_await s.write_all(ok(std::string(1 << 20, 'z')));
        co_return true;
      });
      auto srv = corio::spawn(run_server(sv));
      client_session c(quick());
      response r = co_await c.get(sv.url("/big"));
      std::string target = (dir / "big.bin").string();
      int code = 0;
      std::string msg;
      try {
        co_await r.save_to(target);
      } catch (const std::system_error& e) {
        code = e.code().value();
        msg = e.what();
      }
      CHECK(code == ENOSPC);
      CHECK(msg.find(target) != std::string::npos);
      CHECK(!std::filesystem::exists(target));
      CHECK(std::filesystem::is_empty(dir));  // the temporary file is gone too
      CHECK(!r.complete());
      co_await stop(srv);
    });
    ::umount2(dir.c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir);
  }
}

// Against real servers started by the test: nginx (HTTP/1.1, keep-alive,
// gzip, chunked, Range) and python3 -m http.server (HTTP/1.0, a connection
// per request). Skipped with a message when the program is missing.
TEST_SUITE("http_client_real_servers") {
  TEST_CASE("nginx: keep-alive reuse, gzip with chunked framing, redirects, a loop, Range") {
    auto dir = temp_dir("nginx");
    nginx_server ng;
    std::string bin = pattern(300000, 11);
    std::string txt;
    for (int i = 0; i < 20000; ++i) txt += "line " + std::to_string(i) + " of a compressible text\n";
    std::filesystem::create_directories(dir / "www");
    write_file(dir / "www" / "a.bin", bin);
    write_file(dir / "www" / "b.txt", txt);
    if (!ng.start(dir)) {
      MESSAGE("nginx not installed or did not start: nginx test skipped");
      std::filesystem::remove_all(dir);
      return;
    }
    run_test([&]() -> task<void> {
      client_session c(quick());
      for (int i = 0; i < 20; ++i) CHECK(co_await get_text(c, ng.url("/a.bin")) == bin);
      CHECK(c.pool().connects() == 1);  // 20 requests, one connection

      response g = co_await c.get(ng.url("/b.txt"));
      CHECK(g.status() == 200);
      CHECK(g.headers().find("content-encoding") == std::optional<std::string_view>("gzip"));
      CHECK(g.headers().find("transfer-encoding") == std::optional<std::string_view>("chunked"));
      CHECK(g.decoded());
      CHECK(co_await g.text() == txt);

      response plain = co_await c.get(ng.url("/b.txt"), one_field("Accept-Encoding", "identity"));
      CHECK(!plain.decoded());
      CHECK(plain.content_length() == std::optional<std::uint64_t>(txt.size()));
      CHECK(co_await plain.text() == txt);

      response moved = co_await c.get(ng.url("/moved"));
      CHECK(moved.status() == 200);
      CHECK(moved.redirects() == 1);
      CHECK(moved.url().path() == "/a.bin");
      CHECK(co_await moved.text() == bin);

      response rel = co_await c.get(ng.url("/relative"));
      CHECK(rel.redirects() == 1);
      CHECK(co_await rel.text() == txt);

      std::string loop = co_await expect_throw<http_error>(get_text(c, ng.url("/loop1")));
      CHECK(loop.find("redirect loop") != std::string::npos);

      response part = co_await c.get(ng.url("/a.bin"), one_field("Range", "bytes=1000-"));
      CHECK(part.status() == 206);
      CHECK(part.headers().find("content-range") ==
            std::optional<std::string_view>("bytes 1000-" + std::to_string(bin.size() - 1) + "/" +
                                            std::to_string(bin.size())));
      CHECK(co_await part.text() == bin.substr(1000));

      response missing = co_await c.get(ng.url("/nope"));
      CHECK(missing.status() == 404);
      co_await missing.discard();
      CHECK(c.pool().connects() == 1);  // redirects, errors and all: still the one connection
    });
    ng.proc.stop();
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("nginx: 200 downloads through map_bounded with a per-host limit of 3, saved and checked") {
    auto dir = temp_dir("nginx-many");
    nginx_server ng;
    std::filesystem::create_directories(dir / "www");
    std::filesystem::create_directories(dir / "out");
    for (int i = 0; i < 200; ++i) write_file(dir / "www" / numbered("f", i), pattern(4096 + i * 97, i));
    if (!ng.start(dir)) {
      MESSAGE("nginx not installed or did not start: nginx test skipped");
      std::filesystem::remove_all(dir);
      return;
    }
    run_test([&]() -> task<void> {
      client_options o = quick();
      o.pool.limit_per_host = 3;
      client_session c(o);
      std::vector<int> items(200);
      for (int i = 0; i < 200; ++i) items[i] = i;
      auto m = corio::map_bounded(items, 32, [&](int i) -> task<std::uint64_t> {
        response r = co_await c.get(ng.url(numbered("/f", i)));
        co_return co_await r.save_to((dir / "out" / numbered("f", i)).string());
      });
      std::uint64_t total = 0;
      while (auto n = co_await m.next()) total += *n;
      CHECK(c.pool().connects() <= 3);
      std::uint64_t expected = 0;
      for (int i = 0; i < 200; ++i) expected += 4096 + i * 97;
      CHECK(total == expected);
    });
    bool all_same = true;
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(dir / "out" / numbered("f", i), std::ios::binary);
      std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      all_same = all_same && got == pattern(4096 + i * 97, i);
    }
    CHECK(all_same);
    ng.proc.stop();
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("python3 -m http.server: HTTP/1.0 responses, a connection each, a redirect, a 404") {
    auto dir = temp_dir("pyserver");
    std::filesystem::create_directories(dir / "www" / "sub");
    std::string data = pattern(200000, 5);
    write_file(dir / "www" / "data.bin", data);
    write_file(dir / "www" / "sub" / "index.html", "<p>sub</p>");
    child_process py;
    std::uint16_t port = free_port();
    if (!have_program("python3") ||
        !py.start({"python3", "-m", "http.server", std::to_string(port), "--bind", "127.0.0.1", "--directory",
                   (dir / "www").string()}) ||
        !wait_for_port(port, py.pid)) {
      MESSAGE("python3 -m http.server did not start: test skipped");
      std::filesystem::remove_all(dir);
      return;
    }
    std::string base = "http://127.0.0.1:" + std::to_string(port);
    run_test([&]() -> task<void> {
      client_session c(quick());
      for (int i = 0; i < 3; ++i) {
        response r = co_await c.get(base + "/data.bin");
        CHECK(r.status() == 200);
        CHECK(r.version() == corio::http::http_version{1, 0});
        CHECK(co_await r.text() == data);
      }
      CHECK(c.pool().connects() == 3);  // HTTP/1.0 without keep-alive: never reused
      CHECK(c.pool().idle_count() == 0);
      response sub = co_await c.get(base + "/sub");  // 301 to /sub/
      CHECK(sub.redirects() == 1);
      CHECK(co_await sub.text() == "<p>sub</p>");
      response missing = co_await c.get(base + "/missing");
      CHECK(missing.status() == 404);
      co_await missing.discard();
      response saved = co_await c.get(base + "/data.bin");
      CHECK(co_await saved.save_to((dir / "copy.bin").string()) == data.size());
    });
    std::ifstream in(dir / "copy.bin", std::ios::binary);
    CHECK(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) == data);
    py.stop();
    std::filesystem::remove_all(dir);
  }
}

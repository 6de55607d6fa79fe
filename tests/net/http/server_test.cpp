// SPDX-License-Identifier: MIT
//
// The HTTP server end to end: a server on 127.0.0.1:0 and raw TCP clients
// in the same loop. The clients write bytes exactly as given (so the tests
// can send what no well-behaved client would: "..", smuggling-shaped heads,
// a trickle of header bytes) and parse the answers with corio's own
// response parser. Timeouts are real but short (a few hundred ms), set per
// test through server_options. Every test ends with the loop drained and no
// fd leaked (run_test), which also checks that stop() leaves nothing behind.
#include <corio/net/http/server.hpp>

#include "net/net_test_support.hpp"

#include <corio/core/time.hpp>
#include <corio/net/http/http_date.hpp>
#include <corio/net/http/static_files.hpp>
#include <corio/net/tcp.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using corio::task;
using corio::http::server;
using corio::http::server_options;
using corio::http::server_request;
using corio::http::server_response;
using corio::net::address;
using corio::net::tcp_listener;
using corio::net::tcp_stream;
using corio::test::run_test;
namespace fs = std::filesystem;

namespace {

struct reply {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::string header(std::string_view name) const {
        for (const auto& [n, v] : headers)
            if (corio::http::ascii_iequals(n, name)) return v;
        return "<none>";
    }
};

// A raw client: writes bytes as given, parses replies with corio's parser.
class raw_client {
public:
    static task<raw_client> connect(std::uint16_t port) {
        raw_client c;
        c.s_ = co_await tcp_stream::connect(address::loopback_v4(port));
        co_return c;
    }

    task<void> send(std::string text) { co_await s_.write_all(std::string_view(text)); }

    // The next response (interim 1xx ones included, one per call).
    task<reply> read_reply(std::string_view method = "GET") {
        corio::http::parser p(corio::http::message_kind::response);
        p.set_request_method(method);
        reply r;
        for (;;) {
            auto res = p.feed(buf_);
            if (res.event == corio::http::parse_event::body) r.body.append(res.body); // before the erase
            buf_.erase(0, res.consumed);
            switch (res.event) {
            case corio::http::parse_event::headers_complete:
                r.status = static_cast<int>(p.status());
                for (const auto& h : p.headers()) r.headers.emplace_back(std::string(h.name), std::string(h.value));
                if (p.is_interim()) co_return r;
                break;
            case corio::http::parse_event::body: break;
            case corio::http::parse_event::message_complete: co_return r;
            case corio::http::parse_event::need_more:
                if (!co_await fill()) {
                    auto end = p.finish();
                    if (end.event == corio::http::parse_event::message_complete) co_return r;
                    throw std::runtime_error("connection closed mid-response: " + std::string(p.error_message()));
                }
                break;
            default: throw std::runtime_error("bad response: " + std::string(p.error_message()));
            }
        }
    }

    // True if the server closes the connection (EOF or reset) within `limit`.
    task<bool> closed_within(std::chrono::milliseconds limit) {
        try {
            co_return !co_await corio::timeout(limit, fill());
        } catch (const corio::timeout_error&) {
            co_return false;
        } catch (const std::system_error&) {
            co_return true; // reset
        }
    }

    std::string& buffered() { return buf_; }
    tcp_stream& stream() { return s_; }

private:
    task<bool> fill() {
        char tmp[16384];
        std::size_t n = co_await s_.read_some(std::as_writable_bytes(std::span(tmp)));
        buf_.append(tmp, n);
        co_return n > 0;
    }

    tcp_stream s_;
    std::string buf_;
};

server_options quick_options() {
    server_options o;
    o.idle_timeout = 2s;
    o.header_timeout = 2s;
    o.read_timeout = 2s;
    o.write_timeout = 2s;
    o.linger_timeout = 500ms;
    o.stop_timeout = 2s;
    return o;
}

// A server with a few routes, serving on 127.0.0.1:0 until stop().
struct test_server {
    server srv;
    std::uint16_t port = 0;
    corio::join_handle<void> serving;

    explicit test_server(server_options o = quick_options()) : srv(std::move(o)) {
        srv.route("GET", "/hello", [](server_request&, server_response& res) -> task<void> {
            res.set_body("Hello, World!", "text/plain");
            co_return;
        });
        srv.route("GET", "/path", [](server_request& req, server_response& res) -> task<void> {
            res.set_body(std::string(req.path()) + "?" + std::string(req.query()));
            co_return;
        });
        srv.route("POST,PUT", "/echo", [](server_request& req, server_response& res) -> task<void> {
            res.set_body(req.body());
            co_return;
        });
        corio::http::route_options streamed;
        streamed.stream_body = true;
        srv.route(
            "POST", "/count",
            [](server_request& req, server_response& res) -> task<void> {
                std::size_t total = 0, pieces = 0;
                for (;;) {
                    std::string_view piece = co_await req.read_some();
                    if (piece.empty()) break;
                    total += piece.size();
                    ++pieces;
                }
                res.set_body(std::to_string(total));
                co_return;
            },
            streamed);
        srv.route("GET", "/stream", [](server_request&, server_response& res) -> task<void> {
            res.set_header("Content-Type", "text/plain");
            co_await res.write("one,");
            co_await res.write("two,");
            co_await res.write("three");
        });
        srv.route("GET", "/slow", [](server_request&, server_response& res) -> task<void> {
            co_await corio::sleep(150ms);
            res.set_body("slow done");
        });
        srv.route("GET", "/throw", [](server_request&, server_response&) -> task<void> {
            throw std::runtime_error("handler failure");
            co_return;
        });
    }

    void start() {
        auto l = tcp_listener::bind(address::loopback_v4(0));
        port = l.local_address().port();
        serving = corio::spawn(srv.serve(std::move(l)), "serve");
    }
    task<void> stop() {
        srv.stop();
        co_await serving;
    }
};

task<reply> get(std::uint16_t port, std::string request, std::string_view method = "GET") {
    raw_client c = co_await raw_client::connect(port);
    co_await c.send(std::move(request));
    co_return co_await c.read_reply(method);
}

// A directory tree for the static file tests, removed by the destructor:
//   base/secret.txt          outside the root
//   base/root/hello.txt      "0123456789"
//   base/root/dir/index.html
//   base/root/escape -> ../secret.txt, base/root/etc -> /etc, base/root/inside -> hello.txt
struct file_tree {
    fs::path base;
    fs::path root;
    file_tree() {
        char tmpl[] = "/tmp/corio-http-XXXXXX";
        base = ::mkdtemp(tmpl);
        root = base / "root";
        fs::create_directories(root / "dir");
        std::ofstream(base / "secret.txt") << "secret";
        std::ofstream(root / "hello.txt") << "0123456789";
        std::ofstream(root / "dir" / "index.html") << "<p>index</p>";
        fs::create_symlink("../secret.txt", root / "escape");
        fs::create_symlink("/etc", root / "etc");
        fs::create_symlink("hello.txt", root / "inside");
    }
    ~file_tree() {
        std::error_code ec;
        fs::remove_all(base, ec);
    }
};

// Aborts the connection with a reset (SO_LINGER 0), as a crashed client does.
void reset_connection(tcp_stream& s) {
    ::linger l{1, 0};
    ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    s.close();
}

// Waits (in the loop) until the server has no connection left, at most `limit`.
task<bool> drained_within(server& srv, std::chrono::milliseconds limit) {
    auto deadline = corio::current_loop().now() + limit;
    while (srv.connections() != 0) {
        if (corio::current_loop().now() > deadline) co_return false;
        co_await corio::sleep(10ms);
    }
    co_return true;
}

// examples/http_server run as a child process, with its stdout on a pipe
// (for "listening on ...") and its stderr in a file.
struct example_process {
    pid_t pid = -1;
    int out = -1;
    std::uint16_t port = 0;
    fs::path err;

    // The example built beside this test: build/TREE/tests/x -> build/TREE/examples/http_server.
    static fs::path binary() {
        return fs::canonical("/proc/self/exe").parent_path().parent_path() / "examples" / "http_server";
    }

    example_process(const std::vector<std::string>& args, fs::path err_file) : err(std::move(err_file)) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        std::string bin = binary().string();
        std::vector<char*> argv{bin.data()};
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::dup2(fds[1], 1);
            FILE* e = std::fopen(err.c_str(), "w");
            if (e) ::dup2(::fileno(e), 2);
            ::close(fds[0]);
            ::execv(bin.c_str(), argv.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        out = fds[0];
        // "listening on 127.0.0.1:PORT\n", within 10 s.
        std::string line;
        while (line.find('\n') == std::string::npos) {
            pollfd p{out, POLLIN, 0};
            if (::poll(&p, 1, 10'000) <= 0) break;
            char buf[256];
            ssize_t n = ::read(out, buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, static_cast<std::size_t>(n));
        }
        INFO(line);
        REQUIRE(line.rfind("listening on 127.0.0.1:", 0) == 0);
        port = static_cast<std::uint16_t>(std::stoi(line.substr(line.find(':') + 1)));
    }

    // The exit status, or -1 if it did not exit within `limit` (then it is killed).
    int wait(std::chrono::milliseconds limit) {
        for (auto waited = 0ms; waited < limit; waited += 20ms) {
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            ::usleep(20'000);
        }
        return -1;
    }
    bool running() { return ::waitpid(pid, nullptr, WNOHANG) == 0; }
    std::string stderr_text() const {
        std::ifstream f(err);
        return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    }
    ~example_process() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (out >= 0) ::close(out);
    }
};

// Runs a shell command (curl, bounded by its --max-time) and returns its stdout.
std::string run_command(const std::string& command) {
    std::string result;
    if (FILE* p = ::popen(command.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) result.append(buf, n);
        ::pclose(p);
    }
    return result;
}

} // namespace

TEST_SUITE("http_server") {
    TEST_CASE("GET /hello answers 200 with the body, Date and Server") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            reply r = co_await get(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(r.status == 200);
            CHECK(r.body == "Hello, World!");
            CHECK(r.header("content-type") == "text/plain");
            CHECK(r.header("content-length") == "13");
            CHECK(r.header("server") == "corio");
            CHECK(corio::http::parse_http_date(r.header("date")).has_value());
            co_await t.stop();
        });
    }

    TEST_CASE("two requests are answered on one keep-alive connection") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            reply a = co_await c.read_reply();
            co_await c.send("GET /path?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
            reply b = co_await c.read_reply();
            CHECK(a.body == "Hello, World!");
            CHECK(b.body == "/path?q=1");
            CHECK(b.header("connection") == "<none>");
            CHECK(t.srv.connections() == 1);
            co_await t.stop();
        });
    }

    TEST_CASE("three pipelined requests in one write are answered in order") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("GET /path?1 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /path?2 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /path?3 HTTP/1.1\r\nHost: x\r\n\r\n");
            for (std::string want : {"/path?1", "/path?2", "/path?3"}) {
                reply r = co_await c.read_reply();
                CHECK(r.status == 200);
                CHECK(r.body == want);
            }
            co_await t.stop();
        });
    }

    TEST_CASE("a chunked request body reaches the handler de-chunked") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            reply r = co_await get(t.port,
                                   "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: t\r\n\r\n");
            CHECK(r.status == 200);
            CHECK(r.body == "hello world");
            co_await t.stop();
        });
    }

    TEST_CASE("a streaming route reads a large body piece by piece") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            std::string body(300 * 1024, 'x');
            co_await c.send("POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\n\r\n" + body);
            reply r = co_await c.read_reply();
            CHECK(r.status == 200);
            CHECK(r.body == std::to_string(body.size()));
            // The connection is still good for the next request.
            co_await c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK((co_await c.read_reply()).body == "Hello, World!");
            co_await t.stop();
        });
    }

    TEST_CASE("a streamed response is sent chunked and ends cleanly") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
            reply r = co_await c.read_reply();
            CHECK(r.header("transfer-encoding") == "chunked");
            CHECK(r.body == "one,two,three");
            co_await c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK((co_await c.read_reply()).body == "Hello, World!");
            co_await t.stop();
        });
    }

    TEST_CASE("HEAD answers the headers of GET without the body") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            reply head = co_await c.read_reply("HEAD");
            CHECK(head.status == 200);
            CHECK(head.header("content-length") == "13");
            CHECK(head.body.empty());
            // The next response starts right after the head: nothing was sent for HEAD.
            reply get = co_await c.read_reply();
            CHECK(get.body == "Hello, World!");
            co_await t.stop();
        });
    }

    TEST_CASE("unknown paths get 404 and other methods 405 with Allow") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            reply nf = co_await get(t.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(nf.status == 404);
            reply na = co_await get(t.port, "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(na.status == 405);
            CHECK(na.header("allow") == "GET, HEAD");
            reply na2 = co_await get(t.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(na2.status == 405);
            CHECK(na2.header("allow") == "POST, PUT");
            co_await t.stop();
        });
    }

    TEST_CASE("a handler that throws gets a 500 and the connection stays usable") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK((co_await c.read_reply()).status == 500);
            co_await c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK((co_await c.read_reply()).status == 200);
            co_await t.stop();
        });
    }

    TEST_CASE("static files: GET, HEAD, Range 206 and 416, 304, index and redirect") {
        file_tree tree;
        run_test([&]() -> task<void> {
            test_server t;
            t.srv.route_prefix("GET", "/files", corio::http::static_files(tree.root.string()));
            t.start();
            reply whole = co_await get(t.port, "GET /files/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(whole.status == 200);
            CHECK(whole.body == "0123456789");
            CHECK(whole.header("content-type") == "text/plain; charset=utf-8");
            CHECK(whole.header("accept-ranges") == "bytes");
            std::string last_modified = whole.header("last-modified");
            CHECK(corio::http::parse_http_date(last_modified).has_value());

            reply head = co_await get(t.port, "HEAD /files/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD");
            CHECK(head.status == 200);
            CHECK(head.header("content-length") == "10");
            CHECK(head.body.empty());

            reply part = co_await get(t.port, "GET /files/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n\r\n");
            CHECK(part.status == 206);
            CHECK(part.body == "234");
            CHECK(part.header("content-range") == "bytes 2-4/10");
            reply tail = co_await get(t.port, "GET /files/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n");
            CHECK(tail.status == 206);
            CHECK(tail.body == "789");
            reply past = co_await get(t.port, "GET /files/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\n\r\n");
            CHECK(past.status == 416);
            CHECK(past.header("content-range") == "bytes */10");

            reply same = co_await get(t.port, "GET /files/hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: " +
                                                  last_modified + "\r\n\r\n");
            CHECK(same.status == 304);
            CHECK(same.body.empty());

            reply index = co_await get(t.port, "GET /files/dir/ HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(index.status == 200);
            CHECK(index.body == "<p>index</p>");
            CHECK(index.header("content-type") == "text/html; charset=utf-8");
            reply redirect = co_await get(t.port, "GET /files/dir HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(redirect.status == 301);
            CHECK(redirect.header("location") == "/files/dir/");
            reply link = co_await get(t.port, "GET /files/inside HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(link.body == "0123456789");
            co_await t.stop();
        });
    }

    TEST_CASE("a large file goes out whole through sendfile") {
        file_tree tree;
        std::string big(1024 * 1024 + 17, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
        std::ofstream(tree.root / "big.bin", std::ios::binary) << big;
        run_test([&]() -> task<void> {
            test_server t;
            t.srv.route_prefix("GET", "/", corio::http::static_files(tree.root.string()));
            t.start();
            reply r = co_await get(t.port, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(r.status == 200);
            CHECK(r.body.size() == big.size());
            CHECK(r.body == big);
            reply part = co_await get(t.port, "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-\r\n\r\n");
            CHECK(part.status == 206);
            CHECK(part.body == big.substr(100000));
            co_await t.stop();
        });
    }

    TEST_CASE("traversal attempts and symlinks out of the root are refused") {
        file_tree tree;
        run_test([&]() -> task<void> {
            test_server t;
            t.srv.route_prefix("GET", "/", corio::http::static_files(tree.root.string()));
            t.start();
            for (std::string target : {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
                                       "/dir/../../secret.txt", "/..%2fsecret.txt", "/../etc/passwd"}) {
                reply r = co_await get(t.port, "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
                INFO(target);
                CHECK((r.status == 404 || r.status == 403));
                CHECK(r.body.find("secret") == std::string::npos);
            }
            reply escape = co_await get(t.port, "GET /escape HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(escape.status == 403);
            reply etc = co_await get(t.port, "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(etc.status == 403);
            co_await t.stop();
        });
    }

    TEST_CASE("oversized headers get 431 and Connection: close") {
        run_test([]() -> task<void> {
            server_options o = quick_options();
            o.limits.max_header_bytes = 1024;
            test_server t(o);
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
            reply r = co_await c.read_reply();
            CHECK(r.status == 431);
            CHECK(r.header("connection") == "close");
            CHECK(co_await c.closed_within(1s));
            co_await t.stop();
        });
    }

    TEST_CASE("a body over the limit gets 413, by Content-Length or by chunks") {
        run_test([]() -> task<void> {
            server_options o = quick_options();
            o.max_body = 100;
            test_server t(o);
            t.start();
            reply by_length = co_await get(t.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n");
            CHECK(by_length.status == 413);
            CHECK(by_length.header("connection") == "close");
            reply by_chunks = co_await get(t.port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                   "64\r\n" + std::string(100, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n");
            CHECK(by_chunks.status == 413);
            reply streamed = co_await get(t.port, "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                  "65\r\n" + std::string(101, 'a') + "\r\n0\r\n\r\n");
            CHECK(streamed.status == 413);
            reply fits = co_await get(t.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
            CHECK(fits.body == "abc");
            co_await t.stop();
        });
    }

    TEST_CASE("malformed requests get 400 with Connection: close, bad versions 505") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            for (std::string bad : {"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                                    "GET /hello HTTP/1.1\r\n Host: x\r\n\r\n", "GET /hello HTTP/1.1\r\n\r\n",
                                    "GET /hello HTTP/1.1\rHost: x\r\n\r\n", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
                                    "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n"}) {
                raw_client c = co_await raw_client::connect(t.port);
                co_await c.send(bad);
                reply r = co_await c.read_reply();
                INFO(bad);
                CHECK(r.status == 400);
                CHECK(r.header("connection") == "close");
                CHECK(co_await c.closed_within(1s));
            }
            reply v = co_await get(t.port, "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n");
            CHECK(v.status == 505);
            co_await t.stop();
        });
    }

    TEST_CASE("Expect: 100-continue gets an interim 100 before the body is read") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
            reply interim = co_await c.read_reply("POST");
            CHECK(interim.status == 100);
            co_await c.send("hello");
            reply r = co_await c.read_reply("POST");
            CHECK(r.status == 200);
            CHECK(r.body == "hello");
            reply odd = co_await get(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n");
            CHECK(odd.status == 417);
            co_await t.stop();
        });
    }

    TEST_CASE("a slowloris client is dropped after header_timeout while another is served") {
        run_test([]() -> task<void> {
            server_options o = quick_options();
            o.header_timeout = 200ms;
            test_server t(o);
            t.start();
            raw_client slow = co_await raw_client::connect(t.port);
            auto trickle = [](raw_client& c) -> task<bool> {
                std::string head = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
                try {
                    for (char ch : head) {
                        co_await c.send(std::string(1, ch));
                        co_await corio::sleep(20ms);
                    }
                } catch (const std::system_error&) {
                    co_return true; // the server hung up on us
                }
                co_return co_await c.closed_within(1s);
            };
            auto start = corio::current_loop().now();
            auto dropped = corio::spawn(trickle(slow));
            // Meanwhile, another client is served, repeatedly.
            for (int i = 0; i < 5; ++i) {
                reply r = co_await get(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
                CHECK(r.status == 200);
                co_await corio::sleep(30ms);
            }
            CHECK(co_await dropped);
            auto took = corio::current_loop().now() - start;
            CHECK(took >= 190ms);
            CHECK(took < 1500ms);
            co_await t.stop();
        });
    }

    TEST_CASE("an idle keep-alive connection is closed after idle_timeout") {
        run_test([]() -> task<void> {
            server_options o = quick_options();
            o.idle_timeout = 150ms;
            test_server t(o);
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK((co_await c.read_reply()).status == 200);
            CHECK(co_await c.closed_within(1s));
            CHECK(t.srv.connections() == 0);
            co_await t.stop();
        });
    }

    TEST_CASE("graceful stop finishes the request in flight and closes idle connections") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client busy = co_await raw_client::connect(t.port);
            raw_client idle = co_await raw_client::connect(t.port);
            co_await idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK((co_await idle.read_reply()).status == 200);
            co_await busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
            co_await corio::sleep(30ms); // the handler is sleeping now
            CHECK(t.srv.connections() == 2);
            auto stopped = corio::spawn(t.stop());
            CHECK(co_await idle.closed_within(100ms));
            reply r = co_await busy.read_reply();
            CHECK(r.status == 200);
            CHECK(r.body == "slow done");
            CHECK(r.header("connection") == "close");
            CHECK(co_await busy.closed_within(1s));
            co_await stopped;
            CHECK(t.srv.connections() == 0);
            // No longer accepting.
            bool refused = false;
            try {
                raw_client late = co_await raw_client::connect(t.port);
            } catch (const std::system_error&) {
                refused = true;
            }
            CHECK(refused);
        });
    }

    TEST_CASE("beyond max_connections a client waits until a connection ends") {
        run_test([]() -> task<void> {
            server_options o = quick_options();
            o.max_connections = 1;
            test_server t(o);
            t.start();
            auto first = std::make_unique<raw_client>(co_await raw_client::connect(t.port));
            co_await first->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK((co_await first->read_reply()).status == 200);
            raw_client second = co_await raw_client::connect(t.port); // in the backlog
            co_await second.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK_FALSE(co_await second.closed_within(100ms)); // no answer yet
            CHECK(second.buffered().empty());
            first.reset(); // closes: the server accepts the second
            CHECK((co_await second.read_reply()).status == 200);
            co_await t.stop();
        });
    }

    TEST_CASE("HTTP/1.0 gets keep-alive only when it asks") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            raw_client c = co_await raw_client::connect(t.port);
            co_await c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            reply a = co_await c.read_reply();
            CHECK(a.header("connection") == "keep-alive");
            co_await c.send("GET /hello HTTP/1.0\r\n\r\n");
            reply b = co_await c.read_reply();
            CHECK(b.header("connection") == "close");
            CHECK(co_await c.closed_within(1s));
            co_await t.stop();
        });
    }

    TEST_CASE("an absolute-form target is routed by its path") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            reply r = co_await get(t.port, "GET http://example.com/path?a=b HTTP/1.1\r\nHost: example.com\r\n\r\n");
            CHECK(r.status == 200);
            CHECK(r.body == "/path?a=b");
            co_await t.stop();
        });
    }

    TEST_CASE("response headers refuse injection and framing fields") {
        corio::http::server_response res;
        CHECK_THROWS_AS(res.set_header("X-A", "a\r\nSet-Cookie: x"), std::invalid_argument);
        CHECK_THROWS_AS(res.set_header("Bad Name", "v"), std::invalid_argument);
        CHECK_THROWS_AS(res.set_header("Content-Length", "5"), std::invalid_argument);
        res.set_header("X-A", "1");
        res.set_header("x-a", "2");
        res.add_header("Set-Cookie", "a=1");
        CHECK(res.header("X-A") == "2");
        res.remove_header("x-A");
        CHECK_FALSE(res.header("X-A").has_value());
        CHECK(res.header("set-cookie") == "a=1");
    }

    TEST_CASE("Range values parse to one clamped range, none, or unsatisfiable") {
        using corio::http::parse_range;
        auto r = parse_range("bytes=0-99", 50);
        REQUIRE(r);
        CHECK(r->first == 0);
        CHECK(r->last == 49);
        r = parse_range("bytes=-20", 50);
        REQUIRE(r);
        CHECK(r->first == 30);
        CHECK(r->last == 49);
        r = parse_range("bytes=60-", 50);
        REQUIRE(r);
        CHECK(r->first > r->last);
        CHECK_FALSE(parse_range("bytes=0-1,5-6", 50));
        CHECK_FALSE(parse_range("items=0-1", 50));
        CHECK_FALSE(parse_range("bytes=5-2", 50));
        CHECK_FALSE(parse_range("bytes=a-b", 50));
    }

    TEST_CASE("HTTP dates format as IMF-fixdate and parse back") {
        CHECK(corio::http::format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
        CHECK(corio::http::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
        CHECK_FALSE(corio::http::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
        CHECK(corio::http::mime_type("a/b.HTML") == "text/html; charset=utf-8");
        CHECK(corio::http::mime_type("noext") == "application/octet-stream");
    }

    TEST_CASE("smuggling-shaped requests get 400 and nothing after them is served") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            // Each hides a second request where a more lenient hop might see one.
            const std::string hidden = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
            for (std::string bad : {
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 33\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 33, 0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +33\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\rContent-Length: 33\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nX: y\r\n Content-Length: 33\r\n\r\n",
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 33\r\n\r\n",
                     "GET /hello HTTP/1.1\nHost: x\n\n",
                 }) {
                raw_client c = co_await raw_client::connect(t.port);
                co_await c.send(bad + hidden);
                reply r = co_await c.read_reply("POST");
                INFO(bad);
                // 501 is the answer to a coding the server does not know (gzip).
                CHECK((r.status == 400 || (r.status == 501 && bad.find("gzip") != std::string::npos)));
                CHECK(r.header("connection") == "close");
                CHECK(co_await c.closed_within(1s));
                // Nothing but the one error answer came back.
                CHECK(c.buffered().empty());
            }
            co_await t.stop();
        });
    }

    TEST_CASE("a client that resets mid-body leaves the server serving others") {
        run_test([]() -> task<void> {
            test_server t;
            t.start();
            for (std::string path : {"/echo", "/count"}) {
                raw_client c = co_await raw_client::connect(t.port);
                co_await c.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                                std::string(30000, 'a'));
                co_await corio::sleep(30ms); // the server is in the body now
                CHECK(t.srv.connections() == 1);
                reset_connection(c.stream());
                CHECK(co_await drained_within(t.srv, 1s));
                reply r = co_await get(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
                CHECK(r.body == "Hello, World!");
            }
            co_await t.stop();
        });
    }

    TEST_CASE("a client that never reads is dropped after write_timeout with bounded output") {
        run_test([]() -> task<void> {
            server_options o = quick_options();
            o.write_timeout = 300ms;
            test_server t(o);
            std::uint64_t streamed = 0;
            t.srv.route("GET", "/endless", [&streamed](server_request&, server_response& res) -> task<void> {
                const std::string piece(64 * 1024, 'x');
                for (int i = 0; i < 4096; ++i) { // 256 MiB, far more than any socket buffer
                    co_await res.write(piece);
                    streamed += piece.size();
                }
            });
            const std::string big(64 * 1024, 'y');
            t.srv.route("GET", "/big", [&big](server_request&, server_response& res) -> task<void> {
                res.set_body(big);
                co_return;
            });
            t.start();
            // A streaming handler waits for each write: what it produced is
            // bounded by the socket buffers, and the connection ends.
            raw_client a = co_await raw_client::connect(t.port);
            co_await a.send("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(co_await drained_within(t.srv, 3s));
            INFO("streamed before the timeout: " << streamed);
            CHECK(streamed > 0);
            CHECK(streamed < 64u * 1024 * 1024);
            // Pipelined requests whose answers are never read: the server
            // stops reading requests once its output cannot drain.
            raw_client b = co_await raw_client::connect(t.port);
            std::string many;
            for (int i = 0; i < 1000; ++i) many += "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"; // 64 MB of answers
            co_await b.send(many);
            auto start = corio::current_loop().now();
            CHECK(co_await drained_within(t.srv, 3s));
            CHECK(corio::current_loop().now() - start >= 250ms);
            CHECK(t.srv.requests() < 1000);
            reply r = co_await get(t.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            CHECK(r.status == 200);
            co_await t.stop();
        });
    }

    TEST_CASE("curl fetches from examples/http_server; SIGQUIT dumps, --stats prints on SIGTERM") {
        if (!fs::exists(example_process::binary()) || run_command("command -v curl").empty()) {
            MESSAGE("examples/http_server or curl is missing: skipped");
            return;
        }
        file_tree tree;
        example_process srv({"--port", "0", "--root", tree.root.string(), "--stats"}, tree.base / "stderr.txt");
        const std::string url = "http://127.0.0.1:" + std::to_string(srv.port);
        const std::string curl = "curl -sS --max-time 5 ";
        CHECK(run_command(curl + "-w ' %{http_code} %{content_type} %{size_download}' " + url + "/hello") ==
              "Hello, World! 200 text/plain 13");
        // Keep-alive: curl reuses its connection for the second URL.
        CHECK(run_command(curl + "-o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\\n' " + url + "/hello " +
                          url + "/hello.txt") == "200 1\n200 0\n");
        std::string head = run_command(curl + "-I " + url + "/hello.txt");
        CHECK(head.find("HTTP/1.1 200 OK") == 0);
        CHECK(head.find("Content-Length: 10\r\n") != std::string::npos);
        CHECK(run_command(curl + "-r 2-5 -w ' %{http_code}' " + url + "/hello.txt") == "2345 206");
        for (std::string target : {"/../secret.txt", "/%2e%2e/secret.txt", "/dir/../../secret.txt", "/escape"}) {
            INFO(target);
            std::string code = run_command(curl + "--path-as-is -o /dev/null -w '%{http_code}' '" + url + target + "'");
            CHECK((code == "403" || code == "404"));
        }
        REQUIRE(::kill(srv.pid, SIGQUIT) == 0);
        for (int i = 0; i < 100 && srv.stderr_text().find("loop: iterations=") == std::string::npos; ++i)
            ::usleep(20'000);
        std::string dumped = srv.stderr_text();
        CHECK(dumped.find("live task(s) on backend") != std::string::npos);
        CHECK(dumped.find("'http accept'") != std::string::npos);
        CHECK(srv.running());
        CHECK(run_command(curl + url + "/hello") == "Hello, World!");
        REQUIRE(::kill(srv.pid, SIGTERM) == 0);
        CHECK(srv.wait(5s) == 0);
        CHECK(srv.stderr_text().find("loop 0: iterations=") != std::string::npos);
    }
}

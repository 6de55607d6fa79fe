// SPDX-License-Identifier: MIT
//
// http_server: corio's HTTP/1.1 server with one in-memory route and static
// files.
//
//   http_server [--host 127.0.0.1] [--port 8080] [--root DIR] [--threads N] [--backend auto|epoll|uring]
//               [--stats]
//
// `GET /hello` answers 200 "Hello, World!" (text/plain, 13 bytes), the
// route the load benchmarks hit; every other path is a file under --root
// (default: the current directory), with HEAD, Range and Last-Modified.
// Port 0 picks a free port; the server prints `listening on HOST:PORT` once
// its listeners accept. SIGINT or SIGTERM stops it gracefully (responses in
// flight finish, idle connections close) and it exits 0. SIGQUIT prints
// loop 0's task dump and counters (corio/core/diagnostics.hpp) and goes on;
// --stats prints every loop's counters on exit.
//
// --threads N runs a corio::runtime of N loops, each with its own server
// and its own SO_REUSEPORT listener on the same port; the kernel spreads
// the connections, and nothing is shared between the loops but the stop
// request. Signals are blocked in main before the runtime starts its
// threads (they inherit the mask), and loop 0 reads them from a signalfd.
#include <corio/core/diagnostics.hpp>
#include <corio/core/runtime.hpp>
#include <corio/core/signal_set.hpp>
#include <corio/net/http/server.hpp>
#include <corio/net/http/static_files.hpp>
#include <corio/net/tcp.hpp>

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <sys/resource.h>
#include <vector>

using corio::task;
using corio::http::server_request;
using corio::http::server_response;
using corio::net::address;
using corio::net::tcp_listener;

namespace {

struct shared_state {
    corio::runtime* rt = nullptr;
    std::vector<corio::http::server*> servers; // slot i: loop i's server, touched on loop i only
    std::vector<corio::loop_stats> stats;      // slot i: loop i's counters when its server is done
    std::atomic<bool> stop_requested{false};
};

task<void> hello(server_request&, server_response& res) {
    res.set_body("Hello, World!", "text/plain");
    co_return;
}

// Loop 0: waits for SIGINT/SIGTERM, then asks every loop to stop its server.
task<void> watch_signals(corio::signal_set& sigs, shared_state& shared) {
    int signo = co_await sigs.wait();
    std::fprintf(stderr, "http_server: %s, stopping\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
    shared.stop_requested.store(true);
    for (std::size_t j = 0; j < shared.servers.size(); ++j)
        shared.rt->call_on(j, [&shared, j] {
            if (shared.servers[j]) shared.servers[j]->stop();
        });
}

task<void> serve_loop(std::size_t i, tcp_listener listener, const std::string& root, corio::signal_set& sigs,
                      corio::sigquit_dumper& dumper, shared_state& shared) {
    corio::http::server srv;
    srv.route("GET", "/hello", hello);
    srv.route_prefix("GET", "/", corio::http::static_files(root));
    shared.servers[i] = &srv;
    corio::join_handle<void> watcher, dump_watcher;
    if (i == 0) {
        watcher = corio::spawn(watch_signals(sigs, shared), "signals");
        dump_watcher = corio::spawn(dumper.watch(), "sigquit");
    }
    // A signal that came before this loop's server existed.
    if (shared.stop_requested.load()) srv.stop();
    co_await srv.serve(std::move(listener));
    shared.servers[i] = nullptr;
    if (watcher) watcher.cancel();
    if (dump_watcher) dump_watcher.cancel();
    shared.stats[i] = corio::current_loop().stats();
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"corio HTTP/1.1 server"};
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string root = ".";
    int threads = 1;
    std::string backend = "auto";
    bool stats = false;
    app.add_option("--host", host, "address to listen on")->capture_default_str();
    app.add_option("--port", port, "port (0 = any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
    app.add_option("--root", root, "directory of the static files")->capture_default_str();
    app.add_option("--threads", threads, "event loops, one per thread, SO_REUSEPORT listeners")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    app.add_option("--backend", backend, "I/O backend")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "epoll", "uring", "kqueue"}));
    app.add_flag("--stats", stats, "print each loop's counters on exit");
    CLI11_PARSE(app, argc, argv);

    try {
        // Before any thread starts, so that every thread inherits the mask.
        corio::signal_set sigs{SIGINT, SIGTERM};
        corio::sigquit_dumper dumper;

        rlimit rl{};
        if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            ::setrlimit(RLIMIT_NOFILE, &rl);
        }

        auto at = address::from_host(host, static_cast<std::uint16_t>(port));
        if (!at) {
            std::fprintf(stderr, "http_server: --host must be a numeric IPv4 or IPv6 address: %s\n", host.c_str());
            return 2;
        }
        corio::net::listen_options lo;
        lo.reuse_port = threads > 1;
        std::vector<tcp_listener> listeners;
        listeners.push_back(tcp_listener::bind(*at, lo));
        for (int i = 1; i < threads; ++i)
            listeners.push_back(tcp_listener::bind(listeners.front().local_address(), lo));
        std::printf("listening on %s\n", listeners.front().local_address().to_string().c_str());
        std::fflush(stdout);

        corio::runtime_options options;
        options.loop.backend = backend;
        corio::runtime rt(static_cast<std::size_t>(threads), options);
        shared_state shared;
        shared.rt = &rt;
        shared.servers.resize(static_cast<std::size_t>(threads), nullptr);
        shared.stats.resize(static_cast<std::size_t>(threads));
        rt.run([&](std::size_t i) { return serve_loop(i, std::move(listeners[i]), root, sigs, dumper, shared); });
        if (stats)
            for (std::size_t i = 0; i < shared.stats.size(); ++i)
                corio::print_stats(stderr, shared.stats[i], "loop " + std::to_string(i));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "http_server: %s\n", e.what());
        return 1;
    }
}

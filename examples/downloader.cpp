// SPDX-License-Identifier: MIT
//
// downloader: many URLs, concurrently, through one corio client_session.
//
//   downloader [-c N] [-o DIR] [-i FILE] [--retries N] [--timeout S]
//              [--connect-timeout S] [--cacert FILE] [--quiet] URL...
//
// - At most N downloads at once (default 16), through map_bounded over a
//   lazy generator: the command line's URLs, then FILE's lines (one URL a
//   line, blank lines and `#` comments skipped), read as they are needed,
//   so a list of a million URLs costs one line of memory.
// - File names: the last segment of the URL's path, percent-decoded, with
//   '/', '\\', control bytes and a leading '.' replaced, so a name never
//   leaves DIR; an empty name is index.html; a name taken earlier in the run
//   becomes name.1, name.2...
// - Each file is written to NAME.part and renamed to NAME only when its
//   body is complete: nothing incomplete ever sits under a final name.
// - Transient failures (connect errors, resets, timeouts, truncated bodies,
//   5xx) are retried with exponential backoff (0.25 s, 0.5 s, ... at most
//   8 s). A retry, or a later run, resumes NAME.part with a Range request
//   when the server answers 206; otherwise it starts over.
// - --timeout is the read (idle) timeout: the longest wait for the next
//   bytes; a large file on a slow link never times out while it moves.
// - Progress: on a terminal, per-file bars and a total line with bytes/s
//   and ETA, redrawn at most 10 times a second on stderr; otherwise one line
//   per finished file on stdout. --quiet prints only errors.
// - The last line: `downloaded N files, B bytes in T s (X MB/s), F failed`.
//   Exit 0 if every URL succeeded, 1 if any failed, 2 on bad usage, 130 on
//   SIGINT (downloads stop; NAME.part files are kept for a resume).
// - --stats prints the event loop's counters on exit; SIGQUIT (Ctrl-\ in a
//   terminal) prints the task dump (what every download waits on) and goes on.
// - Each connection gets a fixed 1 MiB receive buffer (pool_options::
//   receive_buffer). With the kernel's autotuning, 200 x 256 KiB from nginx
//   on loopback cost 150-200 spurious tail-loss probes a run (nstat
//   TCPLossProbes, each answered by a DSACK): nearly every response's last
//   bytes came 10-40 ms late, the server apparently waiting for a window
//   update the client's delayed ACK had not sent yet. With 1 MiB: 7-17
//   probes, and the small set went from about curl's time to 0.85x it.
#include <corio/core/combinators.hpp>
#include <corio/core/diagnostics.hpp>
#include <corio/core/generator.hpp>
#include <corio/core/run.hpp>
#include <corio/core/time.hpp>
#include <corio/net/http/client.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <list>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using corio::task;
namespace http = corio::http;
namespace fs = std::filesystem;

namespace {

struct config {
  unsigned concurrency = 16;
  std::string out_dir = ".";
  std::string input;
  unsigned retries = 3;
  double timeout = 60;
  double connect_timeout = 10;
  std::string cacert;
  bool quiet = false;
  bool stats = false;
  std::vector<std::string> urls;
};

struct job {
  std::string url;
  std::string name;  // empty: the URL did not parse
  std::string error;
};

// --- names ----------------------------------------------------------------------

std::string file_name_for(const http::url& u) {
  std::string_view path = u.path();
  std::string_view last = path.substr(path.find_last_of('/') == std::string_view::npos ? 0 : path.find_last_of('/') + 1);
  std::string name;
  try {
    name = http::percent_decode(last);
  } catch (const http::url_error&) {
    name = std::string(last);
  }
  for (char& c : name)
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  if (!name.empty() && name.front() == '.') name.front() = '_';  // no "..", no hidden files
  if (name.size() > 200) name.resize(200);
  if (name.empty()) name = "index.html";
  return name;
}

// The URLs, lazily: the command line's, then the file's, each with a name
// unique within this run.
corio::generator<job> jobs(const config& cfg, std::set<std::string>& taken) {
  auto make = [&taken](std::string url) {
    job j{std::move(url), {}, {}};
    try {
      std::string base = file_name_for(http::url::parse(j.url));
      std::string name = base;
      for (int i = 1; !taken.insert(name).second; ++i) name = base + "." + std::to_string(i);
      j.name = name;
    } catch (const std::exception& e) {
      j.error = e.what();
    }
    return j;
  };
  for (const std::string& u : cfg.urls) co_yield make(u);
  if (cfg.input.empty()) co_return;
  std::ifstream in(cfg.input);
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    auto e = line.find_last_not_of(" \t\r");
    co_yield make(line.substr(b, e - b + 1));
  }
}

// map_bounded steps its input forward right after taking an item; over the
// generator above that reads the next line at once, which on a pipe or a
// terminal blocks the whole loop (every download) until that line comes.
// This view holds the step back until the next item is really wanted.
class lazy_jobs {
 public:
  explicit lazy_jobs(corio::generator<job> g) : gen_(std::move(g)) {}
  class iterator {
   public:
    using value_type = job;
    using difference_type = std::ptrdiff_t;
    explicit iterator(lazy_jobs* self = nullptr) : self_(self) {}
    job operator*() const {
      self_->settle();
      return **self_->it_;
    }
    iterator& operator++() {
      self_->step_ = true;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& i, std::default_sentinel_t) { return i.at_end(); }

   private:
    bool at_end() const {
      self_->settle();
      return *self_->it_ == std::default_sentinel;
    }
    lazy_jobs* self_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return std::default_sentinel; }

 private:
  void settle() {
    if (!it_) it_.emplace(gen_.begin());
    if (std::exchange(step_, false)) ++*it_;
  }
  corio::generator<job> gen_;
  std::optional<decltype(gen_.begin())> it_;
  bool step_ = false;
};

// --- progress -------------------------------------------------------------------

std::string human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

struct active_file {
  std::string name;
  std::uint64_t got = 0;
  std::optional<std::uint64_t> size;
};

struct progress {
  bool tty = false;
  bool quiet = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::list<active_file> active;
  std::uint64_t bytes = 0;  // all bytes received this run
  std::uint64_t files = 0;
  std::uint64_t failed = 0;
  std::size_t drawn = 0;  // lines drawn last time

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  void clear() {
    if (!tty || drawn == 0) return;
    std::fprintf(stderr, "\x1b[%zuA", drawn);
    for (std::size_t i = 0; i < drawn; ++i) std::fputs("\x1b[2K\n", stderr);
    std::fprintf(stderr, "\x1b[%zuA", drawn);
    drawn = 0;
  }
  void draw() {
    if (!tty || quiet) return;
    clear();
    std::size_t shown = 0;
    std::uint64_t left = 0;
    bool known = true;
    for (const active_file& f : active) {
      if (f.size)
        left += *f.size > f.got ? *f.size - f.got : 0;
      else
        known = false;
      if (shown == 12) continue;
      constexpr int width = 30;
      int fill = f.size && *f.size > 0 ? static_cast<int>(width * std::min(1.0, double(f.got) / double(*f.size))) : 0;
      std::string bar(static_cast<std::size_t>(fill), '#');
      bar.resize(width, f.size ? '.' : '?');
      std::string name = f.name.size() > 32 ? f.name.substr(0, 29) + "..." : f.name;
      std::fprintf(stderr, "%-32s [%s] %s%s\n", name.c_str(), bar.c_str(), human(double(f.got)).c_str(),
                   f.size ? (" / " + human(double(*f.size))).c_str() : "");
      ++shown;
    }
    double t = elapsed();
    double rate = t > 0 ? double(bytes) / t : 0;
    std::string eta = known && rate > 0 ? std::to_string(static_cast<long>(double(left) / rate + 0.5)) + " s" : "--";
    std::fprintf(stderr, "total: %llu done, %zu active, %llu failed, %s at %s/s, ETA %s\n",
                 static_cast<unsigned long long>(files), active.size(), static_cast<unsigned long long>(failed),
                 human(double(bytes)).c_str(), human(rate).c_str(), eta.c_str());
    drawn = shown + 1;
    std::fflush(stderr);
  }
  void finished(const std::string& name, std::uint64_t size, double secs) {
    ++files;
    if (quiet) return;
    clear();
    std::printf("%s  %s  %.2f s\n", name.c_str(), human(double(size)).c_str(), secs);
    if (tty) std::fflush(stdout);
  }
  void failure(const std::string& url, const std::string& why) {
    ++failed;
    clear();
    std::fprintf(stderr, "FAILED %s: %s\n", url.c_str(), why.c_str());
  }
};

task<void> redraw(progress& p) {
  for (;;) {
    co_await corio::sleep(100ms);
    p.draw();
  }
}

// --- one download ---------------------------------------------------------------

// Transient: worth another try.
class transient : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// One attempt: resumes `part` if the server allows, writes the body, renames.
task<void> attempt(http::client_session& s, const job& j, const fs::path& dir, progress& p, active_file& me) {
  fs::path part = dir / (j.name + ".part");
  fs::path final_path = dir / j.name;
  std::uint64_t offset = 0;
  struct stat st {};
  if (::stat(part.c_str(), &st) == 0) offset = static_cast<std::uint64_t>(st.st_size);
  http::fields h;
  h.add("Accept-Encoding", "identity");
  if (offset > 0) h.add("Range", "bytes=" + std::to_string(offset) + "-");
  http::response r = co_await s.get(j.url, std::move(h));
  unsigned code = r.status();
  bool resume = false;
  if (code == 206 && offset > 0) {
    auto cr = r.headers().find("content-range");
    resume = cr && cr->starts_with("bytes " + std::to_string(offset) + "-");
  }
  if (code == 416 && offset > 0) {
    // The part may already hold everything: "bytes */SIZE".
    auto cr = r.headers().find("content-range");
    if (cr && *cr == "bytes */" + std::to_string(offset)) {
      if (::rename(part.c_str(), final_path.c_str()) != 0) corio::throw_system_error(errno, "rename " + part.string());
      me.got = me.size.emplace(offset);
      co_return;
    }
    ::unlink(part.c_str());
    throw transient("416 Range Not Satisfiable; starting over");
  }
  if (code >= 500) throw transient("HTTP " + std::to_string(code) + " " + r.reason());
  if (code != 200 && !resume) throw std::runtime_error("HTTP " + std::to_string(code) + " " + r.reason());
  if (!resume) offset = 0;
  me.got = offset;
  if (auto cl = r.content_length()) me.size = offset + *cl;
  fd_guard f;
  f.fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (resume ? O_APPEND : O_TRUNC), 0644);
  if (f.fd < 0) corio::throw_system_error(errno, "open " + part.string());
  for (;;) {
    std::span<const std::byte> c = co_await r.read_chunk();
    if (c.empty()) break;
    while (!c.empty()) {
      ssize_t n = ::write(f.fd, c.data(), c.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) corio::throw_system_error(errno, "write " + part.string());
      c = c.subspan(static_cast<std::size_t>(n));
      me.got += static_cast<std::uint64_t>(n);
      p.bytes += static_cast<std::uint64_t>(n);
    }
  }
  int fd = std::exchange(f.fd, -1);
  if (::close(fd) != 0) corio::throw_system_error(errno, "close " + part.string());
  if (::rename(part.c_str(), final_path.c_str()) != 0) corio::throw_system_error(errno, "rename " + part.string());
}

task<bool> download(http::client_session& s, job j, const config& cfg, progress& p) {
  if (j.name.empty()) {
    p.failure(j.url, j.error);
    co_return false;
  }
  auto started = std::chrono::steady_clock::now();
  auto me = p.active.insert(p.active.end(), active_file{j.name, 0, std::nullopt});
  struct unlist {
    progress& p;
    std::list<active_file>::iterator it;
    ~unlist() { p.active.erase(it); }
  } guard{p, me};
  std::string last_error;
  for (unsigned tries = 0;; ++tries) {
    bool retry = false;
    try {
      co_await attempt(s, j, cfg.out_dir, p, *me);
      p.finished(j.name, me->got, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      co_return true;
    } catch (const corio::cancelled_error&) {
      throw;
    } catch (const transient& e) {
      last_error = e.what();
      retry = true;
    } catch (const corio::timeout_error& e) {
      last_error = e.what();
      retry = true;
    } catch (const http::http_error& e) {
      last_error = e.what();
      retry = true;  // truncated body, reset server: resume
    } catch (const std::system_error& e) {
      last_error = e.what();
      int err = e.code().value();
      // Socket trouble is transient; a file we cannot write is not.
      retry = err == ECONNREFUSED || err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == EHOSTUNREACH ||
              err == ENETUNREACH || err == ECONNABORTED || err == EAGAIN;
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    if (!retry || tries >= cfg.retries) break;
    auto backoff = std::min<std::chrono::milliseconds>(250ms * (1u << std::min(tries, 5u)), 8s);
    co_await corio::sleep(backoff);
  }
  p.failure(j.url, last_error);
  co_return false;
}

task<int> amain(const config& cfg, progress& p, corio::sigquit_dumper& dumper) {
  // Lives until run() cancels what is left when amain returns.
  auto watch = corio::spawn(dumper.watch(), "sigquit");
  http::client_options o;
  o.pool.limit = cfg.concurrency;
  o.pool.limit_per_host = cfg.concurrency;
  o.pool.max_idle_per_host = cfg.concurrency;
  o.pool.receive_buffer = 1 << 20;
  o.pool.tls.ca_file = cfg.cacert;
  o.timeouts.connect = std::chrono::milliseconds(static_cast<long>(cfg.connect_timeout * 1000));
  o.timeouts.read = std::chrono::milliseconds(static_cast<long>(cfg.timeout * 1000));
  o.auto_decompress = false;
  http::client_session session(o);
  std::set<std::string> taken;
  corio::join_handle<void> drawer;
  if (p.tty && !p.quiet) drawer = corio::spawn(redraw(p), "progress");
  auto m = corio::map_bounded(lazy_jobs(jobs(cfg, taken)), cfg.concurrency,
                              [&](job j) { return download(session, std::move(j), cfg, p); });
  while (co_await m.next()) {
  }
  if (drawer) drawer.cancel();
  p.clear();
  if (cfg.stats) corio::print_stats(stderr, corio::current_loop().stats());
  co_return p.failed == 0 ? 0 : 1;
}

void summary(const progress& p, bool interrupted) {
  double t = p.elapsed();
  std::printf("%sdownloaded %llu files, %llu bytes in %.2f s (%.1f MB/s), %llu failed\n",
              interrupted ? "interrupted: " : "", static_cast<unsigned long long>(p.files),
              static_cast<unsigned long long>(p.bytes), t, t > 0 ? double(p.bytes) / t / 1e6 : 0.0,
              static_cast<unsigned long long>(p.failed));
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  CLI::App app{"Download URLs concurrently with corio"};
  app.add_option("-c,--concurrency", cfg.concurrency, "downloads at once")->check(CLI::Range(1u, 10000u));
  app.add_option("-o,--output-dir", cfg.out_dir, "directory for the files");
  app.add_option("-i,--input", cfg.input, "file with one URL a line ('#' comments)")->check(CLI::ExistingFile);
  app.add_option("--retries", cfg.retries, "retries of a transient failure");
  app.add_option("--timeout", cfg.timeout, "read timeout in seconds (idle time between bytes)")
      ->check(CLI::PositiveNumber);
  app.add_option("--connect-timeout", cfg.connect_timeout, "connect timeout in seconds")->check(CLI::PositiveNumber);
  app.add_option("--cacert", cfg.cacert, "PEM file of trusted CAs for https")->check(CLI::ExistingFile);
  app.add_flag("-q,--quiet", cfg.quiet, "print only errors");
  app.add_flag("--stats", cfg.stats, "print the event loop's counters on exit");
  app.add_option("urls", cfg.urls, "URLs to download");
  try {
    app.parse(argc, argv);
    if (cfg.urls.empty() && cfg.input.empty()) throw CLI::ValidationError("no URL given (URL... or -i FILE)");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  std::error_code ec;
  fs::create_directories(cfg.out_dir, ec);
  if (!fs::is_directory(cfg.out_dir)) {
    std::fprintf(stderr, "downloader: cannot use output directory '%s'\n", cfg.out_dir.c_str());
    return 2;
  }
  corio::sigquit_dumper dumper;  // before any thread: they inherit the blocked SIGQUIT
  progress p;
  p.quiet = cfg.quiet;
  p.tty = ::isatty(STDERR_FILENO) == 1;
  int rc;
  try {
    rc = corio::run(amain(cfg, p, dumper));
  } catch (const corio::interrupted&) {
    p.clear();
    summary(p, true);
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "downloader: %s\n", e.what());
    return 1;
  }
  if (!cfg.quiet) summary(p, false);
  return rc;
}

// Test-only kqueue emulation over epoll (see include/sys/event.h). Covers
// what corio uses: EVFILT_READ/WRITE (EV_ADD[|EV_CLEAR], EV_DELETE),
// EVFILT_USER (EV_ADD, NOTE_TRIGGER), EVFILT_SIGNAL (EV_ADD) via signalfd.
#include <sys/event.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

constexpr std::uint64_t tag_fd = 0, tag_user = 1, tag_signal = 2;
std::uint64_t pack(std::uint64_t tag, int fd) { return (tag << 32) | static_cast<std::uint32_t>(fd); }

struct fd_reg {
  bool read = false, write = false, clear = false, added = false;
};

struct kq_state {
  int epfd = -1;
  int userfd = -1;
  std::uintptr_t user_ident = 0;
  int sigfd = -1;
  sigset_t sigs;
  std::map<int, fd_reg> fds;
  std::deque<struct kevent> overflow;
};

std::mutex g_mutex;
std::map<int, std::shared_ptr<kq_state>> g_kqs;

std::shared_ptr<kq_state> find(int kq) {
  std::lock_guard l(g_mutex);
  auto it = g_kqs.find(kq);
  return it == g_kqs.end() ? nullptr : it->second;
}

int apply_fd(kq_state& k, int fd, fd_reg& r) {
  epoll_event ev{};
  ev.data.u64 = pack(tag_fd, fd);
  ev.events = (r.read ? std::uint32_t{EPOLLIN | EPOLLRDHUP} : 0u) | (r.write ? std::uint32_t{EPOLLOUT} : 0u) |
              (r.clear ? std::uint32_t{EPOLLET} : 0u);
  if (!r.read && !r.write) {
    if (r.added) ::epoll_ctl(k.epfd, EPOLL_CTL_DEL, fd, nullptr);
    k.fds.erase(fd);
    return 0;
  }
  if (::epoll_ctl(k.epfd, r.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) return errno;
  r.added = true;
  return 0;
}

int change(kq_state& k, const struct kevent& c) {
  switch (c.filter) {
    case EVFILT_READ:
    case EVFILT_WRITE: {
      int fd = static_cast<int>(c.ident);
      bool had = k.fds.count(fd) != 0;
      fd_reg& r = k.fds[fd];
      bool& bit = c.filter == EVFILT_READ ? r.read : r.write;
      if (c.flags & EV_ADD) {
        bit = true;
        if (c.flags & EV_CLEAR) r.clear = true;
      } else if (c.flags & EV_DELETE) {
        if (!bit) {
          if (!had) k.fds.erase(fd);
          return ENOENT;
        }
        bit = false;
      }
      int err = apply_fd(k, fd, r);
      if (err) {
        bit = false;
        if (!r.read && !r.write) k.fds.erase(fd);
      }
      return err;
    }
    case EVFILT_USER:
      if (c.flags & EV_ADD) {
        if (k.userfd < 0) {
          k.userfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = pack(tag_user, 0);
          ::epoll_ctl(k.epfd, EPOLL_CTL_ADD, k.userfd, &ev);
          k.user_ident = c.ident;
        }
      }
      if (c.fflags & NOTE_TRIGGER) {
        if (k.userfd < 0) return ENOENT;
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(k.userfd, &one, sizeof one);
      }
      return 0;
    case EVFILT_SIGNAL: {
      if (!(c.flags & EV_ADD)) return EINVAL;
      sigaddset(&k.sigs, static_cast<int>(c.ident));
      int fd = ::signalfd(k.sigfd, &k.sigs, SFD_NONBLOCK | SFD_CLOEXEC);
      if (fd < 0) return errno;
      if (k.sigfd < 0) {
        k.sigfd = fd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = pack(tag_signal, 0);
        ::epoll_ctl(k.epfd, EPOLL_CTL_ADD, k.sigfd, &ev);
      }
      return 0;
    }
    default:
      return EINVAL;
  }
}

}  // namespace

extern "C" int kqueue(void) {
  auto k = std::make_shared<kq_state>();
  k->epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (k->epfd < 0) return -1;
  sigemptyset(&k->sigs);
  std::lock_guard l(g_mutex);
  g_kqs[k->epfd] = k;
  return k->epfd;
}

extern "C" int kevent(int kq, const struct kevent* changes, int nchanges, struct kevent* events, int nevents,
                      const struct timespec* timeout) {
  auto k = find(kq);
  if (!k) {
    errno = EBADF;
    return -1;
  }
  for (int i = 0; i < nchanges; ++i) {
    int err;
    if (changes[i].filter == EVFILT_USER && !(changes[i].flags & EV_ADD)) {
      err = change(*k, changes[i]);  // NOTE_TRIGGER: from any thread, no state change
    } else {
      std::lock_guard l(g_mutex);
      err = change(*k, changes[i]);
    }
    if (err) {
      if (nevents > 0) {
        events[0] = changes[i];
        events[0].flags = EV_ERROR;
        events[0].data = err;
        return 1;
      }
      errno = err;
      return -1;
    }
  }
  if (nevents <= 0) return 0;
  int n = 0;
  while (n < nevents && !k->overflow.empty()) {
    events[n++] = k->overflow.front();
    k->overflow.pop_front();
  }
  if (n > 0) timeout = nullptr;
  epoll_event evs[128];
  int max = nevents < 128 ? nevents : 128;
  int got;
  if (n > 0) {
    got = ::epoll_wait(k->epfd, evs, max, 0);
  } else {
    timespec ts{};
    got = ::epoll_pwait2(k->epfd, evs, max, timeout ? timeout : nullptr, nullptr);
    (void)ts;
  }
  if (got < 0) return n > 0 ? n : -1;
  auto emit = [&](const struct kevent& e) {
    if (n < nevents)
      events[n++] = e;
    else
      k->overflow.push_back(e);
  };
  for (int i = 0; i < got; ++i) {
    std::uint64_t tag = evs[i].data.u64 >> 32;
    int fd = static_cast<int>(evs[i].data.u64 & 0xffffffffu);
    std::uint32_t e = evs[i].events;
    struct kevent out{};
    if (tag == tag_user) {
      std::uint64_t v;
      [[maybe_unused]] auto r = ::read(k->userfd, &v, sizeof v);
      out.ident = k->user_ident;
      out.filter = EVFILT_USER;
      emit(out);
      continue;
    }
    if (tag == tag_signal) {
      signalfd_siginfo info{};
      if (::read(k->sigfd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        out.ident = info.ssi_signo;
        out.filter = EVFILT_SIGNAL;
        out.data = 1;
        emit(out);
      }
      continue;
    }
    fd_reg r;
    {
      std::lock_guard l(g_mutex);
      auto it = k->fds.find(fd);
      if (it == k->fds.end()) continue;
      r = it->second;
    }
    unsigned short eof = (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ? EV_EOF : 0;
    if (r.read && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
      out = {};
      out.ident = static_cast<uintptr_t>(fd);
      out.filter = EVFILT_READ;
      out.flags = eof;
      emit(out);
    }
    if (r.write && (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
      out = {};
      out.ident = static_cast<uintptr_t>(fd);
      out.filter = EVFILT_WRITE;
      out.flags = eof;
      emit(out);
    }
  }
  return n;
}

// libkqueue notices a closed kqueue on its own; this stand-in interposes
// close() so that the kqueue's private fds go with it.
extern "C" int close(int fd) {
  std::shared_ptr<kq_state> k;
  {
    std::lock_guard l(g_mutex);
    auto it = g_kqs.find(fd);
    if (it != g_kqs.end()) {
      k = it->second;
      g_kqs.erase(it);
    }
  }
  if (k) {
    if (k->userfd >= 0) ::syscall(SYS_close, k->userfd);
    if (k->sigfd >= 0) ::syscall(SYS_close, k->sigfd);
  }
  return static_cast<int>(::syscall(SYS_close, fd));
}

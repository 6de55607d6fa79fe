/* Test-only stand-in for <sys/event.h>: the BSD kqueue API (FreeBSD's
   layout and constants) over epoll, so that corio's kqueue code can be
   compiled and run on a Linux without libkqueue. Not part of corio. */
#pragma once
#include <stdint.h>
#include <time.h>
#ifdef __cplusplus
extern "C" {
#endif
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_SIGNAL (-6)
#define EVFILT_TIMER (-7)
#define EVFILT_USER (-11)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_EOF 0x8000
#define EV_ERROR 0x4000
#define NOTE_TRIGGER 0x01000000
struct kevent {
  uintptr_t ident;
  short filter;
  unsigned short flags;
  unsigned int fflags;
  intptr_t data;
  void* udata;
};
#define EV_SET(kevp, a, b, c, d, e, f) do { \
    struct kevent* ev_ = (kevp); \
    ev_->ident = (a); ev_->filter = (b); ev_->flags = (c); ev_->fflags = (d); \
    ev_->data = (e); ev_->udata = (void*)(f); } while (0)
int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist, int nevents,
           const struct timespec* timeout);
#ifdef __cplusplus
}
#endif

// SPDX-License-Identifier: MIT
//
// The io_uring backend: completion for real, through liburing.
//
// Every op becomes one SQE whose user_data is the io_op's address, and its
// CQE's res is the op's result as it stands (backend.hpp speaks io_uring's
// language). submit() only fills an SQE; poll() flushes the whole batch and
// waits in a single io_uring_submit_and_wait_timeout, so an iteration that
// starts 100 reads pays one syscall. Only when the SQ is full does submit()
// flush early; if even that fails, the op waits in a backlog for poll().
//
// Cancellation is asynchronous, and the op's memory is the kernel's until
// its own CQE arrives: cancel() moves the op to `cancelling` and queues an
// IORING_OP_ASYNC_CANCEL keyed by its user_data; the op completes when its
// CQE comes back, with -ECANCELED or with the result that beat the cancel.
// The cancel SQE's own CQE carries a tag (user_data 1, never an aligned
// pointer) and is dropped. forget(fd) must run before close(): the kernel
// resolves fds when it reads an SQE, so forget() flushes at once, with one
// IORING_ASYNC_CANCEL_FD | _ALL (Linux 5.19) or one cancel per op, from the
// per-fd list of ops kept for that purpose (epoll keeps the same lists).
//
// wake() may come from any thread or a signal handler, but with
// SINGLE_ISSUER | DEFER_TASKRUN only the ring's creator may enter it. So
// wake() only writes an eventfd (coalesced by an atomic flag, as in the
// epoll backend); a READ of that eventfd sits in the ring (tag 2) and is
// re-armed, batched with the next flush, each time it completes.
//
// Accept is multishot where the kernel has IORING_ACCEPT_MULTISHOT (5.19,
// probed by arming one on a throwaway listener): the first accept on a
// listener arms one ACCEPT that stays in the kernel and posts a CQE per
// connection, so a server that accepts in a loop pays no SQE per connection.
// Connections that arrive while nobody waits are queued (fd or -errno, at
// most accept_queue_limit; past that the multishot is cancelled and the rest
// wait in the kernel's backlog) and handed to the next accept, which then
// completes at the next poll (never inline). When the kernel ends the
// multishot (a CQE without IORING_CQE_F_MORE: an error such as EMFILE, a
// full CQ, our cancel) it is armed again only if someone still waits.
// forget(listener) cancels it, fails the waiters with ECANCELED and closes
// every queued fd; connections that the dying multishot still posts are
// closed as they arrive. Multishot accept gives no peer address (every CQE
// would share one sockaddr), so getpeername() fills an op's `addr` instead.
//
// Pooled recvs (io::recv_pooled) take their buffer in the kernel: one ring
// of provided buffers per backend (buffer group 0, registered with
// io_uring_register_buf_ring, 5.19) and, per connection, one multishot RECV
// with IOSQE_BUFFER_SELECT (6.0), armed by the first pooled recv and left
// armed while the connection lives, so a waiting or idle connection holds
// no buffer and an echoed message costs no SQE for its read. The state of a
// connection is a recv_conn (the acceptor's twin): results that arrive with
// no reader are queued (at most recv_queue_limit; past that the multishot is
// cancelled and the rest waits in the socket) and handed to the next
// recv_pooled, which completes at the next poll. A buffer goes back to the
// ring when its lease dies (io_uring_buf_ring_add: no syscall). When the
// ring runs dry the multishot ends with ENOBUFS; the reader waiting then
// falls back to POLL_ADD + recv into a heap buffer (backend::buffers()), and
// the next recv_pooled arms a multishot again. forget(fd) cancels the
// multishot, fails its readers with ECANCELED and returns every queued
// buffer; what the cancelled multishot still posts is recognised by its
// generation and its buffers go back too. Kernels without buffer rings or multishot
// recv (probed on a socketpair) do POLL_ADD + recv into the heap pool,
// which is what epoll does.
//
// Setup is probed, never assumed: SINGLE_ISSUER | DEFER_TASKRUN (6.1), else
// COOP_TASKRUN (5.19), else plain; a registered ring fd (5.18) where there is
// one; every opcode checked with io_uring_get_probe_ring. A ring that cannot
// be made (ENOSYS, EPERM under seccomp or io_uring_disabled) or lacks an
// opcode or FAST_POLL (5.7) throws std::system_error, and the factory falls
// back to epoll. SQPOLL stays off: it burns a core and has burned others.
//
// try_before_submit is false, by measurement (2 vCPU VM, Linux 6.18, 64 B
// ping-pong over socketpairs, median of 5): speculating costs +15% per round
// trip with 1 pair and +19% with 100 pairs, because a read in request/
// response traffic finds nothing and the failed syscall is pure overhead
// beside the batched enter. It wins 24% on a bulk stream (1 GiB, 4 KiB
// reads, data always waiting): a per-kind hint would take both.
#include <corio/core/backend.hpp>
#include <corio/core/log.hpp>
#include <corio/core/op_list.hpp>

#include <atomic>
#include <algorithm>
#include <cerrno>
#include <deque>
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace corio {

using detail::is_poll;
using detail::is_reader;
using detail::op_list;

namespace {

// user_data values that are not ops: io_op is 8-byte aligned, so small odd
// and even numbers below 8 can never be one. liburing's own timeout SQE
// (kernels without EXT_ARG, < 5.11) uses LIBURING_UDATA_TIMEOUT.
constexpr std::uint64_t tag_cancel = 1;
constexpr std::uint64_t tag_wake = 2;
constexpr std::uint64_t tag_probe = 3;
constexpr std::uint64_t tag_probe_accept = 5;
constexpr std::uint64_t tag_probe_recv = 7;
// An acceptor's user_data is its address with these low bits set (an
// acceptor is 8-byte aligned too, and an op's low three bits are zero).
constexpr std::uint64_t tag_acceptor = 4;
constexpr std::uint64_t tag_recv = 6;  // a connection's multishot RECV (recv_ud)
constexpr std::uint64_t tag_mask = 7;

// backend_flags bits. connect_started is detail::perform_io's (io_perform.cpp):
// the connect was begun by a syscall, so what is left is to wait for POLLOUT
// and read SO_ERROR. The other two are this backend's.
constexpr std::uint8_t connect_started = 0x01;
constexpr std::uint8_t accept_waiting = 0x04;  // parked on its listener's multishot accept
constexpr std::uint8_t accept_ready = 0x08;    // handed a queued result (accept or recv); completes at the next poll
constexpr std::uint8_t recv_waiting = 0x10;    // a pooled recv parked on its connection's multishot RECV
constexpr std::uint8_t poll_first = 0x20;  // the SQE in flight is a POLL_ADD; perform_io follows
constexpr std::uint8_t backlogged = 0x40;  // waiting in backlog_ for an SQE

// Same limits as detail::perform_io: counts must fit res, iovecs IOV_MAX.
unsigned clamp(std::size_t len) noexcept { return len > 0x7ffff000 ? 0x7ffff000u : static_cast<unsigned>(len); }
unsigned iov_count(std::size_t n) noexcept { return n > 1024 ? 1024u : static_cast<unsigned>(n); }

constexpr unsigned sq_entries = 256;
constexpr unsigned cq_entries = 4096;  // > the ops usually in flight; the kernel buffers beyond (NODROP)

// Connections a listener accepts ahead of its accept() calls. Enough to
// absorb a burst between two iterations; beyond it the kernel's backlog
// holds them, as it would without multishot.
constexpr std::size_t accept_queue_limit = 64;

// The provided-buffer ring: up to pool_entries buffers of pool_buffer_size
// bytes (16 MiB of address space), enough for 1000 connections with a
// message each in flight. A buffer is 16 KiB, not 2: a multishot recv
// puts at most one buffer in a completion, so a message larger than a
// buffer arrives, and is echoed, in pieces; with 2 KiB buffers a 4 KiB
// echo cost 1.8x the CPU per message of the readiness path and ran at 0.58x
// its rate (bench/echo_matrix.sh, 100 x 4 KiB), with 16 KiB 1.1x faster.
// Memory does not follow the size: a 64-byte message touches one page of
// its buffer, and idle connections measured 612 bytes each with 2 KiB,
// 620 with 16 KiB (bench/scale_connections.sh, 19,000 connections). The kernel takes buffers from the ring in FIFO
// order, so every buffer handed to it is soon written to (made resident)
// even when few are ever out at once: with the whole ring handed out at
// start (with 2 KiB buffers), 19,000 idle connections that had each echoed once kept 2 MiB
// resident, 110 bytes per connection (bench/scale_connections.sh). So the
// ring starts with pool_initial buffers and grows, in the order of the
// slab, only when fewer than a quarter of those it has are free (doubling)
// or when it ran dry (one buffer per reader that found it empty).
constexpr unsigned pool_entries = 1024;  // a power of two (the ring's mask)
constexpr unsigned pool_initial = 64;
constexpr unsigned pool_buffer_size = 16384;
constexpr std::uint16_t pool_group = 0;

// Results a connection receives ahead of its recv_pooled calls before its
// multishot is cancelled (the socket's own buffer holds the rest).
constexpr std::size_t recv_queue_limit = 8;

// What a multishot SQE that stays in the kernel (a listener's ACCEPT, a
// connection's RECV) needs of its owner: whether it is there, whether its
// cancel is on the way, and whether arming it waits for an SQE. The kernel
// ends one with a CQE without IORING_CQE_F_MORE (end_cqe), after which it
// is armed again only if a reader still waits.
struct multishot {
  bool armed = false;      // in the kernel (its last CQE not yet seen)
  bool disarming = false;  // its cancel is queued
  bool need_arm = false;   // arming found no SQE: flush_backlog retries
  void end_cqe() noexcept { armed = disarming = false; }
};

// One connection's multishot RECV and what it received ahead of demand.
// They live by value in a table indexed by fd (32 bytes each, no allocation
// per connection), so a CQE cannot carry a recv_conn's address: its
// user_data is the fd and the slot's generation (recv_ud). forget(fd)
// bumps the generation, so the CQEs a retired multishot still posts (until
// the kernel's last) are recognised as stale and their buffers go back,
// while a new connection on the same fd number uses the slot at once.
struct recv_conn {
  struct item {
    std::int32_t res;  // > 0: bytes in buffer `bid`; 0: EOF; < 0: -errno
    std::uint32_t bid;
  };
  // Made the first time a result arrives with no reader: most connections
  // (a reader always waiting) never have one.
  struct queue {
    std::vector<item> items;  // from `head` on
    std::size_t head = 0;
  };
  bool has_queued() const noexcept { return queued && queued->head < queued->items.size(); }
  item pop() noexcept {
    item it = queued->items[queued->head++];
    if (queued->head == queued->items.size()) {
      queued->items.clear();
      queued->head = 0;
    }
    return it;
  }
  std::size_t queued_count() const noexcept { return queued ? queued->items.size() - queued->head : 0; }

  op_list waiters;                // pooled recv ops, oldest first
  std::unique_ptr<queue> queued;  // results nobody waited for
  std::uint32_t gen = 0;          // bumped when the connection is forgotten
  multishot recv;
  bool active = false;  // a pooled recv was submitted since the last forget
};

static_assert(sizeof(recv_conn) <= 32, "one per fd: bench/scale_connections.sh counts every byte");

// A multishot RECV's user_data: generation, fd, tag (an fd fits 29 bits).
constexpr std::uint64_t recv_ud(int fd, std::uint32_t gen) noexcept {
  return std::uint64_t{gen} << 32 | static_cast<std::uint64_t>(fd) << 3 | tag_recv;
}

// The ring's buffers as a buffer_pool: the kernel acquires, a lease releases.
class ring_pool final : public buffer_pool {
 public:
  ring_pool(io_uring_buf_ring* br, std::byte* slab) noexcept : br_(br), slab_(slab) { grow(pool_initial); }
  // Only the kernel takes buffers from a provided ring.
  std::optional<std::uint32_t> acquire() noexcept override { return std::nullopt; }
  void release(std::uint32_t id) noexcept override {
    give(id);
    --lent_;
  }
  std::size_t in_use() const noexcept override { return lent_; }
  // Puts a buffer back in the ring (release, and the probe's buffer).
  void give(std::uint32_t id) noexcept {
    add(id, 0);
    io_uring_buf_ring_advance(br_, 1);
  }
  // A CQE says the kernel filled (took) a buffer.
  void taken() noexcept {
    ++lent_;
    grow_if_low();
  }
  // Doubles the ring if fewer than a quarter of its buffers are free.
  void grow_if_low() noexcept {
    if (given_ - lent_ < given_ / 4) grow(given_);
  }
  // A multishot ended with ENOBUFS: its reader found the ring empty. One
  // more buffer for each, so that a burst that emptied the ring grows it by
  // its own size at once (1000 connections' first messages would otherwise
  // take four rounds of doubling, each sending hundreds of readers through
  // readiness), and the usual doubling if the ring is still short.
  void ran_dry() noexcept {
    grow(1);
    grow_if_low();
  }
  // Buffers handed to the ring so far (the rest of the slab is untouched).
  std::size_t given() const noexcept { return given_; }
  std::byte* data(std::uint32_t id) noexcept override { return slab_ + std::size_t{id} * pool_buffer_size; }
  std::size_t buffer_size() const noexcept override { return pool_buffer_size; }

 private:
  void add(std::uint32_t id, int offset) noexcept {
    io_uring_buf_ring_add(br_, data(id), pool_buffer_size, static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(pool_entries), offset);
  }
  // Hands up to n more buffers of the slab to the ring, in one tail update.
  void grow(std::size_t n) noexcept {
    n = std::min<std::size_t>(n, pool_entries - given_);
    if (n == 0) return;
    for (std::size_t i = 0; i < n; ++i) add(static_cast<std::uint32_t>(given_ + i), static_cast<int>(i));
    io_uring_buf_ring_advance(br_, static_cast<int>(n));
    given_ += n;
  }

  io_uring_buf_ring* br_;
  std::byte* slab_;
  std::size_t lent_ = 0;
  std::size_t given_ = 0;
};

// One listener's multishot ACCEPT and what it accepted ahead of demand.
struct acceptor {
  explicit acceptor(int f) noexcept : fd(f) {}
  int fd;
  multishot accept;
  bool dying = false;      // forgotten: close whatever still arrives, free at the last CQE
  op_list waiters;         // accept ops, oldest first
  std::deque<std::int32_t> queued;  // results nobody waited for: fds, or -errno
};

struct setup_choice {
  unsigned flags;
  const char* name;
};

const setup_choice setups[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
     "SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL"},                                                          // 6.1
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL, "COOP_TASKRUN"},  // 5.19
    {0, "plain"},
};

struct required_op {
  int opcode;
  const char* name;
};

const required_op required_ops[] = {
    {IORING_OP_READ, "READ"},         {IORING_OP_WRITE, "WRITE"},     {IORING_OP_READV, "READV"},
    {IORING_OP_WRITEV, "WRITEV"},     {IORING_OP_RECV, "RECV"},       {IORING_OP_SEND, "SEND"},
    {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_CONNECT, "CONNECT"}, {IORING_OP_POLL_ADD, "POLL_ADD"},
    {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
};

[[noreturn]] void unavailable(int err, const std::string& what) {
  throw std::system_error(err, std::system_category(), "io_uring: " + what);
}

}  // namespace

class uring_backend final : public backend {
 public:
  uring_backend() {
    setup_ring();
    try {
      check_kernel();
      wakefd_ = ::eventfd(0, EFD_CLOEXEC);  // blocking: only the ring reads it
      if (wakefd_ < 0) unavailable(errno, "eventfd");
      cancel_fd_ = probe_cancel_fd();
      multishot_accept_ = probe_multishot_accept();
      setup_buffers();
      arm_wake();
    } catch (...) {
      if (wakefd_ >= 0) ::close(wakefd_);
      io_uring_queue_exit(&ring_);
      registered_ = false;
      unmap_buffers();
      throw;
    }
    CORIO_LOG_DEBUG(
        "io_uring: setup {}, {} SQ / {} CQ entries, ring fd {}, cancel by fd {}, multishot accept {}, provided "
        "buffers {}",
        setup_name_, ring_.sq.ring_entries, ring_.cq.ring_entries, ring_fd_registered_ ? "registered" : "not registered",
        cancel_fd_ ? "yes" : "no (5.19), per op", multishot_accept_ ? "yes" : "no (5.19)",
        pool_ ? "yes" : "no (6.0), readiness + heap pool");
  }

  // The loop drains its tasks before it drops the backend, so only the wake
  // READ is left in the kernel; closing the ring cancels it without writing
  // to wake_buf_ (the read is parked on a poll, not running).
  ~uring_backend() override {
    if (inflight_ > 0) CORIO_LOG_WARN("io_uring: backend destroyed with {} op(s) still in the kernel", inflight_);
    // Listeners still open: what they accepted ahead is ours to close.
    for (auto* v : {&acceptors_, &dying_})
      for (auto& a : *v)
        for (std::int32_t r : a->queued)
          if (r >= 0) ::close(r);
    io_uring_queue_exit(&ring_);  // the kernel lets go of the buffer ring (unregistered with it) first
    registered_ = false;
    unmap_buffers();
    ::close(wakefd_);
  }

  void submit(io_op& op) override {
    if (op.kind == op_kind::accept && multishot_accept_ && op.fd >= 0) return submit_accept(op);
    if (op.kind == op_kind::recv && op.pool && op.pool == pool_.get() && op.flags == 0 && op.fd >= 0)
      return submit_recv_pooled(op);
    // What may throw (growing a vector) runs before the op changes hands.
    op_list* l = op.fd >= 0 ? &list_for(op.fd) : nullptr;
    io_uring_sqe* sqe = get_sqe();
    if (!sqe) backlog_.push_back({&op, false});

    op.state = op_state::submitted;
    op.backend_flags &= static_cast<std::uint8_t>(~(poll_first | backlogged));
    // Begun by a syscall already (an awaiter that tried first): wait for the outcome.
    if (op.kind == op_kind::connect && (op.backend_flags & connect_started)) op.backend_flags |= poll_first;
    // A pooled recv without the ring (or with flags a multishot does not
    // take): wait for POLLIN, then perform_io takes a heap buffer.
    if (op.kind == op_kind::recv && op.pool) {
      if (op.pool == pool_.get()) op.pool = &backend::buffers();  // made by setup_buffers: no throw
      op.backend_flags |= poll_first;
    }
    ++inflight_;
    if (l) l->push(op);
    if (sqe)
      prep(sqe, op);
    else
      op.backend_flags |= backlogged;
  }

  void cancel(io_op& op) noexcept override {
    if (op.state != op_state::submitted) return;
    if (op.backend_flags & recv_waiting) {
      // Never in the kernel: the multishot RECV is the connection's, not the op's.
      if (recv_conn* c = find_conn(op.fd)) c->waiters.unlink(op);
      finish_parked(op, -ECANCELED);
      return;
    }
    if (op.backend_flags & accept_waiting) {
      // Never in the kernel: the multishot ACCEPT is the listener's, not the op's.
      if (acceptor* a = find_acceptor(op.fd)) a->waiters.unlink(op);
      finish_parked(op, -ECANCELED);
      return;
    }
    if (op.backend_flags & accept_ready) {
      // Its connection is already accepted: the real result wins, as for an
      // op that completed before the cancel reached it.
      ready_.unlink(op);
      finish_parked(op, op.res);
      return;
    }
    if (op.backend_flags & backlogged) {
      // The kernel never saw it: finish it here, as epoll does.
      drop_from_backlog(op);
      finish(op, -ECANCELED);
      return;
    }
    op.state = op_state::cancelling;
    queue_cancel(op);
  }

  int poll(std::optional<std::chrono::nanoseconds> timeout) override {
    int completed = complete_ready();
    flush_backlog();
    // Never sleep without the wake READ in the ring: a wake() meanwhile
    // would write an eventfd that nothing reads, and its flag would swallow
    // every later one (a lost wake-up).
    if (completed > 0 || io_uring_cq_ready(&ring_) > 0 || !backlog_.empty() || wake_backlogged_)
      timeout = std::chrono::nanoseconds::zero();
    enter(timeout);
    return completed + reap();
  }

  void flush() noexcept override {
    if (!backlog_.empty() || wake_backlogged_ || accept_backlogged_ || recv_backlogged_) flush_backlog();
    // One io_uring_enter without GETEVENTS; EBUSY/EAGAIN leave the SQEs for poll().
    if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
  }

  void wake() noexcept override {
    // One eventfd write per sleep is enough; the flag keeps a storm of
    // call_soon_threadsafe from turning into a storm of syscalls. Cleared
    // by the loop thread when the ring's READ of the eventfd completes.
    if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
  }

  void forget(int fd) noexcept override {
    if (fd < 0) return;
    const bool listener = retire_acceptor(fd);
    const bool receiver = retire_conn(fd);
    if (static_cast<std::size_t>(fd) >= fds_.size() || fds_[static_cast<std::size_t>(fd)].empty()) {
      if (listener || receiver) io_uring_submit(&ring_);  // the multishot's cancel (keyed by user_data, not fd)
      return;  // the common close(): no syscall
    }
    op_list& l = fds_[static_cast<std::size_t>(fd)];
    bool by_fd = cancel_fd_;
    for (io_op* op = l.head; op;) {
      io_op* next = op->next;
      if (op->state == op_state::submitted) {
        if (op->backend_flags & backlogged) {
          drop_from_backlog(*op);
          finish(*op, -ECANCELED);
        } else {
          op->state = op_state::cancelling;
          if (!by_fd) queue_cancel(*op);
        }
      }
      op = next;
    }
    if (by_fd) {
      io_uring_sqe* sqe = get_sqe();
      if (sqe) {
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, tag_cancel);
      } else {
        // No SQE even after a flush: fall back to one cancel per op (queued
        // in the backlog, keyed by user_data, so a later close is harmless).
        for (io_op* op = l.head; op; op = op->next)
          if (op->state == op_state::cancelling) queue_cancel(*op);
      }
    }
    // Now, before the caller closes fd: the kernel resolves the fd of the
    // queued ops and of CANCEL_FD when it reads their SQEs, and a reused fd
    // number would otherwise be cancelled (or read) in their place.
    io_uring_submit(&ring_);
  }

  std::string_view name() const noexcept override { return "uring"; }

  backend_features features() const noexcept override {
    backend_features f;
    f.try_before_submit = false;  // measured: see the top of this file
    f.multishot_accept = multishot_accept_;  // transparent: accept ops share the listener's
    f.provided_buffers = pool_ != nullptr;
    return f;
  }

  buffer_pool& buffers() override { return pool_ ? *pool_ : backend::buffers(); }

 private:
  void setup_ring() {
    int err = 0;
    for (const setup_choice& s : setups) {
      io_uring_params p{};
      p.flags = s.flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
      p.cq_entries = cq_entries;
      err = -io_uring_queue_init_params(sq_entries, &ring_, &p);
      if (err == 0) {
        setup_name_ = s.name;
        features_ = p.features;
        if (&s != &setups[0]) {
          static std::atomic<bool> said{false};
          if (!said.exchange(true))
            CORIO_LOG_INFO("io_uring: SINGLE_ISSUER|DEFER_TASKRUN refused (kernel < 6.1), using {}", s.name);
        }
        break;
      }
      // EINVAL: flags this kernel does not know; try fewer. Anything else
      // (ENOSYS, EPERM from seccomp or io_uring_disabled, ENOMEM from the
      // memlock limit before 5.12) means no io_uring here.
      if (err != EINVAL) break;
    }
    if (err == EPERM) unavailable(err, "io_uring_queue_init refused (seccomp, a container, or kernel.io_uring_disabled)");
    if (err != 0) unavailable(err, "io_uring_queue_init");
    // Registering the ring fd (5.18) spares an fdget per io_uring_enter.
    // It is per thread, which matches one loop per thread.
    ring_fd_registered_ = io_uring_register_ring_fd(&ring_) == 1;
  }

  void check_kernel() {
    // FAST_POLL (5.7): without it every read on a socket that would block
    // takes an io-wq thread, which is worse than epoll.
    if (!(features_ & IORING_FEAT_FAST_POLL)) unavailable(ENOSYS, "no IORING_FEAT_FAST_POLL (kernel < 5.7)");
    if (!(features_ & IORING_FEAT_NODROP)) unavailable(ENOSYS, "no IORING_FEAT_NODROP (kernel < 5.5)");
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (!probe) unavailable(ENOSYS, "io_uring_get_probe_ring failed (kernel < 5.6)");
    for (const required_op& r : required_ops) {
      if (!io_uring_opcode_supported(probe, r.opcode)) {
        io_uring_free_probe(probe);
        unavailable(ENOSYS, std::string("opcode IORING_OP_") + r.name + " not supported");
      }
    }
    io_uring_free_probe(probe);
  }

  // Asks the kernel whether ASYNC_CANCEL takes IORING_ASYNC_CANCEL_FD|ALL
  // (5.19): older kernels answer EINVAL, newer ones ENOENT (nothing to cancel
  // on the idle eventfd). One round trip, at construction only.
  bool probe_cancel_fd() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_cancel_fd(sqe, wakefd_, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, tag_probe);
    int r = io_uring_submit_and_wait(&ring_, 1);
    if (r < 0) unavailable(-r, "io_uring_submit_and_wait");
    bool supported = false;
    unsigned head;
    unsigned n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++n;
      if (cqe->user_data == tag_probe) supported = cqe->res != -EINVAL;
    }
    io_uring_cq_advance(&ring_, n);
    return supported;
  }

  // Arms a multishot ACCEPT on a throwaway listener (AF_UNIX, autobound: no
  // network needed) and cancels it: a kernel without IORING_ACCEPT_MULTISHOT
  // fails the SQE with EINVAL at once, one with it answers ECANCELED. The
  // flag is not in the opcode probe, hence the round trip (at construction).
  bool probe_multishot_accept() {
    int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) return false;
    // Binding a bare family autobinds an abstract name (listen needs one).
    ::sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (::bind(lfd, reinterpret_cast<::sockaddr*>(&un), sizeof(sa_family_t)) < 0 || ::listen(lfd, 1) < 0) {
      ::close(lfd);
      return false;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_multishot_accept(sqe, lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag_probe_accept);
    sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_cancel64(sqe, tag_probe_accept, 0);
    io_uring_sqe_set_data64(sqe, tag_probe);
    // An interrupted wait answers "no" (what arrives later is dropped by tag).
    bool supported = false;
    if (io_uring_submit_and_wait(&ring_, 2) >= 0) {
      unsigned head;
      unsigned n = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++n;
        if (cqe->user_data == tag_probe_accept) supported = cqe->res == -ECANCELED;
      }
      io_uring_cq_advance(&ring_, n);
    }
    ::close(lfd);
    return supported;
  }

  // The buffer ring and a probe of multishot RECV on it. Any refusal
  // leaves pool_ null: pooled recvs then go through readiness.
  void setup_buffers() {
    const std::size_t ring_bytes = pool_entries * sizeof(io_uring_buf);
    void* r = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return;
    br_ = static_cast<io_uring_buf_ring*>(r);
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(r);
    reg.ring_entries = pool_entries;
    reg.bgid = pool_group;
    if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {  // before 5.19
      unmap_buffers();
      return;
    }
    registered_ = true;
    void* slab = ::mmap(nullptr, std::size_t{pool_entries} * pool_buffer_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slab == MAP_FAILED) {
      unmap_buffers();
      return;
    }
    slab_ = static_cast<std::byte*>(slab);
    pool_ = std::make_unique<ring_pool>(br_, slab_);
    if (!probe_multishot_recv()) {
      pool_.reset();
      unmap_buffers();
      return;
    }
    backend::buffers();  // the ENOBUFS fallback's pool, made now: the fallback runs in noexcept code
  }

  void unmap_buffers() noexcept {
    if (registered_) io_uring_unregister_buf_ring(&ring_, pool_group);
    registered_ = false;
    if (br_) ::munmap(br_, pool_entries * sizeof(io_uring_buf));
    if (slab_) ::munmap(slab_, std::size_t{pool_entries} * pool_buffer_size);
    br_ = nullptr;
    slab_ = nullptr;
  }

  // Arms a multishot RECV on a socketpair with a byte waiting, then cancels
  // it: supported if a CQE with that byte in a ring buffer said F_MORE.
  bool probe_multishot_recv() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return false;
    bool supported = false;
    char byte = 'x';
    if (::write(sv[1], &byte, 1) == 1) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      io_uring_prep_recv_multishot(sqe, sv[0], nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = pool_group;
      io_uring_sqe_set_data64(sqe, tag_probe_recv);
      sqe = io_uring_get_sqe(&ring_);
      io_uring_prep_cancel64(sqe, tag_probe_recv, 0);
      io_uring_sqe_set_data64(sqe, tag_probe);
      io_uring_submit(&ring_);
      bool done = false;
      // The recv ends (cancelled, or refused) within a few CQEs; an
      // interrupted wait answers "no".
      for (int budget = 4; !done && budget > 0; --budget) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring_, &cqe) < 0) break;
        unsigned head;
        unsigned n = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
          ++n;
          if (cqe->user_data != tag_probe_recv) continue;
          if (cqe->flags & IORING_CQE_F_BUFFER) {
            if (cqe->res == 1 && (cqe->flags & IORING_CQE_F_MORE)) supported = true;
            pool_->give(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) done = true;
        }
        io_uring_cq_advance(&ring_, n);
      }
      supported = supported && done;  // not done: the kernel may still hold a buffer; do not use the ring
    }
    ::close(sv[0]);
    ::close(sv[1]);
    return supported;
  }

  // --- submission ---

  op_list& list_for(int fd) {
    auto i = static_cast<std::size_t>(fd);
    // resize() grows the capacity geometrically but constructs only up to
    // fd: pages past it stay untouched, hence not resident (a server with
    // 19,000 connections would otherwise write 16 bytes for 32,768 fds).
    if (i >= fds_.size()) fds_.resize(std::max<std::size_t>(64, i + 1));
    return fds_[i];
  }

  // The op's final completion: it leaves the backend, then its owner hears.
  void finish(io_op& op, std::int32_t res) noexcept {
    --inflight_;
    if (op.fd >= 0) fds_[static_cast<std::size_t>(op.fd)].unlink(op);
    op.backend_flags &= static_cast<std::uint8_t>(~(poll_first | backlogged));
    op.complete(res);
  }

  // An SQE, flushing the SQ once if it is full; null only if the kernel
  // refuses the flush (CQ overflow on kernels before 5.19 answers EBUSY).
  io_uring_sqe* get_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void queue_cancel(io_op& op) noexcept {
    io_uring_sqe* sqe = get_sqe();
    if (!sqe) {
      backlog_.push_back({&op, true});  // bad_alloc here terminates: noexcept
      return;
    }
    prep_cancel(sqe, op);
  }

  void prep_cancel(io_uring_sqe* sqe, io_op& op) noexcept { prep_cancel(sqe, reinterpret_cast<std::uint64_t>(&op)); }
  void prep_cancel(io_uring_sqe* sqe, std::uint64_t ud) noexcept {
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, tag_cancel);
    // A cancel that found its op says nothing worth a CQE (5.17).
    if (features_ & IORING_FEAT_CQE_SKIP) io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
  }

  // Translates the op into its SQE: corio's op_kind to io_uring's opcode.
  void prep(io_uring_sqe* sqe, io_op& op) noexcept {
    const int fd = op.fd;
    if (op.backend_flags & poll_first) {
      io_uring_prep_poll_add(sqe, fd, is_reader(op.kind) ? POLLIN : POLLOUT);
    } else {
      // Offset -1: the file position, as read(2) would (FEAT_RW_CUR_POS, 5.6).
      constexpr std::uint64_t cur = static_cast<std::uint64_t>(-1);
      switch (op.kind) {
        case op_kind::read:
          io_uring_prep_read(sqe, fd, op.buf, clamp(op.len), cur);
          break;
        case op_kind::write:
          io_uring_prep_write(sqe, fd, op.buf, clamp(op.len), cur);
          break;
        case op_kind::readv:
          io_uring_prep_readv(sqe, fd, static_cast<const iovec*>(op.buf), iov_count(op.len), cur);
          break;
        case op_kind::writev:
          io_uring_prep_writev(sqe, fd, static_cast<const iovec*>(op.buf), iov_count(op.len), cur);
          break;
        case op_kind::recv:
          io_uring_prep_recv(sqe, fd, op.buf, clamp(op.len), op.flags);
          break;
        case op_kind::send:
          io_uring_prep_send(sqe, fd, op.buf, clamp(op.len), op.flags | MSG_NOSIGNAL);
          break;
        case op_kind::accept:
          io_uring_prep_accept(sqe, fd, op.addr, op.addr ? &op.addrlen : nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          break;
        case op_kind::connect:
          io_uring_prep_connect(sqe, fd, op.addr, op.addrlen);
          break;
        case op_kind::poll_read:
          io_uring_prep_poll_add(sqe, fd, POLLIN);
          break;
        case op_kind::poll_write:
          io_uring_prep_poll_add(sqe, fd, POLLOUT);
          break;
      }
    }
    io_uring_sqe_set_data(sqe, &op);
  }

  void arm_wake() noexcept {
    io_uring_sqe* sqe = get_sqe();
    if (!sqe) {
      wake_backlogged_ = true;
      return;
    }
    wake_backlogged_ = false;
    io_uring_prep_read(sqe, wakefd_, &wake_buf_, sizeof wake_buf_, 0);
    io_uring_sqe_set_data64(sqe, tag_wake);
  }

  void drop_from_backlog(io_op& op) noexcept {
    for (pending& p : backlog_)
      if (p.op == &op && !p.cancel) p.op = nullptr;
  }

  // Moves what waited for an SQE into the SQ, in order (a cancel always
  // follows its op), as far as the SQ lets it.
  void flush_backlog() noexcept {
    if (wake_backlogged_) arm_wake();
    if (accept_backlogged_) {
      accept_backlogged_ = false;
      for (auto& a : acceptors_)
        if (a->accept.need_arm) arm(*a);
    }
    if (recv_backlogged_) {
      recv_backlogged_ = false;
      for (std::size_t fd = 0; fd < conns_.size(); ++fd)
        if (conns_[fd].recv.need_arm) arm(static_cast<int>(fd), conns_[fd]);
    }
    std::size_t i = 0;
    for (; i < backlog_.size(); ++i) {
      pending& p = backlog_[i];
      if (!p.op) continue;
      io_uring_sqe* sqe = get_sqe();
      if (!sqe) break;
      if (p.cancel) {
        prep_cancel(sqe, *p.op);
      } else {
        p.op->backend_flags &= static_cast<std::uint8_t>(~backlogged);
        prep(sqe, *p.op);
      }
    }
    backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // --- multishot accept ---

  acceptor* find_acceptor(int fd) noexcept {
    for (auto& a : acceptors_)
      if (a->fd == fd) return a.get();
    return nullptr;
  }

  void submit_accept(io_op& op) {
    acceptor* a = find_acceptor(op.fd);
    if (!a) {  // may throw, before the op changes hands
      acceptors_.reserve(acceptors_.size() + 1);
      dying_.reserve(dying_.size() + acceptors_.size() + 1);  // retire_acceptor is noexcept
      a = acceptors_.emplace_back(std::make_unique<acceptor>(op.fd)).get();
    }
    op.state = op_state::submitted;
    op.backend_flags &= static_cast<std::uint8_t>(~(poll_first | backlogged | accept_waiting | accept_ready));
    ++inflight_;
    if (!a->queued.empty()) {
      op.res = a->queued.front();
      a->queued.pop_front();
      op.backend_flags |= accept_ready;
      ready_.push(op);
      return;
    }
    op.backend_flags |= accept_waiting;
    a->waiters.push(op);
    arm(*a);
  }

  void arm(acceptor& a) noexcept {
    if (a.dying) return;
    io_uring_sqe* sqe = arm_sqe(a.accept, accept_backlogged_);
    if (!sqe) return;
    io_uring_prep_multishot_accept(sqe, a.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(&a) | tag_acceptor);
  }

  // --- what the multishot ACCEPT and RECV share ---

  // The SQE that arms m, or null: already armed (a disarming one is re-armed
  // at its last CQE), or no SQE (flush_backlog retries, `backlogged` says so).
  io_uring_sqe* arm_sqe(multishot& m, bool& backlogged) noexcept {
    m.need_arm = false;
    if (m.armed) return nullptr;
    io_uring_sqe* sqe = get_sqe();
    if (!sqe) {
      m.need_arm = backlogged = true;
      return nullptr;
    }
    m.armed = true;
    return sqe;
  }

  // Cancels the multishot whose user_data is ud (once).
  void disarm(multishot& m, std::uint64_t ud) noexcept {
    if (!m.armed || m.disarming) return;
    m.disarming = true;
    io_uring_sqe* sqe = get_sqe();
    if (!sqe) return;  // only if the kernel refuses a flush; the queue then grows past its limit
    prep_cancel(sqe, ud);
  }

  // The completion of an op that never had an SQE of its own (parked on a
  // multishot accept or recv, or handed a queued result).
  void finish_parked(io_op& op, std::int32_t res) noexcept {
    --inflight_;
    op.backend_flags &= static_cast<std::uint8_t>(~(accept_waiting | accept_ready | recv_waiting));
    if (res >= 0 && op.kind == op_kind::accept && op.addr) {
      ::socklen_t len = op.addrlen;
      op.addrlen = ::getpeername(res, op.addr, &len) == 0 ? len : 0;  // 0: the peer is already gone
    }
    op.complete(res);
  }

  // Ops handed a queued connection by submit(): their completion is due.
  int complete_ready() noexcept {
    int n = 0;
    while (io_op* op = ready_.head) {
      ready_.unlink(*op);
      finish_parked(*op, op->res);
      ++n;
    }
    return n;
  }

  // forget(listener): the waiters fail with ECANCELED, every connection
  // accepted ahead is closed, and the multishot is cancelled; the acceptor
  // lives on in dying_ until the kernel's last CQE for it. Returns whether
  // fd was a listener with a multishot.
  bool retire_acceptor(int fd) noexcept {
    auto it = std::find_if(acceptors_.begin(), acceptors_.end(), [fd](auto& a) { return a->fd == fd; });
    if (it == acceptors_.end()) return false;
    std::unique_ptr<acceptor> a = std::move(*it);
    acceptors_.erase(it);
    for (io_op* op = ready_.head; op;) {
      io_op* next = op->next;
      if (op->fd == fd && op->kind == op_kind::accept) {
        ready_.unlink(*op);
        if (op->res >= 0) ::close(op->res);
        finish_parked(*op, -ECANCELED);
      }
      op = next;
    }
    while (io_op* op = a->waiters.head) {
      a->waiters.unlink(*op);
      finish_parked(*op, -ECANCELED);
    }
    for (std::int32_t r : a->queued)
      if (r >= 0) ::close(r);
    a->queued.clear();
    if (!a->accept.armed) return false;  // nothing in the kernel: freed here
    disarm(a->accept, reinterpret_cast<std::uint64_t>(a.get()) | tag_acceptor);
    a->dying = true;
    dying_.push_back(std::move(a));  // capacity reserved by submit_accept
    return true;
  }

  // One CQE of a multishot ACCEPT. Returns 1 if it completed an op.
  int on_accept_cqe(acceptor& a, std::int32_t res, unsigned cflags) noexcept {
    const bool last = !(cflags & IORING_CQE_F_MORE);
    if (last) a.accept.end_cqe();
    if (a.dying) {
      if (res >= 0) ::close(res);
      if (last) std::erase_if(dying_, [&a](auto& d) { return d.get() == &a; });
      return 0;
    }
    int completed = 0;
    if (!(last && res == -ECANCELED)) {  // our cancel ending it says nothing to an accept
      if (io_op* op = a.waiters.head) {
        a.waiters.unlink(*op);
        finish_parked(*op, res);
        completed = 1;
      } else {
        a.queued.push_back(res);  // bad_alloc here terminates: noexcept
        if (a.queued.size() >= accept_queue_limit) disarm(a.accept, reinterpret_cast<std::uint64_t>(&a) | tag_acceptor);
      }
    }
    if (!a.accept.armed && !a.waiters.empty()) arm(a);
    return completed;
  }

  // --- pooled recv (multishot RECV on the buffer ring) ---

  recv_conn* find_conn(int fd) noexcept {
    auto i = static_cast<std::size_t>(fd);
    return i < conns_.size() && conns_[i].active ? &conns_[i] : nullptr;
  }

  void submit_recv_pooled(io_op& op) {
    // What may throw runs before the op changes hands: the fd's op list (an
    // ENOBUFS fallback joins it) and the fd's slot.
    list_for(op.fd);
    auto i = static_cast<std::size_t>(op.fd);
    if (i >= conns_.size()) conns_.resize(std::max<std::size_t>(64, i + 1));  // as in list_for
    recv_conn& c = conns_[i];
    c.active = true;
    op.state = op_state::submitted;
    op.backend_flags &= static_cast<std::uint8_t>(~(poll_first | backlogged | recv_waiting | accept_ready));
    ++inflight_;
    if (c.has_queued()) {
      recv_conn::item it = c.pop();
      op.res = it.res;
      op.buf_id = it.bid;
      op.backend_flags |= accept_ready;
      ready_.push(op);
      return;
    }
    op.backend_flags |= recv_waiting;
    c.waiters.push(op);
    arm(op.fd, c);
  }

  void arm(int fd, recv_conn& c) noexcept {
    io_uring_sqe* sqe = arm_sqe(c.recv, recv_backlogged_);
    if (!sqe) return;
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = pool_group;
    io_uring_sqe_set_data64(sqe, recv_ud(fd, c.gen));
  }

  // forget(fd) of a connection with pooled recvs: readers fail with
  // ECANCELED, queued buffers go back, the multishot is cancelled and the
  // slot moves to the next generation (what the old multishot still posts
  // is stale: see recv_conn). Returns whether a cancel was queued.
  bool retire_conn(int fd) noexcept {
    recv_conn* c = find_conn(fd);
    if (!c) return false;
    for (io_op* op = ready_.head; op;) {
      io_op* next = op->next;
      if (op->fd == fd && op->kind == op_kind::recv) {
        ready_.unlink(*op);
        if (op->res > 0) op->pool->release(op->buf_id);
        finish_parked(*op, -ECANCELED);
      }
      op = next;
    }
    while (io_op* op = c->waiters.head) {
      c->waiters.unlink(*op);
      finish_parked(*op, -ECANCELED);
    }
    while (c->has_queued()) {
      recv_conn::item it = c->pop();
      if (it.res > 0) pool_->release(it.bid);
    }
    c->queued.reset();
    const bool in_kernel = c->recv.armed;
    disarm(c->recv, recv_ud(fd, c->gen));
    ++c->gen;
    c->recv = {};
    c->active = false;
    return in_kernel;
  }

  // The multishot ended with ENOBUFS: the reader at the head reads through
  // readiness into a heap buffer instead (the next recv_pooled re-arms).
  void fall_back(io_op& op) noexcept {
    op.backend_flags &= static_cast<std::uint8_t>(~recv_waiting);
    op.pool = &backend::buffers();  // made by setup_buffers: cannot throw here
    op.backend_flags |= poll_first;
    fds_[static_cast<std::size_t>(op.fd)].push(op);  // sized by submit_recv_pooled
    io_uring_sqe* sqe = get_sqe();
    if (sqe) {
      prep(sqe, op);
    } else {
      op.backend_flags |= backlogged;
      backlog_.push_back({&op, false});  // bad_alloc here terminates: noexcept
    }
  }

  // One CQE of a multishot RECV. Returns 1 if it completed an op.
  int on_recv_cqe(std::uint64_t ud, std::int32_t res, unsigned cflags) noexcept {
    const bool last = !(cflags & IORING_CQE_F_MORE);
    const bool buffer = cflags & IORING_CQE_F_BUFFER;
    const auto bid = static_cast<std::uint32_t>(cflags >> IORING_CQE_BUFFER_SHIFT);
    const auto fd = static_cast<int>((ud & 0xffff'ffff) >> 3);
    if (buffer) pool_->taken();
    recv_conn* c = find_conn(fd);
    if (!c || c->gen != static_cast<std::uint32_t>(ud >> 32)) {
      if (buffer) pool_->release(bid);  // a forgotten connection's: nobody reads it
      return 0;
    }
    if (last) c->recv.end_cqe();
    if (buffer && res <= 0) pool_->release(bid);  // not expected: a buffer is used only by data
    int completed = 0;
    if (last && res == -ECANCELED) {
      // Our cancel (queue full): nothing to tell a reader.
    } else if (last && res == -ENOBUFS) {
      pool_->ran_dry();
      if (io_op* op = c->waiters.head) {
        c->waiters.unlink(*op);
        fall_back(*op);
      }
    } else if (io_op* op = c->waiters.head) {
      c->waiters.unlink(*op);
      op->buf_id = bid;
      finish_parked(*op, res);
      completed = 1;
    } else {
      // bad_alloc here terminates: noexcept
      if (!c->queued) c->queued = std::make_unique<recv_conn::queue>();
      c->queued->items.push_back({res, bid});
      if (c->queued_count() >= recv_queue_limit) disarm(c->recv, ud);
    }
    if (!c->recv.armed && !c->waiters.empty()) arm(fd, *c);
    return completed;
  }

  // --- completion ---

  // Flushes the SQ and waits: for one CQE (nullopt), until the deadline, or
  // not at all (zero; with DEFER_TASKRUN the kernel still has to be entered
  // for completions to be posted, which submit_and_get_events does).
  void enter(std::optional<std::chrono::nanoseconds> timeout) {
    int r;
    if (timeout && timeout->count() <= 0) {
      // Nothing to flush and completions in hand: skip the syscall.
      if (io_uring_sq_ready(&ring_) == 0 && io_uring_cq_ready(&ring_) > 0) return;
      r = io_uring_submit_and_get_events(&ring_);
    } else {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec ts{};
      __kernel_timespec* tsp = nullptr;
      if (timeout) {
        auto ns = timeout->count();
        ts.tv_sec = ns / 1'000'000'000;
        ts.tv_nsec = ns % 1'000'000'000;
        tsp = &ts;
      }
      r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
    }
    if (r >= 0) return;
    switch (-r) {
      case ETIME:   // the deadline passed
      case EINTR:   // a signal; the loop asks again
      case EAGAIN:  // the kernel is short of memory for requests; retry next poll
      case EBUSY:   // CQ overflow (< 5.19): reaping makes room
        return;
      default:
        throw std::system_error(-r, std::system_category(), "io_uring_enter");
    }
  }

  int reap() noexcept {
    int completed = 0;
    unsigned head;
    unsigned n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++n;
      std::uint64_t ud = cqe->user_data;
      if (ud == tag_wake) {
        wake_pending_.store(false, std::memory_order_release);
        arm_wake();
      } else if (ud > tag_mask && (ud & tag_mask) == tag_acceptor && ud != LIBURING_UDATA_TIMEOUT) {
        completed += on_accept_cqe(*reinterpret_cast<acceptor*>(ud & ~tag_mask), cqe->res, cqe->flags);
      } else if ((ud & tag_mask) == tag_recv) {  // no other tag ends in 6 (recv_ud(0, 0) is 6 itself)
        completed += on_recv_cqe(ud, cqe->res, cqe->flags);
      } else if (ud <= tag_mask || ud == LIBURING_UDATA_TIMEOUT) {
        // A cancel's own answer (0, -ENOENT: it had finished, -EALREADY: it
        // is running); the op's CQE is what counts.
      } else {
        completed += on_cqe(*reinterpret_cast<io_op*>(ud), cqe->res);
      }
    }
    io_uring_cq_advance(&ring_, n);
    return completed;
  }

  // The op's SQE came back. Returns 1 if the op completed, 0 if it went
  // back into the ring (a readiness wait on its behalf, below).
  int on_cqe(io_op& op, std::int32_t res) noexcept {
    const bool cancelling = op.state == op_state::cancelling;
    if (op.backend_flags & poll_first) {
      op.backend_flags &= static_cast<std::uint8_t>(~poll_first);
      if (res >= 0) {
        if (cancelling) {
          res = -ECANCELED;  // ready, but nothing was consumed: the cancel wins
        } else {
          res = detail::perform_io(op);
          if (res == -EAGAIN) return requeue_after_poll(op);
        }
      }
    } else if (!cancelling && !is_poll(op.kind)) {
      // QUIRK(kernels up to about 6.0; not seen on 6.18): io_uring answers
      // EAGAIN for O_NONBLOCK fds instead of polling them
      // (https://github.com/axboe/liburing/issues/364, Seastar #1248).
      // Wait for readiness through a POLL_ADD, then one syscall finishes.
      if (res == -EAGAIN) return requeue_after_poll(op);
      // QUIRK(same older kernels; exact version unverified): CONNECT on an
      // O_NONBLOCK socket may surface EINPROGRESS/EALREADY. The connect is
      // under way: wait for POLLOUT and read SO_ERROR (perform_io does so
      // once connect_started is set).
      if (op.kind == op_kind::connect && (res == -EINPROGRESS || res == -EALREADY)) {
        op.backend_flags |= connect_started;
        return requeue_after_poll(op);
      }
    }
    if (is_poll(op.kind) && res > 0) res = 0;  // the revents mask; ready is all we promise
    if (cancelling && res == -EAGAIN) res = -ECANCELED;
    finish(op, res);
    return 1;
  }

  int requeue_after_poll(io_op& op) noexcept {
    op.backend_flags |= poll_first;
    io_uring_sqe* sqe = get_sqe();
    if (sqe) {
      prep(sqe, op);
    } else {
      op.backend_flags |= backlogged;
      backlog_.push_back({&op, false});
    }
    return 0;
  }

  struct pending {
    io_op* op;    // null once dropped (cancelled while it waited)
    bool cancel;  // an ASYNC_CANCEL for op, not op itself
  };

  io_uring ring_{};
  unsigned features_ = 0;
  const char* setup_name_ = "";
  bool ring_fd_registered_ = false;
  bool cancel_fd_ = false;
  bool multishot_accept_ = false;
  bool accept_backlogged_ = false;
  std::vector<std::unique_ptr<acceptor>> acceptors_;  // one per listener with an accept in flight
  std::vector<std::unique_ptr<acceptor>> dying_;      // forgotten, waiting for their last CQE
  op_list ready_;                                     // accept / pooled recv ops handed a queued result
  std::vector<recv_conn> conns_;  // by fd: connections with a pooled recv
  bool recv_backlogged_ = false;
  io_uring_buf_ring* br_ = nullptr;
  std::byte* slab_ = nullptr;
  bool registered_ = false;
  std::unique_ptr<ring_pool> pool_;
  int wakefd_ = -1;
  std::uint64_t wake_buf_ = 0;
  bool wake_backlogged_ = false;
  std::atomic<bool> wake_pending_{false};
  std::size_t inflight_ = 0;
  std::vector<op_list> fds_;
  std::vector<pending> backlog_;
};

std::unique_ptr<backend> make_uring_backend() { return std::make_unique<uring_backend>(); }

}  // namespace corio

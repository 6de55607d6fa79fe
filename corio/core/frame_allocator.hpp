// SPDX-License-Identifier: MIT
//
// A per-thread recycling allocator for coroutine frames and task states.
//
// Every spawn allocates a frame and a task state; through malloc that is two
// trips into a general-purpose allocator per task, which is most of what a
// trivial task costs. Frames come in few sizes (one per coroutine function),
// so a free list per 64-byte size class, private to the thread, turns the
// allocation into a pop and the release into a push.
//
// Invariants and choices:
// - Blocks larger than max_pooled go straight to ::operator new/delete.
// - A block freed on another thread than the one that allocated it simply
//   joins the freeing thread's list: all blocks come from ::operator new, so
//   any thread may hand them back to the system.
// - Each list keeps at most max_cached blocks; beyond that, blocks go back to
//   the system, so a burst of a million tasks does not pin its memory forever.
// - Under AddressSanitizer the pool is bypassed, so that a use after free of
//   a frame is reported instead of hidden by recycling.
#pragma once

#include <cstddef>

namespace corio::detail {

inline constexpr std::size_t frame_size_class = 64;
inline constexpr std::size_t max_pooled = 1024;
inline constexpr std::size_t max_cached = 4096;

void* frame_allocate(std::size_t size);
void frame_deallocate(void* p, std::size_t size) noexcept;

// Counters of this thread's allocations, for leak checks in tests and the
// frame-size figure in benchmarks. `live` goes negative on a thread that
// frees blocks another thread allocated.
struct frame_counters {
  long live;
  std::size_t last_size;
};
frame_counters frame_stats() noexcept;

}  // namespace corio::detail

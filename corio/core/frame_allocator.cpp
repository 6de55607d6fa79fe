// SPDX-License-Identifier: MIT
//
// See frame_allocator.hpp. The free lists are thread_local objects whose
// destructor returns the cached blocks when the thread exits.
#include <corio/core/frame_allocator.hpp>

#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_FRAME_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_FRAME_POOL 0
#endif
#endif
#ifndef CORIO_FRAME_POOL
#define CORIO_FRAME_POOL 1
#endif

namespace corio::detail {

namespace {
thread_local frame_counters counters{};
}

frame_counters frame_stats() noexcept { return counters; }

#if CORIO_FRAME_POOL
namespace {

struct free_block {
  free_block* next;
};

constexpr std::size_t class_count = max_pooled / frame_size_class;

// Trivially destructible on purpose: a frame may be freed by another
// thread_local's destructor after the reaper below has run, and a POD stays
// usable then; `dead` sends those late calls straight to the system.
struct pool {
  free_block* heads[class_count];
  std::size_t counts[class_count];
  bool dead;
};

thread_local pool local_pool{};

struct pool_reaper {
  ~pool_reaper() {
    local_pool.dead = true;
    for (auto*& head : local_pool.heads) {
      while (head) {
        free_block* next = head->next;
        ::operator delete(head);
        head = next;
      }
    }
  }
};

thread_local pool_reaper reaper;

constexpr std::size_t class_of(std::size_t size) noexcept { return (size - 1) / frame_size_class; }

}  // namespace

void* frame_allocate(std::size_t size) {
  ++counters.live;
  counters.last_size = size;
  if (size == 0 || size > max_pooled) return ::operator new(size);
  std::size_t c = class_of(size);
  pool& p = local_pool;
  (void)&reaper;  // odr-use, so that the reaper is constructed with the pool
  if (p.dead) return ::operator new((c + 1) * frame_size_class);
  if (free_block* b = p.heads[c]) {
    p.heads[c] = b->next;
    --p.counts[c];
    return b;
  }
  return ::operator new((c + 1) * frame_size_class);
}

void frame_deallocate(void* ptr, std::size_t size) noexcept {
  if (!ptr) return;
  --counters.live;
  if (size == 0 || size > max_pooled) {
    ::operator delete(ptr);
    return;
  }
  std::size_t c = class_of(size);
  pool& p = local_pool;
  if (p.dead || p.counts[c] >= max_cached) {
    ::operator delete(ptr);
    return;
  }
  auto* b = static_cast<free_block*>(ptr);
  b->next = p.heads[c];
  p.heads[c] = b;
  ++p.counts[c];
}

#else

void* frame_allocate(std::size_t size) {
  ++counters.live;
  counters.last_size = size;
  return ::operator new(size);
}
void frame_deallocate(void* ptr, std::size_t) noexcept {
  if (!ptr) return;
  --counters.live;
  ::operator delete(ptr);
}

#endif

}  // namespace corio::detail

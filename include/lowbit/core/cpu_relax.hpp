// lowbit/core/cpu_relax.hpp — one iteration of a spin-wait, for code that
// waits on another thread for a short time (the thread pool's hand-off,
// detail/thread_pool_impl.hpp).
#pragma once

#if defined(_MSC_VER)
#include <intrin.h>
#endif

namespace lowbit {
namespace detail {

// Tells the core that this is a busy loop (x86 `pause`, Arm `yield`), so that
// the sibling hyper-thread runs and the loop's exit does not flush the pipeline.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(_M_X64) || defined(_M_IX86)
    _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

}  // namespace detail
}  // namespace lowbit

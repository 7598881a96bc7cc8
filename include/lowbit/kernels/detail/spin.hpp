// lowbit/kernels/detail/spin.hpp — one iteration of a spin-wait (x86 `pause`,
// Arm `yield`): the waiting tasks of a row job whose activations another task
// is preparing (kernels/run.hpp, job_gate). (The thread pool's own copy is in
// detail/thread_pool_impl.hpp, which kernels/ may not include.)
#pragma once

namespace lowbit {
namespace kdetail {

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

}  // namespace kdetail
}  // namespace lowbit

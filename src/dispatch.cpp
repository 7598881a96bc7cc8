// lowbit::compiled: the non-template part of the run-time dispatch (the
// kernel table's walk and lookup, the twins' switch on the width),
// layout_family and thread_pool's workings. The per-width code is in
// kernels_w*.cpp. Built with LOWBIT_COMPILED (include/lowbit/compiled_mode.hpp):
// the public headers declare, the implementation headers after them define.
#include <lowbit/kernels/kernel_list.hpp>
#include <lowbit/runtime.hpp>

#include <lowbit/detail/runtime_impl.hpp>
#include <lowbit/detail/thread_pool_impl.hpp>
#include <lowbit/kernels/detail/kernel_list_impl.hpp>
#include <lowbit/kernels/detail/scheme_family_impl.hpp>

static_assert(LOWBIT_WIDTHS == 0xFF, "lowbit::compiled instantiates every width: build it without LOWBIT_WIDTHS");

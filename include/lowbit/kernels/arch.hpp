// lowbit/kernels/arch.hpp — which instruction set the kernels use, chosen at
// run time (docs/kernels.md, "Dispatch").
//
// The CPU is probed once (CPUID + XGETBV on x86; auxv on ARM). The best kernel
// the CPU supports is used unless a path is forced, by the environment
// variable LOWBIT_FORCE_ARCH=scalar|sse2|avx2|avx512|avx512vnni|avxvnni|neon|neondot|amx
// (read once, at the first query) or by lowbit::force_arch(). Forcing an arch
// the CPU lacks is refused (the status says why) so tests can loop over every
// arch and skip the missing ones.
//
// This header contains no SIMD code: it only names and detects the archs.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "../core/status.hpp"
#include "detail/amx_permission.hpp"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define LOWBIT_X86 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace lowbit {

// Ordered from least to most capable within a family (amx, added later, is
// last so that the numbers of the others stay as they were).
enum class arch : int {
    automatic = -1,  // no forcing: best the CPU supports
    scalar = 0,      // plain C++ (the scalar models of both paths)
    sse2,            // layer A: f32 path on 4-lane vectors every CPU of the build's arch runs (SSE2 / NEON)
    avx2,            // x86 AVX2 + FMA + F16C, 256-bit; int8 dot with maddubs/madd
    avx512,          // x86 AVX-512 F/BW/VL: FMA path on 512-bit registers, int8 dot with maddubs
    avxvnni,         // x86 AVX-VNNI: 256-bit vpdpbusd
    avx512vnni,      // x86 AVX-512 VNNI: vpdpbusd
    neon,            // AArch64 NEON: int8 dot with widening multiplies, f32 FMA path
    neondot,         // AArch64 NEON + Armv8.2 dot product: int8 dot with sdot; f32 path as neon
    amx,             // x86 AMX-INT8 tiles on top of avx512vnni (tiled int8 GEMM; the rest is avx512vnni's)
};

// Whether arch a runs AVX2 (+ FMA, F16C) code: every x86 arch from avx2 up.
constexpr bool arch_has_avx2(arch a) noexcept {
    return a == arch::avx2 || a == arch::avx512 || a == arch::avxvnni || a == arch::avx512vnni || a == arch::amx;
}

inline const char* arch_name(arch a) noexcept {
    switch (a) {
        case arch::automatic: return "auto";
        case arch::scalar: return "scalar";
        case arch::sse2: return "sse2";
        case arch::avx2: return "avx2";
        case arch::avx512: return "avx512";
        case arch::avxvnni: return "avxvnni";
        case arch::avx512vnni: return "avx512vnni";
        case arch::neon: return "neon";
        case arch::neondot: return "neondot";
        case arch::amx: return "amx";
    }
    return "?";
}

inline result<arch> parse_arch(const char* s) noexcept {
    static const arch all[] = {arch::automatic, arch::scalar,     arch::sse2, arch::avx2,   arch::avx512,
                               arch::avxvnni,   arch::avx512vnni, arch::neon, arch::neondot, arch::amx};
    if (s)
        for (arch a : all)
            if (!std::strcmp(s, arch_name(a))) return a;
    return status::error(errc::invalid_argument, "arch \"%s\": expected scalar|sse2|avx2|avx512|avx512vnni|avxvnni|neon|neondot|amx|auto",
                         s ? s : "(null)");
}

// What the CPU (and OS) support.
struct cpu_features {
    bool sse2 = false, avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avxvnni = false;
    // AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16): not an arch of its own, a feature
    // that the bf16_dot path's entries need (kernel_entry::needs).
    bool avx512bf16 = false;
    // AVX512_VBMI (vpermb, vpermi2b, vpmultishiftqb) and AVX512_BITALG
    // (vpshufbitqmb): likewise features, not an arch; the lattice i-quant
    // entries of formats/gguf_matmul.hpp need both (Ice Lake, Zen 4 and later).
    bool avx512vbmi = false, avx512bitalg = false;
    bool neon = false, dotprod = false;
    // AMX: the CPU has AMX-TILE and AMX-INT8 and the OS saves the tile state
    // (amx_hw); the OS let this process use it (amx_permitted: Linux's
    // arch_prctl request, detail/amx_permission.hpp). amx_hw && !amx_permitted
    // is a refusal: arch::amx is then absent and avx512vnni is the best arch.
    bool amx_hw = false, amx_permitted = false;
    // AMX-BF16 (tdpbf16ps; CPUID.(7,0):EDX bit 22) on top of amx_hw: a feature
    // the bf16_dot path's tile entry needs (kernel_entry::needs), not an arch.
    // The OS permission is arch::amx's (amx_permitted): the same tile state.
    bool amx_bf16 = false;

    bool has(arch a) const noexcept {
        switch (a) {
            case arch::automatic:
            case arch::scalar: return true;
            case arch::sse2: return true;  // the compile-time arch is always runnable
            case arch::avx2: return avx2 && fma && f16c;
            case arch::avx512: return has(arch::avx2) && avx512f && avx512bw && avx512vl;
            case arch::avxvnni: return has(arch::avx2) && avxvnni;
            case arch::avx512vnni: return has(arch::avx512) && avx512vnni;
            case arch::neon: return neon;
            case arch::neondot: return neon && dotprod;
            case arch::amx: return has(arch::avx512vnni) && amx_hw && amx_permitted;
        }
        return false;
    }
};

namespace detail {
#if defined(LOWBIT_X86)
inline void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) noexcept {
#if defined(_MSC_VER) && !defined(__clang__)
    int v[4];
    __cpuidex(v, static_cast<int>(leaf), static_cast<int>(sub));
    for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(v[i]);
#else
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}
inline unsigned long long xgetbv0() noexcept {
#if defined(_MSC_VER) && !defined(__clang__)
    return _xgetbv(0);
#else
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<unsigned long long>(hi) << 32) | lo;
#endif
}
#endif

inline cpu_features detect_cpu() noexcept {
    cpu_features f;
#if defined(LOWBIT_X86)
    unsigned r[4];
    cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    cpuid(1, 0, r);
    f.sse2 = (r[3] >> 26) & 1;
    const bool osxsave = (r[2] >> 27) & 1;
    f.fma = (r[2] >> 12) & 1;
    f.f16c = (r[2] >> 29) & 1;
    const bool avx = (r[2] >> 28) & 1;
    // The OS must save the registers: XCR0 bits 1,2 (SSE, AVX) and 5,6,7 (opmask, ZMM).
    const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    const bool ymm_ok = avx && (xcr0 & 0x6) == 0x6;
    const bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    if (!ymm_ok) f.fma = f.f16c = false;
    if (max_leaf >= 7) {
        cpuid(7, 0, r);
        f.avx2 = ymm_ok && ((r[1] >> 5) & 1);
        f.avx512f = zmm_ok && ((r[1] >> 16) & 1);
        f.avx512bw = zmm_ok && ((r[1] >> 30) & 1);
        f.avx512vl = zmm_ok && ((r[1] >> 31) & 1);
        f.avx512vnni = zmm_ok && ((r[2] >> 11) & 1);
        f.avx512vbmi = zmm_ok && ((r[2] >> 1) & 1);
        f.avx512bitalg = zmm_ok && ((r[2] >> 12) & 1);
        // AMX-TILE (EDX bit 24) and AMX-INT8 (bit 25); XCR0 bits 17, 18: tile config and data.
        const bool amx_cpu = ((r[3] >> 24) & 1) && ((r[3] >> 25) & 1);
        f.amx_hw = zmm_ok && amx_cpu && ((xcr0 >> 17) & 3) == 3;
        f.amx_bf16 = f.amx_hw && ((r[3] >> 22) & 1);
        const unsigned max_sub = r[0];
        if (max_sub >= 1) {
            cpuid(7, 1, r);
            f.avxvnni = ymm_ok && ((r[0] >> 4) & 1);
            f.avx512bf16 = zmm_ok && ((r[0] >> 5) & 1);
        }
    }
    // Asked only where the hardware has it (the request grows the process's signal frames).
    if (f.amx_hw && f.avx512vnni) f.amx_permitted = request_amx_permission();
#elif defined(__aarch64__)
    f.neon = true;
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP);
    f.dotprod = (hw >> 20) & 1;  // HWCAP_ASIMDDP
#endif
#endif
    return f;
}

inline const cpu_features& cpu() noexcept {
    static const cpu_features f = detect_cpu();  // thread-safe, once
    return f;
}

inline arch best_arch(const cpu_features& f) noexcept {
    static const arch order[] = {arch::amx, arch::avx512vnni, arch::avxvnni, arch::avx512, arch::avx2, arch::neondot, arch::neon};
    for (arch a : order)
        if (f.has(a)) return a;
    return arch::sse2;
}

inline std::atomic<int>& forced_arch_slot() noexcept {
    static std::atomic<int> slot{-2};  // -2: not initialised from the environment yet
    return slot;
}
}  // namespace detail

// Force the kernels onto one arch (arch::automatic: back to the best one).
// Refused, leaving the current choice, if this CPU cannot run it.
inline status force_arch(arch a) noexcept {
    if (static_cast<int>(a) < static_cast<int>(arch::automatic) || static_cast<int>(a) > static_cast<int>(arch::amx))
        return status::error(errc::invalid_argument, "arch = %d is not an arch (-1 automatic .. 9 amx)", static_cast<int>(a));
    if (a == arch::amx && detail::cpu().amx_hw && !detail::cpu().amx_permitted)
        return status::error(errc::unsupported, "arch amx: the OS refused this process the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM)");
    if (!detail::cpu().has(a))
        return status::error(errc::unsupported, "arch %s is not supported by this CPU (or this build)", arch_name(a));
    detail::forced_arch_slot().store(static_cast<int>(a), std::memory_order_relaxed);
    return {};
}

// The arch the kernels use now.
inline arch active_arch() noexcept {
    auto& slot = detail::forced_arch_slot();
    int v = slot.load(std::memory_order_relaxed);
    if (v == -2) {
        int init = -1;
        if (const char* env = std::getenv("LOWBIT_FORCE_ARCH")) {
            auto a = parse_arch(env);
            if (!a) std::fprintf(stderr, "lowbit: LOWBIT_FORCE_ARCH: %s; using the best arch\n", a.error().message());
            else if (!detail::cpu().has(*a))
                std::fprintf(stderr, "lowbit: LOWBIT_FORCE_ARCH=%s is not supported by this CPU (or its OS refused it); using the best arch\n", env);
            else init = static_cast<int>(*a);
        }
        slot.compare_exchange_strong(v, init, std::memory_order_relaxed);
        v = slot.load(std::memory_order_relaxed);
    }
    return v < 0 ? detail::best_arch(detail::cpu()) : static_cast<arch>(v);
}

}  // namespace lowbit

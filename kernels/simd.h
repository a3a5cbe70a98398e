// LWD_SIMD_CLONES, put before a function with a hot per-element loop, builds it
// for several instruction sets and lets the loader pick the widest one the CPU
// runs. The default build targets baseline x86-64 (SSE2, no FMA), which would
// leave such loops at two double lanes per instruction while OpenBLAS picks
// AVX-512 kernels at run time. A -march=native build (LW_NATIVE) already has
// the wide instructions and gets no clones; neither do other compilers.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
#define LWD_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LWD_SIMD_CLONES
#endif

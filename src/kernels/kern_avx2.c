/* The kernel set for AVX2 + FMA (Haswell, Zen and later): the same body
 * compiled for 256-bit vectors and fused multiply-adds, by target pragma so
 * the rest of the build stays baseline x86-64. */
#if defined(__clang__) /* clang has no GCC target pragma: the same features as a function attribute */
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")
#endif
#define KERN_OPS se_kern_avx2
#define KERN_ISA SE_ISA_AVX2
#define KERN_AVX512 0
#define KERN_VEC_BYTES 32
#include "kern_body.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif

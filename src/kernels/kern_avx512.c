/* The kernel set for AVX-512 (F, BW, DQ, VL: Skylake-SP, Ice Lake, Sapphire
 * Rapids, Zen 4 and later), with the register-tiled d_head = 64 attention.
 * prefer-vector-width=512: gcc's auto-vectoriser would otherwise stay at 256
 * bits for some tunings, and the exp/erf loops are where the width pays. */
#if defined(__clang__) /* clang has no GCC target pragma: the same features as a function attribute */
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt,prefer-vector-width=512")
#endif
#define KERN_OPS se_kern_avx512
#define KERN_ISA SE_ISA_AVX512
#define KERN_AVX512 1
#define KERN_VEC_BYTES 64
#include "kern_body.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif

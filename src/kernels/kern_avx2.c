/* The kernel set for AVX2 + FMA (Haswell, Zen and later): the same body
 * compiled for 256-bit vectors and fused multiply-adds, by target pragma so
 * the rest of the build stays baseline x86-64. */
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")
#define KERN_OPS se_kern_avx2
#define KERN_ISA SE_ISA_AVX2
#define KERN_AVX512 0
#define KERN_VEC_BYTES 32
#include "kern_body.h"

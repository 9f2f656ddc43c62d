/* The kernel set for any x86-64 (SSE2 baseline): what runs where cpuid finds
 * neither AVX2+FMA nor AVX-512. Body: kern_body.h. */
#define KERN_OPS se_kern_generic
#define KERN_ISA SE_ISA_GENERIC
#define KERN_AVX512 0
#define KERN_VEC_BYTES 16
#include "kern_body.h"

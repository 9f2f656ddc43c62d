/* Private to src/kernels: branch-free float exp / erf that gcc vectorises
 * (-O3 -march=native, inside `#pragma omp simd` loops). Every step is a
 * select, a min/max or an FMA, so a loop over them becomes AVX-512 code. */
#ifndef SE_KERNELS_VMATH_H
#define SE_KERNELS_VMATH_H

#include <stdint.h>
#include <string.h>

/* exp(x), Cephes expf scheme: x = n·ln2 + r with n = round(x·log2 e) and
 * |r| <= ln2/2, exp(r) by a degree-7 minimax polynomial (rel. error ~1 ulp),
 * times 2^n built in the exponent field. ln2 is split in a hi part exact in
 * float (0.693359375) and a lo correction so r keeps full precision.
 * Returns 0 below -87.33 (denormal range, < 1.2e-38) and +inf above 88.72. */
/* 2^n from v = 1.5·2^23 + 127 + n (the rounding trick of the range
 * reductions below): v's low mantissa bits hold n + 127, which shifted into
 * the exponent field give the float 2^n. Unsigned: the shift drops the high
 * bits by design. */
static inline float se_pow2_biased(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits <<= 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* e^r for r = x - n·ln2 (n = round(x·log2e)): ln2 split in two (Cody-Waite)
 * so r is exact, then the Cephes expf degree-5 polynomial on [-ln2/2, ln2/2]. */
static inline float se_exp_reduced(float x, float n)
{
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    return y;
}

static inline float se_expf_fast(float x)
{
    const float hi = 88.7228317f, lo = -87.3365478f;
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    /* round to nearest by the 1.5·2^23 trick (valid for |v| < 2^22) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float y = se_exp_reduced(xc, n);
    /* 2^n: n in [-126, 128]; at n = 128 (x near 88.72) build 2^127 and
     * double the result so the exponent field never overflows. */
    int32_t ni = (int32_t)n;
    int32_t big = ni > 127;
    ni -= big;
    uint32_t bits = (uint32_t)(ni + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    y = y * s;
    y = big ? y * 2.0f : y;
    y = x < lo ? 0.0f : y;
    y = x > hi ? __builtin_inff() : y;
    return y;
}

/* exp(x) for x <= 0 only (softmax arguments s - max s), in ~14 vector ops
 * instead of ~30: one clamp, and 2^n taken straight from the bits of the
 * rounding sum v = x·log2e + (1.5·2^23 + 127), whose low mantissa bits hold
 * n + 127, so (bits(v) << 23) is the float 2^n. Same polynomial as above
 * (rel. error ~1 ulp). Below -87.3 it returns ~1e-38 instead of 0, which no
 * softmax sum can notice. Not for x > 0 (n + 127 would overflow at x > 88). */
static inline float se_expf_neg(float x)
{
    float xc = x < -87.3f ? -87.3f : x;
    float v = xc * 1.44269504088896341f + 12583039.0f; /* 12582912 + 127 */
    float n = v - 12583039.0f;
    float y = se_exp_reduced(xc, n);
    return y * se_pow2_biased(v);
}

/* 2^x for x <= 0 (attention works in log2 units: the sgemm's alpha carries
 * scale·log2(e), so exp(s - m) becomes 2^(s' - m') and the range reduction is
 * just r = x - round(x), exact, no ln2 split). 2^r on [-1/2, 1/2] by the
 * Cephes exp2f degree-6 minimax polynomial: max rel error 0.66 ulp (tested
 * over [-126, 0]). Below -126 it returns 2^-126 ~ 1.2e-38 instead of 0. */
static inline float se_exp2f_neg(float x)
{
    float xc = x < -126.0f ? -126.0f : x;
    float v = xc + 12583039.0f; /* 1.5·2^23 + 127: rounds, and holds n + 127 */
    float n = v - 12583039.0f;
    float r = xc - n;
    float p = 1.535336188319500e-4f;
    p = p * r + 1.339887440266574e-3f;
    p = p * r + 9.618437357674640e-3f;
    p = p * r + 5.550332471162809e-2f;
    p = p * r + 2.402264791363012e-1f;
    p = p * r + 6.931472028550421e-1f;
    float y = p * r + 1.0f;
    return y * se_pow2_biased(v);
}

/* erf(x) as x·P(x²)/Q(x²) on [-4, 4] (P degree 6, Q degree 4 in x²), the
 * rational approximation used by Eigen and XLA for float; erf(±4) rounds to
 * ±1 in float, so clamping outside is exact. The approximation itself is
 * within 6.5e-8 of erf; the float roundings of the evaluation bring the max
 * abs error to 3.3e-7 (tested; ~3 ulp of values near 1). Evaluating it in
 * double gives 9.5e-8 but made bias+GELU ~9x slower (26% of the FFN1 GEMM
 * instead of 3%), so float it is: in GELU the error is 0.5·|x|·3.3e-7. */
static inline float se_erff_fast(float x)
{
    float xc = x > 4.0f ? 4.0f : x;
    xc = xc < -4.0f ? -4.0f : xc;
    float x2 = xc * xc;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return xc * p / q;
}

#endif

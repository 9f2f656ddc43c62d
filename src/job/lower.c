/* Python's str.lower(), for sentence-transformers' do_lower_case
 * (models/Transformer.py, Transformer.tokenize: `to_tokenize = [[s.lower()
 * for s in col] ...]`, after the prompt is prepended). CPython's
 * unicode_lower_impl (Objects/unicodeobject.c, do_lower) maps each code point
 * with _PyUnicode_ToLowerFull: the full (SpecialCasing.txt) lowercase, whose
 * only unconditional multi-code-point entry is U+0130 -> "i\u0307", and the
 * simple UnicodeData lowercase elsewhere; the only context it honours is
 * Final_Sigma (handle_capital_sigma): U+03A3 becomes U+03C2 when preceded by
 * a cased letter and not followed by one, case-ignorable code points skipped
 * both ways (Unicode 3.13, table 3-17). Language-specific rules (Turkish,
 * Lithuanian) are not applied, as in Python. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "job/embed_internal.h"

/* Case_Ignorable (DerivedCoreProperties.txt): Mn, Me, Cf, Lm, Sk, and the
 * Word_Break MidLetter, MidNumLet and Single_Quote code points. */
static int case_ignorable(utf8proc_int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK: return 1;
    default: break;
    }
    static const utf8proc_int32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,  0x5F4,
                                           0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55,
                                           0xFF07, 0xFF0E, 0xFF1A};
    for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++)
        if (c == mid[i]) return 1;
    return 0;
}

/* Cased: Lu, Ll, Lt, or Other_Lowercase / Other_Uppercase (PropList.txt). */
static int cased(utf8proc_int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
    static const utf8proc_int32_t other[][2] = {
        {0xAA, 0xAA},     {0xBA, 0xBA},     {0x2B0, 0x2B8},   {0x2C0, 0x2C1},   {0x2E0, 0x2E4},   {0x345, 0x345},
        {0x37A, 0x37A},   {0x10FC, 0x10FC}, {0x1D2C, 0x1D6A}, {0x1D78, 0x1D78}, {0x1D9B, 0x1DBF}, {0x2071, 0x2071},
        {0x207F, 0x207F}, {0x2090, 0x209C}, {0x2160, 0x217F}, {0x24B6, 0x24E9}, {0x2C7C, 0x2C7D}, {0xA69C, 0xA69D},
        {0xA770, 0xA770}, {0xA7F2, 0xA7F4}, {0xA7F8, 0xA7F9}, {0xAB5C, 0xAB5F}, {0x1F130, 0x1F149},
        {0x1F150, 0x1F169}, {0x1F170, 0x1F189}};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (c >= other[i][0] && c <= other[i][1]) return 1;
    return 0;
}

/* The code point before byte offset i of s (valid UTF-8), and its start. */
static utf8proc_int32_t prev_cp(const unsigned char *s, size_t *i)
{
    size_t j = *i;
    do j--;
    while (j > 0 && (s[j] & 0xC0) == 0x80);
    utf8proc_int32_t c = -1;
    utf8proc_iterate(s + j, (utf8proc_ssize_t)(*i - j), &c);
    *i = j;
    return c;
}

/* handle_capital_sigma: is the U+03A3 at bytes [at, at+2) final? */
static int final_sigma(const unsigned char *s, size_t len, size_t at)
{
    size_t j = at;
    utf8proc_int32_t c = -1;
    while (j > 0 && case_ignorable(c = prev_cp(s, &j))) c = -1;
    if (c < 0 || !cased(c)) return 0;
    for (size_t k = at + 2; k < len;) {
        utf8proc_ssize_t n = utf8proc_iterate(s + k, (utf8proc_ssize_t)(len - k), &c);
        if (n <= 0) return 1;
        if (!case_ignorable(c)) return !cased(c);
        k += (size_t)n;
    }
    return 1;
}

se_status se_job_lower(const char *text, size_t len, char **out, size_t *out_len, se_error *err)
{
    /* lowercasing never more than doubles the bytes (U+0130: 2 -> 3; the
     * longest simple mappings grow 2 -> 3 bytes, e.g. U+023A -> U+2C65) */
    char *buf = malloc(2 * len + 1);
    if (!buf) return se_error_set(err, SE_ENOMEM, "cannot lowercase a document of %zu bytes", len);
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) { /* not reached: documents are repaired to valid UTF-8 first */
            buf[o++] = (char)s[i++];
            continue;
        }
        if (c == 0x130) {
            memcpy(buf + o, "i\xCC\x87", 3);
            o += 3;
        } else {
            utf8proc_int32_t l = c == 0x3A3 ? (final_sigma(s, len, i) ? 0x3C2 : 0x3C3) : utf8proc_tolower(c);
            o += (size_t)utf8proc_encode_char(l, (utf8proc_uint8_t *)buf + o);
        }
        i += (size_t)n;
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return SE_OK;
}

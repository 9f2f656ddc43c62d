/* Small shared pieces of the tokenizer.json pipeline: growable buffers,
 * the string -> id map, PCRE2 patterns. */
#include "tok_pipe.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

void se_tbuf_put(se_tbuf *b, const void *s, size_t n)
{
    if (b->oom) return;
    if (grow((void **)&b->b, &b->cap, b->n + n + 1, 1)) {
        b->oom = 1;
        return;
    }
    memcpy(b->b + b->n, s, n);
    b->n += n;
}

void se_tbuf_put_cp(se_tbuf *b, int32_t c)
{
    uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_encode_char(c, u);
    se_tbuf_put(b, u, (size_t)k);
}

void se_tpieces_add(se_tpieces *v, size_t off, size_t len, int first)
{
    if (v->oom) return;
    if (grow((void **)&v->p, &v->cap, v->n + 1, sizeof *v->p)) {
        v->oom = 1;
        return;
    }
    v->p[v->n++] = (se_tpiece){(uint32_t)off, (uint32_t)len, (uint8_t)first};
}

int se_ids_push(se_ids *v, int32_t id)
{
    if (v->n == v->cap && grow((void **)&v->ids, &v->cap, v->n + 1, sizeof *v->ids)) return -1;
    v->ids[v->n++] = id;
    return 0;
}

/* ---- string map ---- */

static inline uint64_t mix(uint64_t h) { return ((h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull) | 1u; }

se_status se_smap_init(se_smap *m, size_t hint)
{
    memset(m, 0, sizeof *m);
    unsigned bits = 4;
    while (((size_t)1 << bits) < hint * 2 + 16) bits++;
    m->slots = calloc((size_t)1 << bits, sizeof *m->slots);
    if (!m->slots) return SE_ENOMEM;
    m->mask = (uint32_t)(((size_t)1 << bits) - 1);
    return SE_OK;
}

static int rehash(se_smap *m)
{
    size_t cap = ((size_t)m->mask + 1) * 2;
    se_smap_slot *ns = calloc(cap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        se_smap_slot s = m->slots[i];
        if (!s.tag) continue;
        size_t j = (size_t)(s.tag >> 20) & (cap - 1);
        while (ns[j].tag) j = (j + 1) & (cap - 1);
        ns[j] = s;
    }
    free(m->slots);
    m->slots = ns;
    m->mask = (uint32_t)(cap - 1);
    return 0;
}

int32_t se_smap_get_h(const se_smap *m, uint64_t h, const char *s, size_t n)
{
    uint64_t tag = mix(h), head = se_smap_head(s, n);
    for (uint32_t i = (uint32_t)(tag >> 20) & m->mask;; i = (i + 1) & m->mask) {
        const se_smap_slot *e = &m->slots[i];
        if (!e->tag) return -1;
        if (e->tag == tag && e->len == n && e->head == head && (n <= 8 || memcmp(m->strs + e->off + 8, s + 8, n - 8) == 0))
            return e->id;
    }
}

/* Inserts (s, n) -> id; the key bytes are copied into the pool. */
static int put(se_smap *m, const char *s, size_t n, int32_t id, int replace, int keep_real)
{
    if (n > 0xFFFFFFF) return -1;
    if ((m->n + 1) * 2 > (size_t)m->mask + 1 && rehash(m)) return -1;
    uint64_t tag = mix(se_tok_hash_add(se_tok_hash_init(0), s, n));
    uint32_t i = (uint32_t)(tag >> 20) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        se_smap_slot *e = &m->slots[i];
        if (!e->tag) break;
        if (e->tag == tag && e->len == n && memcmp(m->strs + e->off, s, n) == 0) {
            if (keep_real && e->id != SE_TOK_PREFIX) return 1;
            if (replace || e->id == SE_TOK_PREFIX) e->id = id;
            return 1;
        }
    }
    if (grow((void **)&m->strs, &m->strs_cap, m->strs_len + n + 1, 1)) return -1;
    memcpy(m->strs + m->strs_len, s, n);
    m->strs[m->strs_len + n] = '\0';
    m->slots[i] = (se_smap_slot){tag, se_smap_head(s, n), (uint32_t)m->strs_len, (uint32_t)n, id};
    m->strs_len += n + 1;
    m->n++;
    if (n > m->max_len) m->max_len = (uint32_t)n;
    return 0;
}

int se_smap_put(se_smap *m, const char *s, size_t n, int32_t id, int replace) { return put(m, s, n, id, replace, 0); }

int se_smap_put_prefixes(se_smap *m, const char *s, size_t n)
{
    for (size_t b = 1; b < n; b++) {
        if (((uint8_t)s[b] & 0xC0) == 0x80) continue;
        if (put(m, s, b, SE_TOK_PREFIX, 0, 1) < 0) return -1;
    }
    return 0;
}

void se_smap_free(se_smap *m)
{
    free(m->slots);
    free(m->strs);
    memset(m, 0, sizeof *m);
}

/* ---- PCRE2 ---- */

se_status se_regex_compile(se_regex *r, const char *pat, size_t len, const char *where, se_error *err)
{
    int ec;
    PCRE2_SIZE eo;
    r->re = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!r->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return se_error_set(err, SE_EUNSUPPORTED, "%s: regex '%.*s' does not compile at offset %zu: %s", where,
                            (int)(len > 200 ? 200 : len), pat, (size_t)eo, (char *)msg);
    }
    r->jit = pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE) == 0;
    return SE_OK;
}

void se_regex_free(se_regex *r)
{
    if (r->re) pcre2_code_free(r->re);
    r->re = NULL;
}

int se_regex_next(const se_regex *r, pcre2_match_data *md, const char *s, size_t n, size_t start, size_t *ms,
                  size_t *me)
{
    /* The text is valid UTF-8 (the encoder repairs it first): skip the check. */
    int rc = r->jit ? pcre2_jit_match(r->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL)
                    : pcre2_match(r->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its backtracking on the heap */
        rc = pcre2_match(r->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

/* Windows and batches: deterministic from the index and the options alone
 * (not from the number of ranks), so a resumed job or one on another grid
 * encodes exactly the same batches. */
#include <stdlib.h>

#include "job/embed_internal.h"

int64_t se_plan_windows(const se_docrec *docs, int64_t n_docs, int64_t N, int64_t S, se_window *out)
{
    int64_t nw = 0, tok = 0;
    for (int64_t d = 0; d < n_docs; d++) {
        int64_t c = docs[d].n_tok, extra = docs[d].is_text ? 2 : 0;
        int64_t W = N > 0 ? N - extra : c; /* content tokens per window */
        if (c == 0 && !extra) continue;     /* empty pre-tokenised document: no window, a zero row */
        int64_t start = 0;
        for (;;) {
            int64_t len = c - start < W ? c - start : W;
            if (out) {
                out[nw] = (se_window){.doc = d, .start = start, .tok_off = tok, .len = (int32_t)(len + extra),
                                      .last = 0};
            }
            nw++;
            tok += len + extra;
            if (start + W >= c) break;
            start += S;
        }
        if (out) out[nw - 1].last = 1;
    }
    return nw;
}

static const se_window *g_sort_w;
static int cmp_len_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int32_t lx = g_sort_w[x].len, ly = g_sort_w[y].len;
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

int64_t se_plan_batches(const se_window *w, int64_t n_win, int64_t B, int64_t *order, se_batch *batches)
{
    for (int64_t i = 0; i < n_win; i++) order[i] = i;
    g_sort_w = w;
    qsort(order, (size_t)n_win, sizeof *order, cmp_len_desc);
    int64_t nb = 0, i = 0;
    while (i < n_win) {
        int64_t first = i, tokens = 0;
        while (i < n_win && tokens + w[order[i]].len <= B && i - first < 1 << 20) tokens += w[order[i++]].len;
        if (i == first) tokens = w[order[i++]].len; /* a window longer than B still gets a batch of its own */
        batches[nb++] = (se_batch){.first = first, .count = (int32_t)(i - first), .tokens = (int32_t)tokens};
    }
    return nb;
}

uint64_t se_plan_hash(const se_window *w, int64_t n_win, const int64_t *order, const se_batch *b, int64_t n_batches)
{
    uint64_t h = SE_FNV_INIT;
    h = se_fnv1a64(h, &n_win, sizeof n_win);
    h = se_fnv1a64(h, w, (size_t)n_win * sizeof *w);
    h = se_fnv1a64(h, order, (size_t)n_win * sizeof *order);
    h = se_fnv1a64(h, &n_batches, sizeof n_batches);
    return se_fnv1a64(h, b, (size_t)n_batches * sizeof *b);
}

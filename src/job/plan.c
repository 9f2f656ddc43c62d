/* Windows and batches: deterministic from the index and the options alone
 * (not from the number of ranks), so a resumed job or one on another grid
 * encodes exactly the same batches.
 *
 * Why a histogram: batches are runs of the windows sorted longest first,
 * ties by window index. Windows of one length are therefore consecutive and
 * in document order, so the length histogram alone fixes the order (the
 * windows of length L sit at start[L] + their rank among length-L windows)
 * and the batches. The plan costs O(longest window + batches) memory, not
 * O(windows): no rank needs the other ranks' windows to plan (sorted.c
 * places each window at its position in a shared file). */
#include <stdlib.h>

#include "job/embed_internal.h"

int64_t se_plan_doc_nwin(int64_t n_tok, int is_text, int64_t N, int64_t S)
{
    int64_t extra = is_text ? 2 : 0, W = N > 0 ? N - extra : n_tok; /* content tokens per window */
    if (n_tok == 0 && !extra) return 0;                             /* empty pre-tokenised document: a zero row */
    if (n_tok <= W) return 1;
    /* starts 0, S, 2S, ... up to the first k with k*S + W >= n_tok */
    return (n_tok - W + S - 1) / S + 1;
}

int32_t se_plan_doc_win(int64_t n_tok, int is_text, int64_t N, int64_t S, int64_t k, int64_t *start)
{
    int64_t extra = is_text ? 2 : 0, W = N > 0 ? N - extra : n_tok;
    int64_t s = N > 0 ? k * S : 0, len = n_tok - s < W ? n_tok - s : W;
    *start = s;
    return (int32_t)(len + extra);
}

void se_plan_class_starts(const int64_t *hist, int64_t n_len, int64_t *start)
{
    int64_t pos = 0;
    for (int64_t L = n_len - 1; L >= 0; L--) start[L] = pos, pos += hist[L];
}

/* The greedy packing of the sorted order, a length class at a time: as
 * many windows of the current length as still fit, exactly what taking
 * them one by one would give. */
int64_t se_plan_batches(const int64_t *hist, int64_t n_len, int64_t B, se_batch *batches)
{
    const int64_t cap = 1 << 20; /* windows per batch, so that counts stay small */
    int64_t nb = 0, pos = 0, L = n_len - 1, rem = L >= 0 ? hist[L] : 0;
    for (;;) {
        int64_t first = pos, tokens = 0, count = 0;
        for (;;) {
            while (rem == 0 && L > 0) rem = hist[--L];
            if (rem == 0 || L == 0) break; /* no window has length 0 (se_plan_doc_nwin) */
            int64_t take = (B - tokens) / L;
            if (take > rem) take = rem;
            if (take > cap - count) take = cap - count;
            if (take <= 0) break;
            tokens += take * L, count += take, rem -= take, pos += take;
        }
        if (count == 0 && rem > 0 && L > 0) /* a window longer than B still gets a batch of its own */
            tokens = L, count = 1, rem--, pos++;
        if (count == 0) break;
        if (batches) batches[nb] = (se_batch){.first = first, .count = (int32_t)count, .tokens = (int32_t)tokens};
        nb++;
    }
    return nb;
}

uint64_t se_plan_hash(const int64_t *hist, int64_t n_len, const se_batch *b, int64_t n_batches)
{
    uint64_t h = SE_FNV_INIT;
    h = se_fnv1a64(h, &n_len, sizeof n_len);
    h = se_fnv1a64(h, hist, (size_t)n_len * sizeof *hist);
    h = se_fnv1a64(h, &n_batches, sizeof n_batches);
    return se_fnv1a64(h, b, (size_t)n_batches * sizeof *b);
}

/* What the BPE and Unigram models share: the id index over the vocabulary
 * map, byte-fallback ids, accessors. */
#include "tok_pipe.h"

#include <stdio.h>
#include <stdlib.h>

se_status se_tmodel_index(se_tmodel *m, const char *path, se_error *err)
{
    int32_t max = -1;
    for (size_t i = 0; i <= m->vocab.mask; i++)
        if (m->vocab.slots[i].tag && m->vocab.slots[i].id > max) max = m->vocab.slots[i].id;
    if (max < 0) return se_error_set(err, SE_EFORMAT, "%s: model.vocab is empty", path);
    m->n_ids = max + 1;
    m->id_off = malloc((size_t)m->n_ids * sizeof *m->id_off);
    m->id_len = calloc((size_t)m->n_ids, sizeof *m->id_len);
    if (!m->id_off || !m->id_len) return se_error_set(err, SE_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < m->n_ids; i++) m->id_off[i] = -1;
    for (size_t i = 0; i <= m->vocab.mask; i++) {
        const se_smap_slot *s = &m->vocab.slots[i];
        if (!s->tag || s->id < 0) continue;
        m->id_off[s->id] = s->off;
        m->id_len[s->id] = s->len;
    }
    for (int b = 0; b < 256; b++) {
        char k[8];
        snprintf(k, sizeof k, "<0x%02X>", b);
        m->byte_id[b] = se_smap_get(&m->vocab, k, 6);
    }
    return SE_OK;
}

void se_tmodel_free(se_tmodel *m)
{
    if (!m) return;
    se_smap_free(&m->vocab);
    free(m->id_off);
    free(m->id_len);
    free(m->merges);
    free(m->cont_prefix);
    free(m->eow_suffix);
    free(m->scores);
    free(m);
}

int se_tmodel_n_ids(const se_tmodel *m) { return m->n_ids; }
int32_t se_tmodel_unk_id(const se_tmodel *m) { return m->unk_id; }
int32_t se_tmodel_token_id(const se_tmodel *m, const char *s, size_t n) { return se_smap_get(&m->vocab, s, n); }

const char *se_tmodel_id_token(const se_tmodel *m, int32_t id, size_t *len)
{
    if (id < 0 || id >= m->n_ids || m->id_off[id] < 0) return NULL;
    if (len) *len = m->id_len[id];
    return m->vocab.strs + m->id_off[id];
}

int se_bpe_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out);
int se_unigram_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out);
int se_wordpiece_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out);

int se_tmodel_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out)
{
    if (n == 0) return 0;
    switch (m->kind) {
    case SE_TM_BPE: return se_bpe_encode(m, s, n, out);
    case SE_TM_UNIGRAM: return se_unigram_encode(m, s, n, out);
    default: return se_wordpiece_encode(m, s, n, out);
    }
}

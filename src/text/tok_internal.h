/* Private to src/text: the tokenizer's layout, shared by the loaders
 * (tok_load.c) and the encoder (tok_encode.c). */
#ifndef SE_TEXT_TOK_INTERNAL_H
#define SE_TEXT_TOK_INTERNAL_H

#include "shardenc/text.h"

#include <stdint.h>
#include <string.h>

/* Class of an ASCII byte after BertNormalizer + BertPreTokenizer, resolved
 * once per tokenizer from its options (clean_text changes the controls). */
enum { SE_AC_WORD = 0, SE_AC_WS, SE_AC_PUNCT, SE_AC_DROP };

/* One slot of the open-addressing vocab table. A vocab token "x" is stored
 * under key (0, "x"); a token that starts with the continuation prefix
 * ("##x") is also stored under key (1, "x"), so WordPiece looks up
 * "##"+piece without building the string. */
typedef struct {
    uint32_t tag;  /* high bits of the hash; 0 = empty slot */
    uint32_t off;  /* key bytes: strs + off */
    uint32_t len;  /* key length in bytes */
    int32_t id;    /* token id; the key kind (0/1) is folded into the hash and kept in bit 31 of len */
} se_tok_slot;

typedef struct {
    uint32_t off, len; /* in strs */
    int32_t id;
} se_tok_added;

struct se_tokenizer {
    se_tok_options opt;
    int strip_accents; /* resolved: 0 or 1 */

    char *strs; /* every token's bytes, NUL-terminated, back to back */
    size_t strs_len, strs_cap;

    int n_ids;          /* max id + 1 */
    int n_tokens;       /* distinct tokens */
    int64_t *id_off;    /* id -> offset in strs, -1 if no token has this id */

    se_tok_slot *slots;
    uint32_t mask;      /* capacity - 1 (power of two) */
    unsigned shift;     /* 64 - log2(capacity): slot = mixed hash >> shift */
    uint32_t max_key[2]; /* longest key in bytes, per kind: bounds the greedy search */

    char cont_prefix[16];
    size_t cont_prefix_len;

    int unk_id, cls_id, sep_id, pad_id, mask_id;
    int32_t prefix_ids[8], suffix_ids[8]; /* the post-processor template around $A */
    int n_prefix, n_suffix;

    /* Added (special) tokens, matched on the raw text before normalisation
     * (normalized:false in tokenizer.json), leftmost then longest. */
    se_tok_added *added;
    int n_added;
    uint8_t added_first[256]; /* 1 if some added token starts with this byte */

    uint8_t slow_mask; /* SE_CF_* bits that send a BMP character down the full path */
    struct se_pipe *pipe; /* non-NULL: a tokenizer.json pipeline other than the WordPiece fast path */
    int pipe_n_ids;       /* its ids: max of the model's and the added tokens' + 1 */

    uint8_t ascii_class[128];
    uint8_t ascii_lower[128];
    int32_t ascii_single_id[128]; /* id of the one-char word, for punctuation */
};

/* FNV-1a over the key bytes, seeded by the kind (0 word start, 1
 * continuation). Byte-incremental, so WordPiece extends a candidate piece by
 * one character at a time without rehashing it. */
static inline uint64_t se_tok_hash_init(unsigned kind)
{
    return 0xCBF29CE484222325ull ^ (kind ? 0x9E3779B97F4A7C15ull : 0);
}
static inline uint64_t se_tok_hash_add(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001B3ull;
    return h;
}

#define SE_TOK_KIND_BIT 0x80000000u
#define SE_TOK_PREFIX (-2) /* a proper prefix of some key, not a key itself */

/* Key (kind, p[0..n)) with hash h: its id, SE_TOK_PREFIX, or -1 if it is
 * neither a key nor the prefix of one. */
static inline int32_t se_tok_find(const se_tokenizer *t, uint64_t h, unsigned kind, const char *p, size_t n)
{
    uint64_t m = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
    uint32_t tag = (uint32_t)m | 1u;
    uint32_t want_len = (uint32_t)n | (kind ? SE_TOK_KIND_BIT : 0);
    for (uint32_t i = (uint32_t)(m >> t->shift);; i = (i + 1) & t->mask) {
        const se_tok_slot *s = &t->slots[i];
        if (s->tag == 0) return -1;
        if (s->tag == tag && s->len == want_len && memcmp(t->strs + s->off, p, n) == 0) return s->id;
    }
}

/* Id of key (kind, p[0..n)), or -1. */
static inline int32_t se_tok_lookup(const se_tokenizer *t, unsigned kind, const char *p, size_t n)
{
    int32_t id = se_tok_find(t, se_tok_hash_add(se_tok_hash_init(kind), p, n), kind, p, n);
    return id >= 0 ? id : -1;
}

/* Per-code-point flags for the BMP, computed once per process from utf8proc
 * (+ tok_compat.h), so the non-ASCII path does one table read per character. */
enum {
    SE_CF_OTHER = 1,  /* removed by clean_text */
    SE_CF_WS = 2,     /* White_Space */
    SE_CF_PUNCT = 4,  /* isolated by the pre-tokenizer */
    SE_CF_MN = 8,     /* nonspacing mark */
    SE_CF_CJK = 16,   /* spaces around it */
    SE_CF_LCHG = 32,  /* lowercasing changes it */
    SE_CF_DCHG = 64,  /* NFD changes it */
};
extern uint8_t se_tok_bmp[65536];
void se_tok_bmp_init(void); /* idempotent, thread-safe */

/* Unicode predicates as the Rust tokenizers define them (see tok_encode.c). */
int se_tok_is_ws(int32_t c);
int se_tok_is_other(int32_t c);
int se_tok_is_punct(int32_t c);
int se_tok_is_cjk(int32_t c);
int se_tok_is_mn(int32_t c);

/* tokenizer.json post_processor TemplateProcessing.single -> prefix/suffix ids (tok_load.c). */
#include <jansson.h>
se_status se_tok_template_ids(json_t *pp, json_t *tmpl, se_tokenizer *t, const char *path, se_error *err);

#endif

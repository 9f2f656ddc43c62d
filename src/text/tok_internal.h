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

    uint8_t ascii_class[128];
    uint8_t ascii_lower[128];
    int32_t ascii_single_id[128]; /* id of the one-char word, for punctuation */
};

/* 64-bit hash of a short key; kind (0 word start, 1 continuation) is the seed. */
static inline uint64_t se_tok_hash(const char *p, size_t n, unsigned kind)
{
    uint64_t h = 0x9E3779B97F4A7C15ull * (kind + 1) ^ (uint64_t)n * 0xC2B2AE3D27D4EB4Full;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}

#define SE_TOK_KIND_BIT 0x80000000u

/* Id of key (kind, p[0..n)), or -1. */
static inline int32_t se_tok_lookup(const se_tokenizer *t, unsigned kind, const char *p, size_t n)
{
    uint64_t h = se_tok_hash(p, n, kind);
    uint32_t tag = (uint32_t)(h >> 32) | 1u;
    uint32_t want_len = (uint32_t)n | (kind ? SE_TOK_KIND_BIT : 0);
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        const se_tok_slot *s = &t->slots[i];
        if (s->tag == 0) return -1;
        if (s->tag == tag && s->len == want_len && memcmp(t->strs + s->off, p, n) == 0) return s->id;
    }
}

/* Unicode predicates as the Rust tokenizers define them (see tok_encode.c). */
int se_tok_is_ws(int32_t c);
int se_tok_is_other(int32_t c);
int se_tok_is_punct(int32_t c);
int se_tok_is_cjk(int32_t c);
int se_tok_is_mn(int32_t c);

#endif

/* shardenc text: a WordPiece tokenizer identical to Hugging Face's BERT
 * tokenizer (BasicTokenizer + WordpieceTokenizer, and the tokenizers-library
 * BertNormalizer / BertPreTokenizer / WordPiece / TemplateProcessing).
 * Depends on core only. */
#ifndef SHARDENC_TEXT_H
#define SHARDENC_TEXT_H

#include "shardenc/core.h"

typedef struct se_tokenizer se_tokenizer;

typedef struct {
    int lowercase;            /* do_lower_case; default 1 */
    int strip_accents;        /* -1 = follow lowercase (HF default), 0, 1 */
    int handle_chinese_chars; /* default 1 */
    int clean_text;           /* default 1 */
    int max_input_chars_per_word; /* default 100 */
} se_tok_options;

void se_tok_options_default(se_tok_options *o);

/* vocab.txt: one token per line, id = line number (trailing whitespace
 * trimmed, as HF). opt NULL: defaults (uncased BERT). [CLS] $A [SEP] and the
 * five BERT special tokens matched whole in the raw text, as
 * BertTokenizerFast. A repeated token or a missing [UNK] is an error. */
se_status se_tok_load_vocab(const char *path, const se_tok_options *opt, se_tokenizer **out, se_error *err);
/* tokenizer.json whose model is WordPiece: normalizer settings, special
 * tokens, post-processor template are read from it. */
se_status se_tok_load_json(const char *path, se_tokenizer **out, se_error *err);
/* A model folder: tokenizer.json if present, else vocab.txt (+ tokenizer_config.json
 * for do_lower_case if present). */
se_status se_tok_load_dir(const char *dir, se_tokenizer **out, se_error *err);
void se_tok_free(se_tokenizer *t);

int se_tok_vocab_size(const se_tokenizer *t);
int se_tok_cls_id(const se_tokenizer *t);
int se_tok_sep_id(const se_tokenizer *t);
int se_tok_unk_id(const se_tokenizer *t);
int se_tok_pad_id(const se_tokenizer *t);
const char *se_tok_id_to_token(const se_tokenizer *t, int id);

/* Growable id buffer, reused across calls so the hot path does not allocate. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} se_ids;
void se_ids_free(se_ids *v);

/* Encodes text (len bytes, need not be NUL-terminated) and appends ids to out
 * (out->n is reset to 0 first). add_special: [CLS] ... [SEP] per the
 * post-processor. Never truncates. Invalid UTF-8 sequences are replaced by
 * U+FFFD (then removed by clean_text, as HF does) and counted in
 * *n_invalid (may be NULL). Thread-safe for concurrent calls on one tokenizer. */
se_status se_tok_encode(const se_tokenizer *t, const char *text, size_t len, int add_special, se_ids *out,
                        size_t *n_invalid, se_error *err);

/* UTF-8 helpers (the same decoder as se_tok_encode). se_utf8_count_invalid:
 * the number of ill-formed subsequences (maximal subparts, Unicode §3.9) in
 * s[0..len), 0 if it is valid UTF-8. se_utf8_repair: copies s to out with
 * each of them replaced by U+FFFD (EF BF BD); out must hold 3*len bytes;
 * returns the output length. */
size_t se_utf8_count_invalid(const char *s, size_t len);
size_t se_utf8_repair(const char *s, size_t len, char *out);

#endif

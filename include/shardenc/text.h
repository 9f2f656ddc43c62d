/* shardenc text: tokenizers identical to Hugging Face's. vocab.txt is the
 * BERT WordPiece tokenizer (BasicTokenizer + WordpieceTokenizer); a
 * tokenizer.json is read as the tokenizers library defines it: normalizers,
 * pre-tokenizers, the WordPiece, BPE (byte-level or not) or Unigram model,
 * post-processor and added tokens, each a part of one pipeline (src/text/).
 * What a file asks for that is not implemented is refused by name.
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
/* tokenizer.json: model WordPiece (BertNormalizer / BertPreTokenizer, the
 * fused fast path), BPE or Unigram (the general pipeline). */
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
/* The post-processor's template around one sequence: the ids before and after
 * $A (se_tok_encode with add_special = prefix + ids + suffix). cls_id/sep_id
 * are the first prefix and last suffix id, -1 when the template has none
 * (GPT-2's ByteLevel post-processor adds nothing). */
void se_tok_template(const se_tokenizer *t, const int32_t **prefix, int *n_prefix, const int32_t **suffix,
                     int *n_suffix);
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

/* se_utf8_count_invalid / se_utf8_repair (core.h) use the same decoder as se_tok_encode. */

#endif

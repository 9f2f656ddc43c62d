/* shardenc io: safetensors (mmap, validated), config.json, .npy writer, JSONL
 * documents. Depends on core only. Nothing here knows about MPI or models. */
#ifndef SHARDENC_IO_H
#define SHARDENC_IO_H

#include "shardenc/core.h"

/* ------------------------------------------------------------------ safetensors
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"k": "v"}}, then the data section. se_st_open validates the
 * whole file against the specification before returning (see io/safetensors.c)
 * and refuses with a message naming the file and the tensor. */
typedef enum {
    SE_DT_F32 = 0, SE_DT_F16, SE_DT_BF16, SE_DT_F64,
    SE_DT_I8, SE_DT_U8, SE_DT_I16, SE_DT_U16, SE_DT_I32, SE_DT_U32, SE_DT_I64, SE_DT_U64,
    SE_DT_BOOL, SE_DT_F8_E4M3, SE_DT_F8_E5M2,
    SE_DT_COUNT
} se_dtype;

const char *se_dtype_name(se_dtype dt);  /* "F32", ... */
size_t se_dtype_size(se_dtype dt);       /* bytes per element */

#define SE_ST_MAX_DIMS 8
typedef struct {
    char *name;
    se_dtype dtype;
    int ndim;
    int64_t shape[SE_ST_MAX_DIMS];
    int64_t numel;
    size_t offset; /* from the start of the data section */
    size_t nbytes;
} se_st_tensor;

typedef struct se_st_file se_st_file;

se_status se_st_open(const char *path, se_st_file **out, se_error *err);
/* Same validation over a buffer already in memory (used by the fuzzer). The
 * buffer is not copied: it must outlive the handle. */
se_status se_st_open_buffer(const void *data, size_t len, const char *name, se_st_file **out, se_error *err);
void se_st_close(se_st_file *f);
const char *se_st_path(const se_st_file *f);
size_t se_st_count(const se_st_file *f);
const se_st_tensor *se_st_at(const se_st_file *f, size_t i); /* in name (strcmp) order; NULL past the end */
const se_st_tensor *se_st_find(const se_st_file *f, const char *name); /* NULL if absent */
/* __metadata__ value for key, or NULL. */
const char *se_st_metadata(const se_st_file *f, const char *key);

/* Copies a block of a tensor into dst as fp32, converting F16/BF16/F64.
 * The tensor is viewed as 2-D [rows, cols] with rows = shape[0] and cols the
 * product of the rest; a 1-D tensor of n elements is viewed as [n, 1], so a
 * row slice of a bias follows the row slice of its weight. Copies rows [row0, row0+nrows) x cols [col0, col0+ncols) into dst
 * with row stride ncols. Never reads out of bounds; bytes may be unaligned. */
se_status se_st_read_f32(const se_st_file *f, const se_st_tensor *t, int64_t row0, int64_t nrows,
                         int64_t col0, int64_t ncols, float *dst, se_error *err);

/* The weights of a model folder: DIR/model.safetensors, or the shards that
 * DIR/model.safetensors.index.json maps tensor names to ({"weight_map":
 * {"name": "model-00001-of-00002.safetensors", ...}}, Hugging Face's
 * save_pretrained sharding). Each shard is opened (mmap, validated) once;
 * nothing is read until a tensor is asked for, so a rank reads only its
 * slices. A shard name with a '/' or a listed tensor its shard lacks is
 * refused naming the index; pytorch_model.bin alone is refused (a pickle). */
typedef struct se_st_set se_st_set;
se_status se_st_set_open(const char *dir, se_st_set **out, se_error *err);
void se_st_set_close(se_st_set *s);
/* The tensor and the file holding it; NULL (and *file NULL) if absent. */
const se_st_tensor *se_st_set_find(const se_st_set *s, const char *name, const se_st_file **file);
/* What to name in messages: the single file, or the index. */
const char *se_st_set_path(const se_st_set *s);
int se_st_set_n_files(const se_st_set *s);
const se_st_file *se_st_set_file(const se_st_set *s, int i); /* shard i, NULL past the end */

/* Writes a safetensors file (F32, F16 or BF16 from fp32 data, rounding to
 * nearest even). Used by tests, `shardenc init-model` and the demo model. */
typedef struct {
    const char *name;
    se_dtype dtype; /* F32, F16 or BF16 */
    int ndim;
    int64_t shape[SE_ST_MAX_DIMS];
    const float *data; /* numel floats */
} se_st_entry;
/* meta_kv holds n_meta key/value pairs: meta_kv[2i] = key, meta_kv[2i+1] = value. */
se_status se_st_write(const char *path, const se_st_entry *entries, size_t n, const char *const *meta_kv,
                      size_t n_meta, se_error *err);

uint16_t se_f32_to_f16(float x);
float se_f16_to_f32(uint16_t h);
/* se_f32_to_bf16 / se_bf16_to_f32: core.h */

/* ------------------------------------------------------------------ config.json */
/* The family a config.json names (model_type); src/model maps each to its
 * recipe (model.h, se_recipe). roberta, xlm-roberta and camembert share one. */
typedef enum {
    SE_ARCH_BERT = 0, SE_ARCH_VANILLA, SE_ARCH_ROBERTA, SE_ARCH_DISTILBERT, SE_ARCH_ELECTRA, SE_ARCH_MPNET,
    SE_ARCH_MODERNBERT, SE_ARCH_NOMIC_BERT, SE_ARCH_GTE_NEW,
    SE_ARCH_JINABERT, /* model_type bert + position_embedding_type alibi (JinaBERT-v2, issue 12) */
    SE_ARCH_COUNT
} se_arch;
/* SILU: x·sigmoid(x) (SwiGLU's gate, NomicBERT) */
typedef enum { SE_ACT_GELU_ERF = 0, SE_ACT_GELU_TANH, SE_ACT_RELU, SE_ACT_SILU } se_act;
/* How RoPE's inverse frequencies are scaled (se_recipe_rope_inv_freq). */
typedef enum {
    SE_ROPE_PLAIN = 0,
    SE_ROPE_NTK_FIXED,   /* GTE NTKScalingRotaryEmbedding: base·f, and inv_freq / f^(2/dim) */
    SE_ROPE_NTK_DYNAMIC, /* NomicBertDynamicNTKRotaryEmbedding: base from the sequence length beyond rope_trained */
} se_rope_scaling;
/* Biases a config turns off (NomicBERT's qkv_proj_bias, mlp_fc1_bias, mlp_fc2_bias) */
enum { SE_NOBIAS_QKV = 1, SE_NOBIAS_O = 2, SE_NOBIAS_FC1 = 4, SE_NOBIAS_FC2 = 8 };
typedef enum { SE_SIN_INTERLEAVED = 0, SE_SIN_CONCAT } se_sin_layout;

typedef struct {
    se_arch arch;
    char model_type[64];     /* as written: "bert", "vanilla_transformer", ... */
    int d_model;             /* hidden_size */
    int n_heads;             /* num_attention_heads */
    int n_layers;            /* num_hidden_layers */
    int d_ff;                /* intermediate_size */
    se_act act;              /* hidden_act */
    int max_pos;             /* max_position_embeddings; 0 = no limit (sinusoidal) */
    int type_vocab;          /* type_vocab_size (0 for vanilla) */
    int vocab_size;
    float ln_eps;            /* layer_norm_eps */
    int pad_token_id;
    int emb_size;            /* embedding_size (ELECTRA; projected to hidden_size); else = d_model */
    int rel_buckets;         /* relative_attention_num_buckets (MPNet), else 0 */
    /* vanilla only */
    se_sin_layout sin_layout;
    double sin_base;         /* sinusoidal_base, default 10000 */
    int scale_embedding;     /* x sqrt(d_model), default true */
    /* RoPE families (ModernBERT, issue 12) */
    double rope_theta;       /* global_rope_theta (or rope_parameters.full_attention.rope_theta) */
    double rope_theta_local; /* local_rope_theta (or rope_parameters.sliding_attention.rope_theta) */
    int global_every;        /* global_attn_every_n_layers: layer l is global iff l % it == 0; 0 = all global */
    int local_window;        /* local_attention: a local layer's query i sees keys |i-j| <= local_window/2 */
    /* RoPE variants (NomicBERT, GTE; issue 12). Zero = ModernBERT's: the whole head, rotate_half, unscaled. */
    int rope_dim;            /* rotated dims per head (rotary_emb_fraction·d_head), 0 = d_head */
    int rope_interleaved;    /* pairs (2i, 2i+1) (GPT-J) instead of halves (i, i+rope_dim/2) */
    se_rope_scaling rope_scaling;
    double rope_factor;      /* rotary_scaling_factor / rope_scaling.factor */
    int rope_trained;        /* NTK_DYNAMIC: max_trained_positions (longer sequences rescale the base) */
    int default_window;      /* window length when --max-tokens is not given, 0 = the position limit */
    unsigned no_bias;        /* SE_NOBIAS_* bits: recipe biases this config leaves out */
} se_model_config;

/* Parses config.json. Missing keys take the family's Hugging Face config
 * defaults (BertConfig, RobertaConfig, DistilBertConfig with its own key
 * names dim/n_layers/n_heads/hidden_dim/activation, ElectraConfig);
 * what the runtime cannot run (unknown model_type or hidden_act, a
 * position_embedding_type other than absolute for BERT, hidden_size not
 * divisible by num_attention_heads, ...) is refused by name. */
se_status se_config_load(const char *path, se_model_config *cfg, se_error *err);
se_status se_config_parse(const char *json, size_t len, const char *name, se_model_config *cfg, se_error *err);
/* Serialises cfg as config.json (for generated models). */
se_status se_config_save(const char *path, const se_model_config *cfg, se_error *err);
const char *se_act_name(se_act a);

/* ------------------------------------------------------------------ sentence-transformers folders
 * What SentenceTransformer(dir) reads besides the encoder (sentence-transformers
 * SentenceTransformer._load_sbert_model and models/{Pooling,Dense,Normalize}.py):
 *   modules.json                       [{"idx", "name", "path", "type"}, ...] in order
 *   <Pooling path>/config.json         pooling_mode_* flags (or "pooling_mode"), include_prompt
 *   <Dense path>/config.json           in_features, out_features, bias, activation_function
 *   <Dense path>/model.safetensors     linear.weight [out, in], linear.bias [out]
 *   sentence_bert_config.json          max_seq_length, do_lower_case
 *   config_sentence_transformers.json  prompts {name: text}, default_prompt_name
 * Module types other than Transformer, Pooling, Dense, Normalize are refused
 * by name. */
/* Pooling modes in the order Pooling.forward concatenates them. */
enum { SE_STP_CLS = 0, SE_STP_MAX, SE_STP_MEAN, SE_STP_MEAN_SQRT_LEN, SE_STP_WEIGHTEDMEAN, SE_STP_LASTTOKEN, SE_STP_COUNT };
typedef enum { SE_STM_TRANSFORMER = 0, SE_STM_POOLING, SE_STM_DENSE, SE_STM_NORMALIZE } se_stm_kind;
typedef enum { SE_DACT_IDENTITY = 0, SE_DACT_TANH, SE_DACT_RELU, SE_DACT_SIGMOID, SE_DACT_GELU } se_dense_act;
#define SE_ST_MAX_MODULES 8
#define SE_ST_MAX_PROMPTS 16
typedef struct {
    se_stm_kind kind;
    char path[512];          /* folder of the module, relative to the model folder ("" = root) */
    unsigned modes;          /* pooling: bit SE_STP_* set per mode */
    int include_prompt;      /* pooling: default true */
    int in, out, bias;       /* dense */
    se_dense_act act;        /* dense */
} se_st_module;
typedef struct {
    int found;               /* modules.json present */
    int n;
    se_st_module m[SE_ST_MAX_MODULES];
    int max_seq_length;      /* 0 = not given */
    int do_lower_case;       /* -1 = not given */
    int n_prompts;
    char prompt_name[SE_ST_MAX_PROMPTS][64];
    char *prompt_text[SE_ST_MAX_PROMPTS];
    char default_prompt[64]; /* "" = none */
} se_st_folder;
se_status se_st_folder_load(const char *dir, se_st_folder *f, se_error *err);
void se_st_folder_free(se_st_folder *f);
const char *se_st_pool_mode_name(int mode); /* "cls", "max", "mean", "mean_sqrt_len_tokens", ... */
const char *se_dense_act_name(se_dense_act a);

/* ------------------------------------------------------------------ .npy
 * NumPy format 1.0: magic, version, header dict padded with spaces to a
 * multiple of 64 bytes, ending in '\n'. */
/* Writes the header for dtype descr ("<f4", "<i8") and shape into buf;
 * returns its length (a multiple of 64), or 0 if cap is too small. The bytes
 * are what numpy.save writes (checked against numpy 1.24, incl. its 21-digit
 * growth padding after the dict). */
size_t se_npy_header(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape);
se_status se_npy_write(const char *path, const char *descr, int ndim, const int64_t *shape, const void *data,
                       size_t elem_size, se_error *err);
/* Reads a whole .npy of "<f4" or "<i8" (tests, resume checks). *data is malloc'd. */
se_status se_npy_read(const char *path, char descr[8], int *ndim, int64_t shape[4], void **data, se_error *err);

/* ------------------------------------------------------------------ JSONL documents */
typedef struct {
    char *id;            /* the "id" value as text: a string as-is, a number as printed */
    char *text;          /* "text", or NULL for pre-tokenised input */
    size_t text_len;
    int32_t *input_ids;  /* "input_ids", or NULL */
    int32_t *type_ids;   /* "token_type_ids", or NULL (all zeros) */
    size_t n_ids;
    size_t n_invalid_utf8; /* ill-formed UTF-8 sequences in the line, each replaced by U+FFFD */
} se_doc;


/* Parses one line (without its newline). On failure returns SE_EFORMAT with a
 * message naming `where` (e.g. "corpus.jsonl:17") and the problem: bad JSON,
 * missing id, neither text nor input_ids, wrong types, negative ids,
 * token_type_ids of another length. */
se_status se_doc_parse(const char *line, size_t len, const char *where, se_doc *doc, se_error *err);

/* Which fields make a document (issue 13). NULL / 0 entries take the defaults:
 * id "id", text "text", TSV columns "id", "text". Paths may be dotted
 * ("meta.id") to reach nested keys. Several text fields are joined by one
 * space; missing, null or empty ones are left out. */
typedef struct {
    const char *id_field;
    const char *const *text_fields;
    int n_text;
    const char *const *tsv_columns;
    int n_tsv;
    int id_optional; /* no id is not an error: doc->id stays NULL */
} se_doc_fields;
se_status se_doc_parse_fields(const char *line, size_t len, const char *where, const se_doc_fields *f, se_doc *doc,
                              se_error *err);
/* One TSV line: columns split at tabs (the named columns, default id<TAB>text).
 * A line without a tab, or with an empty id column, is SE_EFORMAT; a column
 * the line lacks is missing. Always text (empty if no text column is there). */
se_status se_doc_parse_tsv(const char *line, size_t len, const char *where, const se_doc_fields *f, se_doc *doc,
                           se_error *err);
void se_doc_free(se_doc *doc);

#endif

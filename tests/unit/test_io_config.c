/* io/config: BertConfig defaults, vanilla defaults, refusals by name, type
 * and bound checks, save -> load roundtrip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardenc/io.h"

static se_status parse(const char *json, se_model_config *c, se_error *err)
{
    return se_config_parse(json, strlen(json), "m/config.json", c, err);
}

static void expect_bad(const char *json, se_status code, const char *msg)
{
    se_model_config c;
    se_error err;
    se_error_clear(&err);
    se_status st = parse(json, &c, &err);
    if (st != code) fail_msg("%s: expected %s, got %s: %s", json, se_status_name(code), se_status_name(st), err.msg);
    if (!strstr(err.msg, msg)) fail_msg("message lacks '%s': %s", msg, err.msg);
    if (strncmp(err.msg, "m/config.json: ", 15)) fail_msg("message does not start with the file: %s", err.msg);
}

static void test_bert_defaults(void **state)
{
    (void)state;
    se_model_config c;
    se_error err;
    assert_int_equal(parse("{\"model_type\": \"bert\"}", &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_BERT);
    assert_string_equal(c.model_type, "bert");
    assert_int_equal(c.d_model, 768);
    assert_int_equal(c.n_layers, 12);
    assert_int_equal(c.n_heads, 12);
    assert_int_equal(c.d_ff, 3072);
    assert_int_equal(c.act, SE_ACT_GELU_ERF);
    assert_int_equal(c.max_pos, 512);
    assert_int_equal(c.type_vocab, 2);
    assert_int_equal(c.vocab_size, 30522);
    assert_true(c.ln_eps == 1e-12f);
    assert_int_equal(c.pad_token_id, 0);

    /* a real MiniLM config, extra keys ignored; no model_type -> bert */
    const char *mini = "{\"architectures\": [\"BertModel\"], \"attention_probs_dropout_prob\": 0.1,"
                       "\"hidden_act\": \"gelu_pytorch_tanh\", \"hidden_size\": 384, \"intermediate_size\": 1536,"
                       "\"layer_norm_eps\": 1e-07, \"max_position_embeddings\": 256, \"num_attention_heads\": 12,"
                       "\"num_hidden_layers\": 6, \"pad_token_id\": null, \"position_embedding_type\": \"absolute\","
                       "\"type_vocab_size\": 1, \"vocab_size\": 250037, \"classifier_dropout\": null}";
    assert_int_equal(parse(mini, &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_BERT);
    assert_string_equal(c.model_type, "bert");
    assert_int_equal(c.d_model, 384);
    assert_int_equal(c.n_layers, 6);
    assert_int_equal(c.d_ff, 1536);
    assert_int_equal(c.act, SE_ACT_GELU_TANH);
    assert_int_equal(c.max_pos, 256);
    assert_int_equal(c.type_vocab, 1);
    assert_int_equal(c.vocab_size, 250037);
    assert_true(c.ln_eps == 1e-7f);
    assert_int_equal(c.pad_token_id, 0);
    assert_int_equal(parse("{\"hidden_act\": \"gelu_new\", \"layer_norm_eps\": 1}", &c, &err), SE_OK);
    assert_int_equal(c.act, SE_ACT_GELU_TANH);
    assert_true(c.ln_eps == 1.0f);
    assert_int_equal(parse("{\"hidden_act\": \"relu\", \"pad_token_id\": 5}", &c, &err), SE_OK);
    assert_int_equal(c.act, SE_ACT_RELU);
    assert_int_equal(c.pad_token_id, 5);
}

/* ModernBertConfig defaults, the newer rope_parameters format, refusals. */
static void test_modernbert(void **state)
{
    (void)state;
    se_model_config c;
    se_error err;
    assert_int_equal(parse("{\"model_type\": \"modernbert\"}", &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_MODERNBERT);
    assert_int_equal(c.n_layers, 22);
    assert_int_equal(c.d_ff, 1152);
    assert_int_equal(c.max_pos, 8192);
    assert_int_equal(c.vocab_size, 50368);
    assert_int_equal(c.type_vocab, 0);
    assert_true(c.ln_eps == 1e-5f);
    assert_true(c.rope_theta == 160000.0 && c.rope_theta_local == 10000.0);
    assert_int_equal(c.global_every, 3);
    assert_int_equal(c.local_window, 128);
    assert_int_equal(parse("{\"model_type\": \"modernbert\", \"num_hidden_layers\": 3, \"norm_eps\": 1e-6,"
                           "\"hidden_activation\": \"gelu_pytorch_tanh\", \"layer_types\": [\"full_attention\","
                           "\"sliding_attention\", \"sliding_attention\"], \"rope_parameters\": {\"full_attention\":"
                           "{\"rope_type\": \"default\", \"rope_theta\": 5e5}, \"sliding_attention\": {\"rope_theta\": 20}}}",
                           &c, &err),
                     SE_OK);
    assert_true(c.rope_theta == 5e5 && c.rope_theta_local == 20.0);
    assert_true(c.ln_eps == 1e-6f);
    assert_int_equal(c.act, SE_ACT_GELU_TANH);
    expect_bad("{\"model_type\": \"modernbert\", \"norm_bias\": true}", SE_EUNSUPPORTED,
               "norm_bias = true is not supported for modernbert");
    expect_bad("{\"model_type\": \"modernbert\", \"rope_parameters\": {\"full_attention\": {\"rope_type\": "
               "\"yarn\"}}}",
               SE_EUNSUPPORTED, "rope_parameters.full_attention.rope_type 'yarn' is not supported");
    expect_bad("{\"model_type\": \"modernbert\", \"num_hidden_layers\": 2, \"layer_types\": [\"full_attention\"]}",
               SE_EFORMAT, "layer_types must be a list of num_hidden_layers = 2 strings");
}

/* JinaBERT-v2: bert + alibi is its own family; the GLU activation comes from
 * feed_forward_type (JinaBertGLUMLP), whatever hidden_act says; the dense
 * "original" FFN beside ALiBi (JinaBertConfig's default) is refused by name. */
static void test_jinabert(void **state)
{
    (void)state;
    se_model_config c;
    se_error err;
    assert_int_equal(parse("{\"model_type\": \"bert\", \"position_embedding_type\": \"alibi\", \"feed_forward_type\": "
                           "\"geglu\", \"hidden_act\": \"relu\", \"max_position_embeddings\": 8192}",
                           &c, &err),
                     SE_OK);
    assert_int_equal(c.arch, SE_ARCH_JINABERT);
    assert_int_equal(c.act, SE_ACT_GELU_ERF);
    assert_int_equal(c.max_pos, 8192);
    assert_int_equal(c.type_vocab, 2);
    assert_int_equal(parse("{\"position_embedding_type\": \"alibi\", \"feed_forward_type\": \"reglu\"}", &c, &err),
                     SE_OK);
    assert_int_equal(c.arch, SE_ARCH_JINABERT);
    assert_int_equal(c.act, SE_ACT_RELU);
    assert_int_equal(parse("{\"model_type\": \"bert\"}", &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_BERT);
    expect_bad("{\"position_embedding_type\": \"alibi\"}", SE_EUNSUPPORTED,
               "feed_forward_type 'original (JinaBertConfig's default, key absent)' is not supported with "
               "position_embedding_type 'alibi' (JinaBERT-v2; supported: geglu, reglu)");
    expect_bad("{\"position_embedding_type\": \"alibi\", \"feed_forward_type\": \"swiglu\"}", SE_EUNSUPPORTED,
               "feed_forward_type 'swiglu' is not supported");
    expect_bad("{\"model_type\": \"roberta\", \"position_embedding_type\": \"alibi\"}", SE_EUNSUPPORTED,
               "position_embedding_type 'alibi' is not supported for roberta (supported: absolute)");
    expect_bad("{\"position_embedding_type\": \"rotary\"}", SE_EUNSUPPORTED,
               "position_embedding_type 'rotary' is not supported for bert (supported: absolute, alibi)");
}

/* NomicBertConfig (GPT2Config keys) and NewConfig, as their modeling code reads them. */
static void test_rope_families(void **state)
{
    (void)state;
    se_model_config c;
    se_error err;
    assert_int_equal(parse("{\"model_type\": \"nomic_bert\", \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12, "
                           "\"n_inner\": 3000, \"n_positions\": 8192, \"vocab_size\": 30522, "
                           "\"pad_vocab_size_multiple\": 64, \"activation_function\": \"swiglu\", "
                           "\"rotary_emb_fraction\": 0.5, \"rotary_emb_base\": 1000, \"rotary_emb_interleaved\": true, "
                           "\"qkv_proj_bias\": false, \"mlp_fc2_bias\": false, \"layer_norm_epsilon\": 1e-12}",
                           &c, &err),
                     SE_OK);
    assert_int_equal(c.arch, SE_ARCH_NOMIC_BERT);
    assert_int_equal(c.d_ff, 3072);         /* n_inner rounded up to a multiple of 256 */
    assert_int_equal(c.vocab_size, 30528);  /* padded to pad_vocab_size_multiple */
    assert_int_equal(c.act, SE_ACT_SILU);
    assert_int_equal(c.rope_dim, 32);
    assert_int_equal(c.rope_interleaved, 1);
    assert_true(c.rope_theta == 1000.0);
    assert_int_equal(c.rope_scaling, SE_ROPE_PLAIN);
    assert_int_equal(c.no_bias, SE_NOBIAS_QKV | SE_NOBIAS_O | SE_NOBIAS_FC2);
    assert_int_equal(c.type_vocab, 2);
    assert_int_equal(c.default_window, 2048); /* max_trained_positions: no NTK */
    assert_int_equal(parse("{\"model_type\": \"nomic_bert\", \"n_embd\": 768, \"n_head\": 12, \"n_inner\": null, "
                           "\"n_positions\": 8192, \"activation_function\": \"geglu\", \"rotary_emb_fraction\": 1.0, "
                           "\"rotary_scaling_factor\": 2}",
                           &c, &err),
                     SE_OK);
    assert_int_equal(c.d_ff, 2048); /* int(8·768/3) = 2048 */
    assert_int_equal(c.act, SE_ACT_GELU_ERF);
    assert_int_equal(c.rope_scaling, SE_ROPE_NTK_DYNAMIC);
    assert_true(c.rope_factor == 2.0);
    assert_int_equal(c.default_window, 8192);
    assert_int_equal(parse("{\"model_type\": \"new\", \"rope_theta\": 500000, \"type_vocab_size\": 0, "
                           "\"max_position_embeddings\": 8192, \"rope_scaling\": {\"type\": \"ntk\", \"factor\": 2.0}}",
                           &c, &err),
                     SE_OK);
    assert_int_equal(c.arch, SE_ARCH_GTE_NEW);
    assert_int_equal(c.rope_scaling, SE_ROPE_NTK_FIXED);
    assert_true(c.rope_theta == 500000.0 && c.rope_factor == 2.0);
    assert_int_equal(c.type_vocab, 0);
    expect_bad("{\"model_type\": \"new\", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}}", SE_EUNSUPPORTED,
               "rope_scaling.type 'dynamic' is not supported for new (supported: ntk)");
    expect_bad("{\"model_type\": \"new\", \"pack_qkv\": false}", SE_EUNSUPPORTED, "pack_qkv = false is not supported");
    expect_bad("{\"model_type\": \"new\", \"position_embedding_type\": \"absolute\"}", SE_EUNSUPPORTED,
               "position_embedding_type 'absolute' is not supported for new (supported: rope)");
    expect_bad("{\"model_type\": \"nomic_bert\", \"activation_function\": \"swiglu\", \"rotary_emb_fraction\": 1, "
               "\"rotary_emb_scale_base\": 512}",
               SE_EUNSUPPORTED, "rotary_emb_scale_base is not supported");
    expect_bad("{\"model_type\": \"nomic_bert\", \"activation_function\": \"swiglu\"}", SE_EUNSUPPORTED,
               "rotary_emb_fraction = 0 gives 0 rotary dims");
}

static void test_vanilla(void **state)
{
    (void)state;
    se_model_config c;
    se_error err;
    assert_int_equal(parse("{\"model_type\": \"vanilla_transformer\", \"hidden_size\": 512, \"num_attention_heads\": 8}",
                           &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_VANILLA);
    assert_string_equal(c.model_type, "vanilla_transformer");
    assert_int_equal(c.d_model, 512);
    assert_int_equal(c.n_heads, 8);
    assert_int_equal(c.act, SE_ACT_RELU);
    assert_int_equal(c.max_pos, 0);
    assert_int_equal(c.type_vocab, 0);
    assert_true(c.ln_eps == 1e-5f);
    assert_int_equal(c.sin_layout, SE_SIN_INTERLEAVED);
    assert_true(c.sin_base == 10000.0);
    assert_int_equal(c.scale_embedding, 1);
    assert_int_equal(parse("{\"model_type\": \"vanilla_transformer\", \"position_embedding_type\": \"sinusoidal\","
                           "\"sinusoidal_layout\": \"concat\", \"sinusoidal_base\": 500.5, \"scale_embedding\": false,"
                           "\"max_position_embeddings\": 1024, \"hidden_act\": \"gelu\", \"type_vocab_size\": 0}",
                           &c, &err), SE_OK);
    assert_int_equal(c.sin_layout, SE_SIN_CONCAT);
    assert_true(c.sin_base == 500.5);
    assert_int_equal(c.scale_embedding, 0);
    assert_int_equal(c.max_pos, 1024);
    assert_int_equal(c.act, SE_ACT_GELU_ERF);
}

/* Each family's own key names and its config class's defaults. */
static void test_families(void **state)
{
    (void)state;
    se_model_config c;
    se_error err;
    const char *dj = "{\"model_type\": \"distilbert\", \"dim\": 64, \"n_layers\": 2, \"n_heads\": 4, "
                     "\"hidden_dim\": 128, \"activation\": \"gelu_new\", \"sinusoidal_pos_embds\": true}";
    assert_int_equal(se_config_parse(dj, strlen(dj), "c", &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_DISTILBERT);
    assert_int_equal(c.d_model, 64);
    assert_int_equal(c.n_layers, 2);
    assert_int_equal(c.n_heads, 4);
    assert_int_equal(c.d_ff, 128);
    assert_int_equal(c.act, SE_ACT_GELU_TANH);
    assert_int_equal(c.type_vocab, 0);
    assert_true(c.ln_eps == 1e-12f);
    const char *rj = "{\"model_type\": \"xlm-roberta\", \"type_vocab_size\": 1, \"max_position_embeddings\": 514}";
    assert_int_equal(se_config_parse(rj, strlen(rj), "c", &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_ROBERTA);
    assert_int_equal(c.pad_token_id, 1); /* RobertaConfig's default */
    assert_int_equal(c.emb_size, 768);
    const char *ej = "{\"model_type\": \"electra\"}";
    assert_int_equal(se_config_parse(ej, strlen(ej), "c", &c, &err), SE_OK);
    assert_int_equal(c.arch, SE_ARCH_ELECTRA);
    assert_int_equal(c.emb_size, 128);
    assert_int_equal(c.d_model, 256);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_bad("{\"model_type\": \"deberta-v2\"}", SE_EUNSUPPORTED,
               "model_type 'deberta-v2' is not supported (supported: bert, roberta, xlm-roberta, camembert, "
               "distilbert, electra, mpnet, modernbert, nomic_bert, new, vanilla_transformer)");
    expect_bad("{\"model_type\": \"roberta\", \"position_embedding_type\": \"relative_key_query\"}",
               SE_EUNSUPPORTED, "position_embedding_type 'relative_key_query' is not supported for roberta "
               "(supported: absolute)");
    expect_bad("{\"model_type\": \"xlm-roberta\", \"is_decoder\": true}", SE_EUNSUPPORTED,
               "is_decoder = true is not supported");
    expect_bad("{\"model_type\": \"mpnet\", \"relative_attention_num_buckets\": 16}", SE_EUNSUPPORTED,
               "relative_attention_num_buckets = 16 is not supported");
    expect_bad("{\"add_cross_attention\": true}", SE_EUNSUPPORTED, "add_cross_attention = true");
    expect_bad("{\"model_type\": \"distilbert\", \"activation\": \"swish\"}", SE_EUNSUPPORTED,
               "activation 'swish' is not supported");
    expect_bad("{\"model_type\": \"distilbert\", \"type_vocab_size\": 2}", SE_EUNSUPPORTED,
               "type_vocab_size = 2, but distilbert has no token type embeddings");
    expect_bad("{\"hidden_act\": \"swish\"}", SE_EUNSUPPORTED,
               "hidden_act 'swish' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)");
    expect_bad("{\"position_embedding_type\": \"relative_key\"}", SE_EUNSUPPORTED,
               "position_embedding_type 'relative_key' is not supported for bert");
    expect_bad("{\"model_type\": \"vanilla_transformer\", \"position_embedding_type\": \"absolute\"}",
               SE_EUNSUPPORTED, "position_embedding_type 'absolute' is not supported for vanilla_transformer");
    expect_bad("{\"model_type\": \"vanilla_transformer\", \"sinusoidal_layout\": \"rotary\"}", SE_EUNSUPPORTED,
               "sinusoidal_layout 'rotary'");
    expect_bad("{\"model_type\": \"vanilla_transformer\", \"norm_first\": true}", SE_EUNSUPPORTED,
               "norm_first = true is not supported");
    expect_bad("{\"model_type\": \"vanilla_transformer\", \"type_vocab_size\": 2}", SE_EUNSUPPORTED,
               "type_vocab_size = 2");
    expect_bad("{\"model_type\": \"vanilla_transformer\", \"hidden_size\": 9, \"num_attention_heads\": 3}",
               SE_EFORMAT, "must be even");
    expect_bad("{\"hidden_size\": 100, \"num_attention_heads\": 12}", SE_EFORMAT,
               "hidden_size = 100 is not divisible by num_attention_heads = 12");
    expect_bad("{\"hidden_size\": 4, \"num_attention_heads\": 8}", SE_EFORMAT, "not divisible");
}

static void test_types_and_bounds(void **state)
{
    (void)state;
    expect_bad("{\"hidden_size\": \"768\"}", SE_EFORMAT, "hidden_size must be an integer, found a string");
    expect_bad("{\"hidden_size\": 768.0}", SE_EFORMAT, "hidden_size must be an integer, found a real number");
    expect_bad("{\"num_hidden_layers\": true}", SE_EFORMAT, "num_hidden_layers must be an integer, found a boolean");
    expect_bad("{\"model_type\": 3}", SE_EFORMAT, "model_type must be a string, found an integer");
    expect_bad("{\"hidden_act\": null}", SE_EFORMAT, "hidden_act must be a string, found null");
    expect_bad("{\"layer_norm_eps\": \"1e-12\"}", SE_EFORMAT, "layer_norm_eps must be a number");
    expect_bad("{\"layer_norm_eps\": 0}", SE_EFORMAT, "layer_norm_eps = 0 is out of range");
    expect_bad("{\"layer_norm_eps\": -1e-5}", SE_EFORMAT, "layer_norm_eps");
    expect_bad("{\"layer_norm_eps\": 1e-300}", SE_EFORMAT, "underflows");
    expect_bad("{\"model_type\": \"vanilla_transformer\", \"scale_embedding\": 1}", SE_EFORMAT,
               "scale_embedding must be true or false");
    expect_bad("{\"model_type\": \"vanilla_transformer\", \"sinusoidal_base\": 0}", SE_EFORMAT, "sinusoidal_base");
    expect_bad("{\"hidden_size\": 0}", SE_EFORMAT, "hidden_size = 0 is out of range [1, 65536]");
    expect_bad("{\"hidden_size\": 131072, \"num_attention_heads\": 1}", SE_EFORMAT, "hidden_size = 131072");
    expect_bad("{\"num_hidden_layers\": 1001}", SE_EFORMAT, "num_hidden_layers = 1001");
    expect_bad("{\"num_hidden_layers\": -1}", SE_EFORMAT, "num_hidden_layers = -1");
    expect_bad("{\"vocab_size\": 100000001}", SE_EFORMAT, "vocab_size = 100000001");
    expect_bad("{\"intermediate_size\": 9223372036854775807}", SE_EFORMAT, "intermediate_size");
    expect_bad("{\"max_position_embeddings\": 0}", SE_EFORMAT, "max_position_embeddings = 0");
    expect_bad("{\"type_vocab_size\": 0}", SE_EFORMAT, "type_vocab_size = 0");
    expect_bad("{\"pad_token_id\": 30522}", SE_EFORMAT, "pad_token_id = 30522 is not below vocab_size = 30522");
    expect_bad("{\"pad_token_id\": -1}", SE_EFORMAT, "pad_token_id = -1");
    expect_bad("[768]", SE_EFORMAT, "top level must be a JSON object, found an array");
    expect_bad("{\"hidden_size\": 768", SE_EFORMAT, "not valid JSON");
    expect_bad("{\"hidden_size\": 768, \"hidden_size\": 1024}", SE_EFORMAT, "duplicate");
}

static void test_save_load(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/se_io_cfg_%ld.json", (long)getpid());
    se_model_config c, d;
    se_error err;
    assert_int_equal(parse("{\"hidden_size\": 384, \"num_attention_heads\": 6, \"hidden_act\": \"gelu_pytorch_tanh\","
                           "\"layer_norm_eps\": 1e-7, \"num_hidden_layers\": 3, \"intermediate_size\": 1000,"
                           "\"vocab_size\": 999, \"type_vocab_size\": 1, \"max_position_embeddings\": 77,"
                           "\"pad_token_id\": 3}", &c, &err), SE_OK);
    assert_int_equal(se_config_save(path, &c, &err), SE_OK);
    assert_int_equal(se_config_load(path, &d, &err), SE_OK);
    assert_memory_equal(&c, &d, sizeof c);
    char *text;
    size_t len;
    assert_int_equal(se_read_file(path, 1 << 16, &text, &len, &err), SE_OK);
    assert_non_null(strstr(text, "\"layer_norm_eps\": 1e-07,"));
    assert_non_null(strstr(text, "\"hidden_act\": \"gelu_new\""));
    free(text);

    assert_int_equal(parse("{\"model_type\": \"vanilla_transformer\", \"sinusoidal_layout\": \"concat\","
                           "\"sinusoidal_base\": 0.1e5, \"scale_embedding\": false, \"hidden_size\": 64,"
                           "\"num_attention_heads\": 4}", &c, &err), SE_OK);
    assert_int_equal(se_config_save(path, &c, &err), SE_OK);
    assert_int_equal(se_config_load(path, &d, &err), SE_OK);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(d.max_pos, 0);

    /* a config we would refuse is not written */
    c.n_heads = 7;
    assert_int_equal(se_config_save(path, &c, &err), SE_EFORMAT);
    assert_non_null(strstr(err.msg, "refusing to save"));
    assert_int_equal(se_config_load(path, &d, &err), SE_OK);
    assert_int_equal(d.n_heads, 4);
    unlink(path);
    assert_int_equal(se_config_load(path, &d, &err), SE_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_string_equal(se_act_name(SE_ACT_GELU_ERF), "gelu");
    assert_string_equal(se_act_name(SE_ACT_RELU), "relu");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_defaults), cmocka_unit_test(test_vanilla), cmocka_unit_test(test_modernbert), cmocka_unit_test(test_jinabert), cmocka_unit_test(test_refusals), cmocka_unit_test(test_families),
        cmocka_unit_test(test_types_and_bounds), cmocka_unit_test(test_save_load), cmocka_unit_test(test_rope_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* libFuzzer: se_config_parse on arbitrary bytes; an accepted config must
 * satisfy the invariants the model code relies on. */
#include <stdlib.h>

#include "shardenc/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    se_log_set_level(SE_LOG_ERROR); /* the "no model_type" warning would flood */
    se_model_config c;
    se_error err;
    if (se_config_parse((const char *)data, size, "fuzz/config.json", &c, &err) == SE_OK) {
        if (c.d_model <= 0 || c.n_heads <= 0 || c.d_model % c.n_heads || c.n_layers <= 0 || c.d_ff <= 0 ||
            c.vocab_size <= 0 || c.max_pos < 0 || c.type_vocab < 0 || !(c.ln_eps > 0) || c.pad_token_id < 0 ||
            c.pad_token_id >= c.vocab_size || c.emb_size <= 0 || c.rel_buckets < 0)
            abort();
    }
    return 0;
}

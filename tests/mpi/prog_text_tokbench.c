/* Tokenizer throughput on one core: loads a JSONL corpus ({"id","text"} lines)
 * into memory, then times se_tok_encode over every text, best of R rounds.
 *   prog_text_tokbench MODEL_DIR|vocab.txt|tokenizer.json corpus.jsonl [rounds] [--no-special]
 * Prints: "shardenc_tok bytes=N docs=D ids=I seconds=S MBps=X". Used by
 * launch/bench_tokenize.sh next to Hugging Face tokenizers on the same input. */
#include "shardenc/text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR|vocab.txt|tokenizer.json corpus.jsonl [rounds] [--no-special]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 3 && argv[3][0] != '-' ? atoi(argv[3]) : 3;
    int special = !(argc > 3 && strcmp(argv[argc - 1], "--no-special") == 0);
    se_tokenizer *t = NULL;
    se_error err;
    struct stat sb;
    size_t la = strlen(argv[1]);
    se_status st;
    if (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode)) st = se_tok_load_dir(argv[1], &t, &err);
    else if (la > 5 && strcmp(argv[1] + la - 5, ".json") == 0) st = se_tok_load_json(argv[1], &t, &err);
    else st = se_tok_load_vocab(argv[1], NULL, &t, &err);
    if (st) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char **texts = NULL;
    size_t *lens = NULL, n = 0, cap = 0, bytes = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    while ((ll = getline(&line, &lcap, f)) > 0) {
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)ll, JSON_ALLOW_NUL, &je);
        json_t *tx = j ? json_object_get(j, "text") : NULL;
        if (!json_is_string(tx)) {
            json_decref(j);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            texts = realloc(texts, cap * sizeof *texts);
            lens = realloc(lens, cap * sizeof *lens);
        }
        lens[n] = json_string_length(tx);
        texts[n] = malloc(lens[n] + 1);
        memcpy(texts[n], json_string_value(tx), lens[n]);
        bytes += lens[n];
        n++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    se_ids ids = {0};
    double best = 1e30;
    size_t n_ids = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = se_time_now();
        n_ids = 0;
        for (size_t i = 0; i < n; i++) {
            if (se_tok_encode(t, texts[i], lens[i], special, &ids, NULL, &err)) {
                fprintf(stderr, "error: %s\n", err.msg);
                return 1;
            }
            n_ids += ids.n;
        }
        double dt = se_time_now() - t0;
        if (dt < best) best = dt;
    }
    printf("shardenc_tok bytes=%zu docs=%zu ids=%zu seconds=%.3f MBps=%.2f\n", bytes, n, n_ids, best,
           bytes / best / 1e6);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    se_ids_free(&ids);
    se_tok_free(t);
    return 0;
}

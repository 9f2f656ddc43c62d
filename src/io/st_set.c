/* A model folder's weights: one model.safetensors, or the shards of
 * model.safetensors.index.json (transformers' modeling_utils shard format:
 * {"metadata": {...}, "weight_map": {tensor name: shard file name}}). */
#include "shardenc/io.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_internal.h"

#define INDEX_MAX_BYTES (64u << 20)

struct se_st_set {
    char path[4096];    /* model.safetensors or the index */
    se_st_file **files; /* one per distinct shard */
    char **names;       /* their file names (index only) */
    int n;
    json_t *map;        /* weight_map, or NULL for a single file */
};

void se_st_set_close(se_st_set *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++) {
        se_st_close(s->files[i]);
        free(s->names ? s->names[i] : NULL);
    }
    free(s->files);
    free(s->names);
    json_decref(s->map);
    free(s);
}

const char *se_st_set_path(const se_st_set *s) { return s->path; }
int se_st_set_n_files(const se_st_set *s) { return s->n; }
const se_st_file *se_st_set_file(const se_st_set *s, int i) { return i >= 0 && i < s->n ? s->files[i] : NULL; }

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Index of shard `fname`, opening it on first sight. */
static se_status shard_of(se_st_set *s, const char *dir, const char *fname, se_error *err)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], fname)) return SE_OK;
    if (!*fname || strchr(fname, '/') || !strcmp(fname, "..") || !strcmp(fname, "."))
        return se_error_set(err, SE_EFORMAT, "%s: weight_map names shard '%.200s', which is not a file name in %s",
                            s->path, fname, dir);
    char p[4096];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, fname) >= sizeof p)
        return se_error_set(err, SE_EINVAL, "%s: shard path too long", s->path);
    se_st_file **f = realloc(s->files, (size_t)(s->n + 1) * sizeof *f);
    if (f) s->files = f;
    char **nm = realloc(s->names, (size_t)(s->n + 1) * sizeof *nm);
    if (nm) s->names = nm;
    char *copy = strdup(fname);
    if (!f || !nm || !copy) {
        free(copy);
        return se_error_set(err, SE_ENOMEM, "cannot allocate the shard list");
    }
    se_status st = se_st_open(p, &s->files[s->n], err);
    if (st) {
        free(copy);
        return se_error_prefix(err, "%s names this shard: ", s->path);
    }
    s->names[s->n++] = copy;
    return SE_OK;
}

static se_status open_index(se_st_set *s, const char *dir, se_error *err)
{
    char *buf;
    size_t len;
    se_status st = se_read_file(s->path, INDEX_MAX_BYTES, &buf, &len, err);
    if (st) return st;
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!root)
        return se_error_set(err, SE_EFORMAT, "%s: not valid JSON: %s (line %d, column %d)", s->path, je.text, je.line,
                            je.column);
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0) {
        json_decref(root);
        return se_error_set(err, SE_EFORMAT, "%s: no \"weight_map\" object of tensor name -> shard file", s->path);
    }
    s->map = json_incref(map);
    json_decref(root);
    const char *key;
    json_t *v;
    json_object_foreach(s->map, key, v)
    {
        if (!json_is_string(v))
            return se_error_set(err, SE_EFORMAT, "%s: weight_map[\"%.200s\"] must be a file name, found %s", s->path,
                                key, se_io_json_type_name(v));
        if ((st = shard_of(s, dir, json_string_value(v), err))) return st;
    }
    return SE_OK;
}

se_status se_st_set_open(const char *dir, se_st_set **out, se_error *err)
{
    *out = NULL;
    se_st_set *s = calloc(1, sizeof *s);
    if (!s) return se_error_set(err, SE_ENOMEM, "cannot allocate the weight set");
    se_status st;
    snprintf(s->path, sizeof s->path, "%s/model.safetensors", dir);
    if (exists(s->path)) {
        s->files = calloc(1, sizeof *s->files);
        if (!s->files) st = se_error_set(err, SE_ENOMEM, "cannot allocate the weight set");
        else if (!(st = se_st_open(s->path, &s->files[0], err)))
            s->n = 1;
    } else {
        snprintf(s->path, sizeof s->path, "%s/model.safetensors.index.json", dir);
        if (exists(s->path)) {
            st = open_index(s, dir, err);
        } else {
            char alt[4096];
            snprintf(alt, sizeof alt, "%s/pytorch_model.bin", dir);
            if (exists(alt))
                st = se_error_set(err, SE_EUNSUPPORTED,
                                  "%s: no model.safetensors, only pytorch_model.bin (a pickle, which shardenc does "
                                  "not execute); convert it once with Hugging Face: "
                                  "AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)",
                                  dir);
            else
                st = se_error_set(err, SE_EIO, "%s: cannot open model weights (neither model.safetensors nor "
                                  "model.safetensors.index.json)", dir);
        }
    }
    if (st) {
        se_st_set_close(s);
        return st;
    }
    *out = s;
    return SE_OK;
}

const se_st_tensor *se_st_set_find(const se_st_set *s, const char *name, const se_st_file **file)
{
    *file = NULL;
    if (!s->map) {
        const se_st_tensor *t = se_st_find(s->files[0], name);
        if (t) *file = s->files[0];
        return t;
    }
    json_t *v = json_object_get(s->map, name);
    if (!v) return NULL;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], json_string_value(v))) {
            const se_st_tensor *t = se_st_find(s->files[i], name);
            if (t) *file = s->files[i];
            return t; /* listed but absent from its shard: reported as missing, naming the index */
        }
    return NULL;
}

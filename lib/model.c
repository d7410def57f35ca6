/*
 * model.c - the Llama-family decoder: configuration, the parameter table,
 * and each layer's forward pass beside its backward pass.
 *
 * Matrix products go through CBLAS; everything else is a loop over rows
 * parallelised with OpenMP. Every reduction runs in an order fixed by the
 * thread count (a row, or a column, belongs to one thread), so the same
 * inputs and thread count give bit-identical results.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model.h"
#include "safetensors.h"
#include "util.h"

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

void sr_model_config_defaults(struct sr_model_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->architecture, sizeof cfg->architecture, "LlamaForCausalLM");
	cfg->vocab_size = 32000;
	cfg->hidden_size = 4096;
	cfg->intermediate_size = 11008;
	cfg->num_hidden_layers = 32;
	cfg->num_attention_heads = 32;
	cfg->num_key_value_heads = 0;    /* = num_attention_heads */
	cfg->head_dim = 0;               /* = hidden_size / num_attention_heads */
	cfg->max_position_embeddings = 2048;
	cfg->rope_theta = 10000.0;
	cfg->rms_norm_eps = 1e-6;
	cfg->initializer_range = 0.02;
	cfg->bos_token_id = 1;
	cfg->eos_token_id = 2;
}

static int get_int(const json_t *obj, const char *key, int *dst, struct sr_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_array(v) && json_array_size(v) > 0) /* e.g. a list of eos ids */
		v = json_array_get(v, 0);
	if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > INT32_MAX)
		return sr_fail(err, SR_EDATA, "config field '%s' must be an integer", key);
	*dst = (int)json_integer_value(v);
	return 0;
}

static int get_real(const json_t *obj, const char *key, double *dst, struct sr_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return sr_fail(err, SR_EDATA, "config field '%s' must be a number", key);
	*dst = json_number_value(v);
	return 0;
}

static int get_bool(const json_t *obj, const char *key, int *dst, struct sr_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return sr_fail(err, SR_EDATA, "config field '%s' must be true or false", key);
	*dst = json_is_true(v);
	return 0;
}

/* Read rope_scaling: {"rope_type" (or "type"): "default" | "linear" |
 * "llama3", "factor", and for llama3 "low_freq_factor",
 * "high_freq_factor", "original_max_position_embeddings"}. */
static int parse_rope_scaling(struct sr_model_config *cfg, const json_t *s, struct sr_error *err)
{
	json_t *t = json_object_get(s, "rope_type");
	const char *type = json_string_value(t ? t : json_object_get(s, "type"));
	int rc = 0;

	if (!json_is_object(s) || !type)
		return sr_fail(err, SR_EDATA, "config field 'rope_scaling' must be an object with a rope_type");
	if (!strcmp(type, "default")) {
		cfg->rope_type = SR_ROPE_DEFAULT;
		return 0;
	}
	if (strcmp(type, "linear") && strcmp(type, "llama3"))
		return sr_fail(err, SR_EDATA,
		               "rope_scaling type '%s' is not supported (expected default, linear or llama3)",
		               type);
	cfg->rope_type = strcmp(type, "linear") ? SR_ROPE_LLAMA3 : SR_ROPE_LINEAR;
	rc = get_real(s, "factor", &cfg->rope_factor, err);
	if (!rc && cfg->rope_type == SR_ROPE_LLAMA3) {
		rc = get_real(s, "low_freq_factor", &cfg->rope_low_freq_factor, err);
		rc = rc ? rc : get_real(s, "high_freq_factor", &cfg->rope_high_freq_factor, err);
		rc = rc ? rc : get_int(s, "original_max_position_embeddings",
		                       &cfg->rope_original_max_position, err);
		if (!rc && !(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor &&
		             cfg->rope_low_freq_factor > 0 && cfg->rope_original_max_position > 0))
			rc = sr_fail(err, SR_EDATA, "rope_scaling needs high_freq_factor > low_freq_factor > 0 "
			             "and original_max_position_embeddings");
	}
	if (!rc && !(cfg->rope_factor > 0))
		rc = sr_fail(err, SR_EDATA, "rope_scaling factor must be positive");
	return rc;
}

int sr_model_config_from_json(struct sr_model_config *cfg, const json_t *obj,
                              struct sr_error *err)
{
	json_t *arch = json_object_get(obj, "architectures");
	const char *act = json_string_value(json_object_get(obj, "hidden_act"));
	json_t *scaling = json_object_get(obj, "rope_scaling");
	int rc = 0, sliding = 0;

	if (!json_is_object(obj))
		return sr_fail(err, SR_EDATA, "model config is not a JSON object");
	if (json_is_array(arch) && json_array_size(arch) > 0) {
		const char *name = json_string_value(json_array_get(arch, 0));
		if (!name || (strcmp(name, "LlamaForCausalLM") && strcmp(name, "Qwen2ForCausalLM")))
			return sr_fail(err, SR_EDATA,
			               "unsupported architecture '%s' (expected LlamaForCausalLM or "
			               "Qwen2ForCausalLM)", name ? name : "?");
		snprintf(cfg->architecture, sizeof cfg->architecture, "%s", name);
	}
	if (act && strcmp(act, "silu"))
		return sr_fail(err, SR_EDATA, "unsupported hidden_act '%s' (expected silu)", act);
	if (scaling && !json_is_null(scaling)) {
		rc = parse_rope_scaling(cfg, scaling, err);
		if (rc)
			return rc;
	}

	int heads_given = json_object_get(obj, "num_attention_heads") != NULL;
	cfg->head_dim = 0;
	if (heads_given && !json_object_get(obj, "num_key_value_heads"))
		cfg->num_key_value_heads = 0;
	rc = rc ? rc : get_int(obj, "vocab_size", &cfg->vocab_size, err);
	rc = rc ? rc : get_int(obj, "hidden_size", &cfg->hidden_size, err);
	rc = rc ? rc : get_int(obj, "intermediate_size", &cfg->intermediate_size, err);
	rc = rc ? rc : get_int(obj, "num_hidden_layers", &cfg->num_hidden_layers, err);
	rc = rc ? rc : get_int(obj, "num_attention_heads", &cfg->num_attention_heads, err);
	rc = rc ? rc : get_int(obj, "num_key_value_heads", &cfg->num_key_value_heads, err);
	rc = rc ? rc : get_int(obj, "head_dim", &cfg->head_dim, err);
	rc = rc ? rc : get_int(obj, "max_position_embeddings", &cfg->max_position_embeddings, err);
	rc = rc ? rc : get_int(obj, "bos_token_id", &cfg->bos_token_id, err);
	rc = rc ? rc : get_int(obj, "eos_token_id", &cfg->eos_token_id, err);
	rc = rc ? rc : get_real(obj, "rope_theta", &cfg->rope_theta, err);
	rc = rc ? rc : get_real(obj, "rms_norm_eps", &cfg->rms_norm_eps, err);
	rc = rc ? rc : get_real(obj, "initializer_range", &cfg->initializer_range, err);
	rc = rc ? rc : get_bool(obj, "attention_bias", &cfg->attention_bias, err);
	rc = rc ? rc : get_bool(obj, "tie_word_embeddings", &cfg->tie_word_embeddings, err);
	rc = rc ? rc : get_bool(obj, "use_sliding_window", &sliding, err);
	if (rc)
		return rc;
	if (sliding)
		return sr_fail(err, SR_EDATA, "config field 'use_sliding_window' is not supported");
	if (!strcmp(cfg->architecture, "Qwen2ForCausalLM"))
		cfg->attention_bias = 1; /* Qwen2 always has q/k/v biases */
	if (!cfg->num_key_value_heads)
		cfg->num_key_value_heads = cfg->num_attention_heads;
	if (!cfg->head_dim && cfg->num_attention_heads > 0)
		cfg->head_dim = cfg->hidden_size / cfg->num_attention_heads;
	return sr_model_config_check(cfg, err);
}

int sr_model_config_check(const struct sr_model_config *c, struct sr_error *err)
{
	if (c->vocab_size <= 0 || c->hidden_size <= 0 || c->intermediate_size <= 0 ||
	    c->num_hidden_layers <= 0 || c->num_attention_heads <= 0 ||
	    c->num_key_value_heads <= 0 || c->head_dim <= 0 || c->max_position_embeddings <= 0)
		return sr_fail(err, SR_EDATA, "model config sizes must be positive");
	if (c->num_attention_heads % c->num_key_value_heads)
		return sr_fail(err, SR_EDATA,
		               "num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
		               c->num_attention_heads, c->num_key_value_heads);
	if (c->head_dim % 2)
		return sr_fail(err, SR_EDATA, "head_dim (%d) must be even for rotary embeddings",
		               c->head_dim);
	if (!(c->rope_theta > 0) || !(c->rms_norm_eps > 0) || !(c->initializer_range >= 0))
		return sr_fail(err, SR_EDATA,
		               "rope_theta and rms_norm_eps must be positive, initializer_range not negative");
	if ((double)c->vocab_size * c->hidden_size > 1e11 ||
	    (double)c->hidden_size * c->intermediate_size * c->num_hidden_layers > 1e12)
		return sr_fail(err, SR_EDATA, "model config is too large");
	return 0;
}

int sr_model_config_load(struct sr_model_config *cfg, const char *path, struct sr_error *err)
{
	json_error_t jerr;
	json_t *obj = json_load_file(path, 0, &jerr);
	int rc;

	if (!obj) {
		FILE *fp = fopen(path, "r");
		if (!fp)
			return sr_fail(err, errno == ENOENT ? SR_ENOTFOUND : SR_EIO,
			               "cannot open '%s': %s", path, strerror(errno));
		fclose(fp);
		return sr_fail(err, SR_EDATA, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	}
	rc = sr_model_config_from_json(cfg, obj, err);
	json_decref(obj);
	if (rc && err && !err->file[0])
		snprintf(err->file, sizeof err->file, "%s", path);
	return rc;
}

json_t *sr_model_config_to_json(const struct sr_model_config *c)
{
	int qwen = !strcmp(c->architecture, "Qwen2ForCausalLM");
	json_t *o = json_pack("{s:[s], s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:b}",
	                      "architectures", c->architecture,
	                      "model_type", qwen ? "qwen2" : "llama",
	                      "hidden_act", "silu",
	                      "vocab_size", c->vocab_size,
	                      "hidden_size", c->hidden_size,
	                      "intermediate_size", c->intermediate_size,
	                      "num_hidden_layers", c->num_hidden_layers,
	                      "num_attention_heads", c->num_attention_heads,
	                      "num_key_value_heads", c->num_key_value_heads,
	                      "head_dim", c->head_dim,
	                      "max_position_embeddings", c->max_position_embeddings,
	                      "rope_theta", c->rope_theta,
	                      "rms_norm_eps", c->rms_norm_eps,
	                      "initializer_range", c->initializer_range,
	                      "tie_word_embeddings", c->tie_word_embeddings);
	if (!o)
		return NULL;
	if (!qwen)
		json_object_set_new(o, "attention_bias", json_boolean(c->attention_bias));
	json_object_set_new(o, "bos_token_id",
	                    c->bos_token_id >= 0 ? json_integer(c->bos_token_id) : json_null());
	json_object_set_new(o, "eos_token_id",
	                    c->eos_token_id >= 0 ? json_integer(c->eos_token_id) : json_null());
	if (c->rope_type == SR_ROPE_LINEAR)
		json_object_set_new(o, "rope_scaling",
		                    json_pack("{s:s, s:f}", "rope_type", "linear", "factor", c->rope_factor));
	else if (c->rope_type == SR_ROPE_LLAMA3)
		json_object_set_new(o, "rope_scaling",
		                    json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3",
		                              "factor", c->rope_factor,
		                              "low_freq_factor", c->rope_low_freq_factor,
		                              "high_freq_factor", c->rope_high_freq_factor,
		                              "original_max_position_embeddings",
		                              c->rope_original_max_position));
	else
		json_object_set_new(o, "rope_scaling", json_null());
	json_object_set_new(o, "torch_dtype", json_string("float32"));
	return o;
}

/* ---------------------------------------------------------------------- */
/* Parameter table                                                         */

/* Per-layer tensor slots, in file order. */
enum {
	P_LN1, P_WQ, P_BQ, P_WK, P_BK, P_WV, P_BV, P_WO, P_LN2, P_WGATE, P_WUP, P_WDOWN,
	P_NSLOT
};

/* Pointers to one layer's tensors within a buffer laid out like params
 * (parameters, gradients or optimizer moments). Bias pointers are NULL
 * without attention_bias. */
struct layer_view {
	float *ln1;    /* (C) */
	float *wq;     /* (H*D, C) */
	float *bq;     /* (H*D) */
	float *wk;     /* (KV*D, C) */
	float *bk;     /* (KV*D) */
	float *wv;     /* (KV*D, C) */
	float *bv;     /* (KV*D) */
	float *wo;     /* (C, H*D) */
	float *ln2;    /* (C) */
	float *wgate;  /* (F, C) */
	float *wup;    /* (F, C) */
	float *wdown;  /* (C, F) */
};

/* Fill table (if not NULL) with every tensor and return the count. The
 * layout is embed_tokens, then each layer's slots, then norm and lm_head. */
static int build_table(const struct sr_model_config *c, struct sr_tensor_info *table)
{
	int64_t C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
	int64_t Q = (int64_t)c->num_attention_heads * c->head_dim;
	int64_t K = (int64_t)c->num_key_value_heads * c->head_dim;
	size_t off = 0;
	int n = 0;

#define ADD(nd, d0, d1, ...) do { \
		if (table) { \
			struct sr_tensor_info *t = &table[n]; \
			snprintf(t->name, sizeof t->name, __VA_ARGS__); \
			t->ndim = (nd); t->shape[0] = (d0); t->shape[1] = (d1); \
			t->numel = (size_t)(d0) * (size_t)((nd) == 2 ? (d1) : 1); \
			t->offset = off; \
		} \
		off += (size_t)(d0) * (size_t)((nd) == 2 ? (d1) : 1); \
		n++; \
	} while (0)

	ADD(2, V, C, "model.embed_tokens.weight");
	for (int l = 0; l < c->num_hidden_layers; l++) {
		ADD(1, C, 0, "model.layers.%d.input_layernorm.weight", l);
		ADD(2, Q, C, "model.layers.%d.self_attn.q_proj.weight", l);
		if (c->attention_bias)
			ADD(1, Q, 0, "model.layers.%d.self_attn.q_proj.bias", l);
		ADD(2, K, C, "model.layers.%d.self_attn.k_proj.weight", l);
		if (c->attention_bias)
			ADD(1, K, 0, "model.layers.%d.self_attn.k_proj.bias", l);
		ADD(2, K, C, "model.layers.%d.self_attn.v_proj.weight", l);
		if (c->attention_bias)
			ADD(1, K, 0, "model.layers.%d.self_attn.v_proj.bias", l);
		ADD(2, C, Q, "model.layers.%d.self_attn.o_proj.weight", l);
		ADD(1, C, 0, "model.layers.%d.post_attention_layernorm.weight", l);
		ADD(2, F, C, "model.layers.%d.mlp.gate_proj.weight", l);
		ADD(2, F, C, "model.layers.%d.mlp.up_proj.weight", l);
		ADD(2, C, F, "model.layers.%d.mlp.down_proj.weight", l);
	}
	ADD(1, C, 0, "model.norm.weight");
	if (!c->tie_word_embeddings)
		ADD(2, V, C, "lm_head.weight");
#undef ADD
	return n;
}

size_t sr_model_param_count(const struct sr_model_config *c)
{
	int n = build_table(c, NULL);
	struct sr_tensor_info *t = malloc((size_t)n * sizeof *t);
	size_t total;

	if (!t)
		return 0;
	build_table(c, t);
	total = t[n - 1].offset + t[n - 1].numel;
	free(t);
	return total;
}

/* Tensors per layer: 9 without biases, 12 with. */
static int layer_slots(const struct sr_model_config *c)
{
	return c->attention_bias ? 12 : 9;
}

static void view_layer(const struct sr_model *m, float *base, int l, struct layer_view *v)
{
	const struct sr_tensor_info *t = &m->tensors[1 + l * layer_slots(&m->cfg)];
	int i = 0;

	memset(v, 0, sizeof *v);
	v->ln1 = base + t[i++].offset;
	v->wq = base + t[i++].offset;
	if (m->cfg.attention_bias)
		v->bq = base + t[i++].offset;
	v->wk = base + t[i++].offset;
	if (m->cfg.attention_bias)
		v->bk = base + t[i++].offset;
	v->wv = base + t[i++].offset;
	if (m->cfg.attention_bias)
		v->bv = base + t[i++].offset;
	v->wo = base + t[i++].offset;
	v->ln2 = base + t[i++].offset;
	v->wgate = base + t[i++].offset;
	v->wup = base + t[i++].offset;
	v->wdown = base + t[i++].offset;
}

/* model.embed_tokens.weight (V,C) */
static float *embed_of(const struct sr_model *m, float *base)
{
	return base + m->tensors[0].offset;
}

/* model.norm.weight (C) */
static float *final_norm_of(const struct sr_model *m, float *base)
{
	return base + m->tensors[1 + m->cfg.num_hidden_layers * layer_slots(&m->cfg)].offset;
}

/* lm_head.weight (V,C), or the embedding when tied */
static float *lm_head_of(const struct sr_model *m, float *base)
{
	if (m->cfg.tie_word_embeddings)
		return embed_of(m, base);
	return base + m->tensors[m->n_tensors - 1].offset;
}

const struct sr_tensor_info *sr_model_tensor(const struct sr_model *m, const char *name)
{
	for (int i = 0; i < m->n_tensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return &m->tensors[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */

/* Inverse frequency i of D/2, theta^(-2i/D), with rope_scaling applied:
 * linear divides every frequency by factor; llama3 keeps wavelengths
 * shorter than original_max / high_freq_factor, divides those longer than
 * original_max / low_freq_factor by factor, and blends in between (as
 * transformers' _compute_llama3_parameters does). */
static float rope_inv_freq(const struct sr_model_config *c, int i)
{
	float inv = 1.0f / (float)pow(c->rope_theta, (double)(2 * i) / c->head_dim);

	if (c->rope_type == SR_ROPE_LINEAR)
		return inv / (float)c->rope_factor;
	if (c->rope_type != SR_ROPE_LLAMA3)
		return inv;
	double old_len = c->rope_original_max_position;
	double wavelen = 2.0 * M_PI / inv;
	double high_wavelen = old_len / c->rope_high_freq_factor;
	double low_wavelen = old_len / c->rope_low_freq_factor;
	if (wavelen < high_wavelen)
		return inv;
	if (wavelen > low_wavelen)
		return inv / (float)c->rope_factor;
	double smooth = (old_len / wavelen - c->rope_low_freq_factor) /
	                (c->rope_high_freq_factor - c->rope_low_freq_factor);
	return (float)((1.0 - smooth) * inv / c->rope_factor + smooth * inv);
}

/* Rotary tables as transformers computes them in float32: angle =
 * position * inverse frequency. */
static void build_rope(struct sr_model *m)
{
	int half = m->cfg.head_dim / 2;
	for (int p = 0; p < m->cfg.max_position_embeddings; p++) {
		for (int i = 0; i < half; i++) {
			float inv = rope_inv_freq(&m->cfg, i);
			float angle = (float)p * inv;
			m->rope_cos[(size_t)p * half + i] = cosf(angle);
			m->rope_sin[(size_t)p * half + i] = sinf(angle);
		}
	}
}

int sr_model_new(const struct sr_model_config *cfg, struct sr_model **out, struct sr_error *err)
{
	struct sr_model *m;
	int rc = sr_model_config_check(cfg, err);
	size_t rope_n;

	*out = NULL;
	if (rc)
		return rc;
	/* Matrix products are split among OpenMP threads (see gemm), so
	 * OpenBLAS must not start threads of its own. */
	openblas_set_num_threads(1);
	m = calloc(1, sizeof *m);
	if (!m)
		return sr_fail(err, SR_ENOMEM, "out of memory allocating the model");
	m->cfg = *cfg;
	m->n_tensors = build_table(cfg, NULL);
	m->tensors = calloc((size_t)m->n_tensors, sizeof *m->tensors);
	if (!m->tensors)
		goto nomem;
	build_table(cfg, m->tensors);
	m->n_params = m->tensors[m->n_tensors - 1].offset + m->tensors[m->n_tensors - 1].numel;
	m->params = calloc(m->n_params, sizeof *m->params);
	rope_n = (size_t)cfg->max_position_embeddings * (size_t)(cfg->head_dim / 2);
	m->rope_cos = malloc(rope_n * sizeof(float));
	m->rope_sin = malloc(rope_n * sizeof(float));
	if (!m->params || !m->rope_cos || !m->rope_sin)
		goto nomem;
	build_rope(m);
	*out = m;
	return 0;
nomem:
	sr_model_free(m);
	return sr_fail(err, SR_ENOMEM, "out of memory allocating %zu parameters",
	               sr_model_param_count(cfg));
}

static void acts_free(struct sr_model_acts *a);

void sr_model_free(struct sr_model *m)
{
	if (!m)
		return;
	acts_free(m->acts);
	free(m->tensors);
	free(m->params);
	free(m->grads);
	free(m->rope_cos);
	free(m->rope_sin);
	free(m);
}

void sr_model_init_random(struct sr_model *m, uint64_t seed)
{
	struct sr_rng rng;
	sr_rng_seed(&rng, seed);
	for (int i = 0; i < m->n_tensors; i++) {
		const struct sr_tensor_info *t = &m->tensors[i];
		float *p = m->params + t->offset;
		if (t->ndim == 2) {
			for (size_t j = 0; j < t->numel; j++)
				p[j] = (float)(sr_rng_normal(&rng) * m->cfg.initializer_range);
		} else {
			float value = strstr(t->name, "norm") ? 1.0f : 0.0f;
			for (size_t j = 0; j < t->numel; j++)
				p[j] = value;
		}
	}
}

int sr_model_alloc_grads(struct sr_model *m, struct sr_error *err)
{
	if (m->grads)
		return 0;
	m->grads = calloc(m->n_params, sizeof *m->grads);
	if (!m->grads)
		return sr_fail(err, SR_ENOMEM, "out of memory allocating gradients (%zu bytes)",
		               m->n_params * sizeof(float));
	return 0;
}

void sr_model_zero_grads(struct sr_model *m)
{
	if (m->grads)
		memset(m->grads, 0, m->n_params * sizeof *m->grads);
}

int sr_model_load(const char *dir, struct sr_model **out, struct sr_error *err)
{
	struct sr_model_config cfg;
	struct sr_st_reader *st = NULL;
	struct sr_model *m = NULL;
	char path[4096];
	int rc;

	*out = NULL;
	sr_model_config_defaults(&cfg);
	snprintf(path, sizeof path, "%s/config.json", dir);
	rc = sr_model_config_load(&cfg, path, err);
	if (rc)
		return rc;
	rc = sr_model_new(&cfg, &m, err);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	rc = sr_st_open(path, &st, err);
	for (int i = 0; !rc && i < m->n_tensors; i++) {
		const struct sr_tensor_info *t = &m->tensors[i];
		const struct sr_st_tensor *f = sr_st_find(st, t->name);
		if (!f) {
			rc = sr_fail(err, SR_EDATA, "%s: tensor '%s' not found", path, t->name);
			break;
		}
		if (f->ndim != t->ndim || f->shape[0] != t->shape[0] ||
		    (t->ndim == 2 && f->shape[1] != t->shape[1])) {
			rc = sr_fail(err, SR_EDATA,
			             "%s: tensor '%s' has a shape that does not match config.json",
			             path, t->name);
			break;
		}
		rc = sr_st_read_f32(st, t->name, m->params + t->offset, t->numel, err);
	}
	sr_st_close(st);
	if (rc) {
		sr_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int sr_model_save(const struct sr_model *m, const char *dir, int bf16, struct sr_error *err)
{
	struct sr_st_entry *e = calloc((size_t)m->n_tensors, sizeof *e);
	json_t *cfg = sr_model_config_to_json(&m->cfg);
	json_t *meta = json_pack("{s:s}", "format", "pt");
	char path[4096];
	int rc = 0;

	if (!e || !cfg || !meta) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory saving the model");
		goto done;
	}
	for (int i = 0; i < m->n_tensors; i++) {
		e[i].name = m->tensors[i].name;
		e[i].ndim = m->tensors[i].ndim;
		e[i].shape[0] = m->tensors[i].shape[0];
		e[i].shape[1] = m->tensors[i].shape[1];
		e[i].data = m->params + m->tensors[i].offset;
	}
	json_object_set_new(cfg, "torch_dtype", json_string(bf16 ? "bfloat16" : "float32"));
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	rc = sr_st_write(path, e, (size_t)m->n_tensors, bf16 ? SR_ST_BF16 : SR_ST_F32, meta, err);
	if (!rc) {
		char tmp[4200];
		snprintf(path, sizeof path, "%s/config.json", dir);
		snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
		if (json_dump_file(cfg, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) != 0 ||
		    rename(tmp, path) != 0) {
			rc = sr_fail(err, SR_EIO, "cannot write '%s': %s", path, strerror(errno));
			remove(tmp);
		}
	}
done:
	json_decref(meta);
	json_decref(cfg);
	free(e);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Activations                                                             */

/* One layer's saved forward activations. */
struct layer_acts {
	float *x;      /* (N,C) layer input, the residual stream */
	float *ln1;    /* (N,C) input_layernorm output */
	float *rstd1;  /* (N) its reciprocal RMS */
	float *q;      /* (N,H*D) queries after rotary embedding */
	float *k;      /* (N,KV*D) keys after rotary embedding */
	float *v;      /* (N,KV*D) values */
	float *probs;  /* (B,H,T,T) attention weights, 0 outside each row's window */
	float *atty;   /* (N,H*D) attention output before o_proj */
	float *x2;     /* (N,C) residual after attention */
	float *ln2;    /* (N,C) post_attention_layernorm output */
	float *rstd2;  /* (N) its reciprocal RMS */
	float *gate;   /* (N,F) gate_proj output */
	float *up;     /* (N,F) up_proj output */
	float *h;      /* (N,F) silu(gate) * up, the down_proj input */
};

struct sr_model_acts {
	float *mem;               /* the one allocation the pointers below carve */
	struct layer_acts *layer; /* (L) */
	float *xf;     /* (N,C) output of the last layer */
	float *lnf;    /* (N,C) model.norm output */
	float *rstdf;  /* (N) */
	float *logits; /* (N,V); the backward pass turns it into dlogits */
	float *lse;    /* (N) log-sum-exp of each logits row */
	/* backward scratch */
	float *dres;   /* (N,C) gradient of the residual stream */
	float *dln;    /* (N,C) gradient of a norm output */
	float *dq;     /* (N,H*D) */
	float *dk;     /* (N,KV*D) */
	float *dv;     /* (N,KV*D) */
	float *datty;  /* (N,H*D) */
	float *dgate;  /* (N,F) */
	float *dup;    /* (N,F) */
	float *dh;     /* (N,F) */
	float *dscore; /* (threads,T,T) attention score gradients */
	double *row_loss; /* (N) cross-entropy per position, 0 where no target */
	int threads;
};

/* Loops over fewer elements than this run on one thread: forking and
 * joining the team would cost more than the work. */
#define PARALLEL_MIN 65536

static int max_threads(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
}

static int team_size(void)
{
#ifdef _OPENMP
	return omp_get_num_threads();
#else
	return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/* Lay out the activations for a B x T batch in base (or only count when
 * base is NULL) and return the number of floats. */
static size_t acts_layout(const struct sr_model_config *c, int B, int T, int threads,
                          struct sr_model_acts *a, float *base)
{
	size_t N = (size_t)B * T, C = c->hidden_size, F = c->intermediate_size;
	size_t Q = (size_t)c->num_attention_heads * c->head_dim;
	size_t K = (size_t)c->num_key_value_heads * c->head_dim;
	size_t P = (size_t)B * c->num_attention_heads * T * T;
	size_t off = 0;

#define CARVE(ptr, count) do { if (base) (ptr) = base + off; off += (count); } while (0)
	for (int l = 0; l < c->num_hidden_layers; l++) {
		struct layer_acts dummy, *la = base ? &a->layer[l] : &dummy;
		CARVE(la->x, N * C);
		CARVE(la->ln1, N * C);
		CARVE(la->rstd1, N);
		CARVE(la->q, N * Q);
		CARVE(la->k, N * K);
		CARVE(la->v, N * K);
		CARVE(la->probs, P);
		CARVE(la->atty, N * Q);
		CARVE(la->x2, N * C);
		CARVE(la->ln2, N * C);
		CARVE(la->rstd2, N);
		CARVE(la->gate, N * F);
		CARVE(la->up, N * F);
		CARVE(la->h, N * F);
	}
	struct sr_model_acts dummy, *aa = base ? a : &dummy;
	CARVE(aa->xf, N * C);
	CARVE(aa->lnf, N * C);
	CARVE(aa->rstdf, N);
	CARVE(aa->logits, N * (size_t)c->vocab_size);
	CARVE(aa->lse, N);
	CARVE(aa->dres, N * C);
	CARVE(aa->dln, N * C);
	CARVE(aa->dq, N * Q);
	CARVE(aa->dk, N * K);
	CARVE(aa->dv, N * K);
	CARVE(aa->datty, N * Q);
	CARVE(aa->dgate, N * F);
	CARVE(aa->dup, N * F);
	CARVE(aa->dh, N * F);
	CARVE(aa->dscore, (size_t)threads * T * T);
#undef CARVE
	return off;
}

size_t sr_model_act_bytes(const struct sr_model_config *cfg, int B, int T)
{
	size_t floats = acts_layout(cfg, B, T, max_threads(), NULL, NULL);
	return floats * sizeof(float) + (size_t)B * T * sizeof(double) +
	       (size_t)cfg->num_hidden_layers * sizeof(struct layer_acts);
}

static void acts_free(struct sr_model_acts *a)
{
	if (!a)
		return;
	free(a->mem);
	free(a->layer);
	free(a->row_loss);
	free(a);
}

int sr_model_reserve(struct sr_model *m, int B, int T, struct sr_error *err)
{
	struct sr_model_acts *a;
	size_t floats;
	int threads = max_threads();

	/* The layout depends on T, so only a buffer for the same T is reused. */
	if (m->acts && B <= m->acts_B && T == m->acts_T && threads <= m->acts->threads)
		return 0;
	if (m->acts && T == m->acts_T && B < m->acts_B)
		B = m->acts_B;
	acts_free(m->acts);
	m->acts = NULL;
	m->logits = NULL;
	a = calloc(1, sizeof *a);
	if (!a)
		return sr_fail(err, SR_ENOMEM, "out of memory allocating activations");
	a->threads = threads;
	a->layer = calloc((size_t)m->cfg.num_hidden_layers, sizeof *a->layer);
	floats = acts_layout(&m->cfg, B, T, threads, NULL, NULL);
	a->mem = malloc(floats * sizeof(float));
	a->row_loss = malloc((size_t)B * T * sizeof(double));
	if (!a->layer || !a->mem || !a->row_loss) {
		acts_free(a);
		return sr_fail(err, SR_ENOMEM, "out of memory allocating activations (%zu bytes)",
		               sr_model_act_bytes(&m->cfg, B, T));
	}
	acts_layout(&m->cfg, B, T, threads, a, a->mem);
	m->acts = a;
	m->acts_B = B;
	m->acts_T = T;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Layers: each forward beside its backward                                */

/* C (M,N) = op(A) op(B) + beta C in row-major order. The larger of M and N
 * is split among the OpenMP threads, each calling a single-threaded
 * OpenBLAS (see sr_model_new), so one thread pool does all the work and
 * the split depends only on the thread count. */
static void gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	double work = (double)M * N * K;
	int threads = work < 262144.0 ? 1 : max_threads();

#pragma omp parallel num_threads(threads)
	{
		int t = thread_id(), nt = team_size();
		int split_m = M >= N;
		int total = split_m ? M : N;
		int chunk = ((total + nt - 1) / nt + 15) / 16 * 16;
		int lo = t * chunk, hi = lo + chunk < total ? lo + chunk : total;

		if (lo < hi && split_m) {
			const float *a = ta == CblasNoTrans ? A + (size_t)lo * lda : A + lo;
			cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, N, K, 1.0f, a, lda, B, ldb, beta,
			            C + (size_t)lo * ldc, ldc);
		} else if (lo < hi) {
			const float *b = tb == CblasNoTrans ? B + lo : B + (size_t)lo * ldb;
			cblas_sgemm(CblasRowMajor, ta, tb, M, hi - lo, K, 1.0f, A, lda, b, ldb, beta,
			            C + lo, ldc);
		}
	}
}

/* out (N,Out) = in (N,In) . w (Out,In)^T + bias (Out); bias may be NULL. */
static void linear_forward(float *out, const float *in, const float *w, const float *bias,
                           int N, int In, int Out)
{
	gemm(CblasNoTrans, CblasTrans, N, Out, In, in, In, w, In, 0.0f, out, Out);
	if (!bias)
		return;
#pragma omp parallel for schedule(static) if ((size_t)N * Out >= PARALLEL_MIN)
	for (int n = 0; n < N; n++)
		for (int o = 0; o < Out; o++)
			out[(size_t)n * Out + o] += bias[o];
}

/* din (N,In) = dout (N,Out) . w (Out,In), added to din when din_beta is 1;
 * dw (Out,In) += dout^T . in (N,In); dbias (Out) += column sums of dout. */
static void linear_backward(float *din, float din_beta, float *dw, float *dbias,
                            const float *dout, const float *in, const float *w,
                            int N, int In, int Out)
{
	gemm(CblasNoTrans, CblasNoTrans, N, In, Out, dout, Out, w, In, din_beta, din, In);
	gemm(CblasTrans, CblasNoTrans, Out, In, N, dout, Out, in, In, 1.0f, dw, In);
	if (!dbias)
		return;
#pragma omp parallel for schedule(static) if ((size_t)N * Out >= PARALLEL_MIN)
	for (int o = 0; o < Out; o++) {
		float s = 0.0f;
		for (int n = 0; n < N; n++)
			s += dout[(size_t)n * Out + o];
		dbias[o] += s;
	}
}

/* out (N,C) = x * rstd * w, rstd (N) = 1 / sqrt(mean(x^2) + eps). */
static void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N,
                            int C, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PARALLEL_MIN)
	for (int n = 0; n < N; n++) {
		const float *xr = x + (size_t)n * C;
		float *yr = out + (size_t)n * C;
		float ss = 0.0f;
#pragma omp simd reduction(+:ss)
		for (int c = 0; c < C; c++)
			ss += xr[c] * xr[c];
		float r = 1.0f / sqrtf(ss / (float)C + eps);
		rstd[n] = r;
		for (int c = 0; c < C; c++)
			yr[c] = xr[c] * r * w[c];
	}
}

/* dx (N,C) += d(out)/dx . dout; dw (C) += sum over rows of dout * x * rstd. */
static void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                             const float *rstd, const float *w, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PARALLEL_MIN)
	for (int n = 0; n < N; n++) {
		const float *xr = x + (size_t)n * C, *dy = dout + (size_t)n * C;
		float *dxr = dx + (size_t)n * C;
		float r = rstd[n], dot = 0.0f;
#pragma omp simd reduction(+:dot)
		for (int c = 0; c < C; c++)
			dot += dy[c] * w[c] * xr[c];
		float k = dot * r * r * r / (float)C;
		for (int c = 0; c < C; c++)
			dxr[c] += dy[c] * w[c] * r - xr[c] * k;
	}
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PARALLEL_MIN)
	for (int c = 0; c < C; c++) {
		float s = 0.0f;
		for (int n = 0; n < N; n++)
			s += dout[(size_t)n * C + c] * x[(size_t)n * C + c] * rstd[n];
		dw[c] += s;
	}
}

/* Rotate each head of x (N, heads*D) in place by its row's position, in
 * the rotate_half layout: element i pairs with i + D/2. inverse = 1
 * applies the transposed rotation, which is the backward pass. */
static void rope_apply(const struct sr_model *m, float *x, const int32_t *pos, int N, int heads,
                       int inverse)
{
	int D = m->cfg.head_dim, half = D / 2;
#pragma omp parallel for schedule(static) if ((size_t)N * heads * D >= PARALLEL_MIN)
	for (int n = 0; n < N; n++) {
		const float *cs = m->rope_cos + (size_t)pos[n] * half;
		const float *sn = m->rope_sin + (size_t)pos[n] * half;
		for (int h = 0; h < heads; h++) {
			float *v = x + ((size_t)n * heads + h) * D;
			for (int i = 0; i < half; i++) {
				float a = v[i], b = v[i + half];
				float s = inverse ? -sn[i] : sn[i];
				v[i] = a * cs[i] - b * s;
				v[i + half] = b * cs[i] + a * s;
			}
		}
	}
}

/* Causal attention within documents: row t attends to rows t - pos[t] .. t
 * of its batch row. q (N,H*D), k and v (N,KV*D) -> out (N,H*D), probs
 * (B,H,T,T) with zeros outside each row's window. Query head h reads
 * key/value head h / (H/KV). Each (batch row, head) computes its full T x T
 * score matrix with one single-threaded SGEMM and masks it afterwards:
 * twice the multiplications of a causal loop, but at GEMM speed. */
static void attention_forward(float *out, float *probs, const float *q, const float *k,
                              const float *v, const int32_t *pos, int B, int T, int H, int KV,
                              int D)
{
	int Q = H * D, K = KV * D, group = H / KV;
	float scale = 1.0f / sqrtf((float)D);

#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * H * T * T * D >= PARALLEL_MIN)
	for (int b = 0; b < B; b++) {
		for (int h = 0; h < H; h++) {
			size_t row0 = (size_t)b * T;
			const float *qh = q + row0 * Q + (size_t)h * D;            /* (T,D), ld Q */
			const float *kh = k + row0 * K + (size_t)(h / group) * D;  /* (T,D), ld K */
			const float *vh = v + row0 * K + (size_t)(h / group) * D;  /* (T,D), ld K */
			float *p = probs + ((size_t)b * H + h) * T * T;            /* (T,T) */

			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, qh, Q, kh, K,
			            0.0f, p, T);
			for (int t = 0; t < T; t++) {
				float *pr = p + (size_t)t * T, maxv = -INFINITY, sum = 0.0f;
				int start = t - pos[row0 + t];
				for (int j = 0; j < start; j++)
					pr[j] = 0.0f;
				for (int j = t + 1; j < T; j++)
					pr[j] = 0.0f;
				for (int j = start; j <= t; j++)
					if (pr[j] > maxv)
						maxv = pr[j];
				for (int j = start; j <= t; j++) {
					pr[j] = expf(pr[j] - maxv);
					sum += pr[j];
				}
				float inv = 1.0f / sum;
				for (int j = start; j <= t; j++)
					pr[j] *= inv;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, p, T, vh, K,
			            0.0f, out + row0 * Q + (size_t)h * D, Q);
		}
	}
}

/* Gradients of attention_forward: dq (N,H*D), dk and dv (N,KV*D) are
 * overwritten; dscore (threads,T,T) is scratch. Work is split by (batch
 * row, key/value head) so that the query heads sharing a key/value head
 * add to dk and dv in one thread. */
static void attention_backward(float *dq, float *dk, float *dv, float *dscore, const float *dout,
                               const float *probs, const float *q, const float *k,
                               const float *v, int B, int T, int H, int KV, int D, int threads)
{
	int Q = H * D, K = KV * D, group = H / KV;
	float scale = 1.0f / sqrtf((float)D);

#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if ((size_t)B * KV * T * T * D >= PARALLEL_MIN)
	for (int b = 0; b < B; b++) {
		for (int kvh = 0; kvh < KV; kvh++) {
			size_t row0 = (size_t)b * T;
			float *ds = dscore + (size_t)thread_id() * T * T;           /* (T,T) */
			const float *kh = k + row0 * K + (size_t)kvh * D;          /* (T,D), ld K */
			const float *vh = v + row0 * K + (size_t)kvh * D;
			float *dkh = dk + row0 * K + (size_t)kvh * D;
			float *dvh = dv + row0 * K + (size_t)kvh * D;

			for (int h = kvh * group; h < (kvh + 1) * group; h++) {
				const float *p = probs + ((size_t)b * H + h) * T * T;  /* (T,T) */
				const float *doh = dout + row0 * Q + (size_t)h * D;     /* (T,D), ld Q */
				const float *qh = q + row0 * Q + (size_t)h * D;
				float beta = h == kvh * group ? 0.0f : 1.0f;

				/* dv += p^T dout; dp = dout v^T */
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, p, T, doh, Q,
				            beta, dvh, K);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, doh, Q, vh, K,
				            0.0f, ds, T);
				/* softmax backward: ds = p * (dp - sum(p * dp)) * scale; zero where p is */
				for (int t = 0; t < T; t++) {
					const float *pr = p + (size_t)t * T;
					float *dr = ds + (size_t)t * T, dot = 0.0f;
#pragma omp simd reduction(+:dot)
					for (int j = 0; j < T; j++)
						dot += pr[j] * dr[j];
					for (int j = 0; j < T; j++)
						dr[j] = pr[j] * (dr[j] - dot) * scale;
				}
				/* dq = ds k; dk += ds^T q */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, ds, T, kh, K,
				            0.0f, dq + row0 * Q + (size_t)h * D, Q);
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, ds, T, qh, Q,
				            beta, dkh, K);
			}
		}
	}
}

static inline float sigmoidf(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

/* h (N,F) = silu(gate) * up */
static void swiglu_forward(float *h, const float *gate, const float *up, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
	for (size_t i = 0; i < n; i++)
		h[i] = gate[i] * sigmoidf(gate[i]) * up[i];
}

/* dgate, dup (N,F) from dh (N,F) */
static void swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate,
                            const float *up, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
	for (size_t i = 0; i < n; i++) {
		float s = sigmoidf(gate[i]);
		float silu = gate[i] * s;
		dup[i] = dh[i] * silu;
		dgate[i] = dh[i] * up[i] * s * (1.0f + gate[i] * (1.0f - s));
	}
}

/* x (N,C) = wte[tokens] */
static void embed_forward(float *x, const float *wte, const int32_t *tokens, int N, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PARALLEL_MIN)
	for (int n = 0; n < N; n++)
		memcpy(x + (size_t)n * C, wte + (size_t)tokens[n] * C, (size_t)C * sizeof *x);
}

/* dwte[tokens[n]] += dx[n], in row order (rows may share a token). */
static void embed_backward(float *dwte, const float *dx, const int32_t *tokens, int N, int C)
{
	for (int n = 0; n < N; n++) {
		float *g = dwte + (size_t)tokens[n] * C;
		const float *d = dx + (size_t)n * C;
		for (int c = 0; c < C; c++)
			g[c] += d[c];
	}
}

/* Cross-entropy of logits (N,V) against targets: lse (N) and row_loss (N),
 * 0 where the target is -1. */
static void xent_forward(double *row_loss, float *lse, const float *logits,
                         const int32_t *targets, int N, int V)
{
#pragma omp parallel for schedule(static) if ((size_t)N * V >= PARALLEL_MIN)
	for (int n = 0; n < N; n++) {
		const float *l = logits + (size_t)n * V;
		float maxv = -INFINITY;
		double sum = 0.0;
		for (int i = 0; i < V; i++)
			if (l[i] > maxv)
				maxv = l[i];
		for (int i = 0; i < V; i++)
			sum += expf(l[i] - maxv);
		lse[n] = maxv + (float)log(sum);
		row_loss[n] = 0.0;
		if (targets && targets[n] >= 0)
			row_loss[n] = (double)maxv + log(sum) - (double)l[targets[n]];
	}
}

/* Overwrite logits (N,V) with scale * d(loss)/d(logits). */
static void xent_backward(float *logits, const float *lse, const int32_t *targets, int N, int V,
                          float scale)
{
#pragma omp parallel for schedule(static) if ((size_t)N * V >= PARALLEL_MIN)
	for (int n = 0; n < N; n++) {
		float *l = logits + (size_t)n * V;
		if (!targets || targets[n] < 0) {
			memset(l, 0, (size_t)V * sizeof *l);
			continue;
		}
		for (int i = 0; i < V; i++)
			l[i] = expf(l[i] - lse[n]) * scale;
		l[targets[n]] -= scale;
	}
}

/* ---------------------------------------------------------------------- */
/* Whole model                                                             */

static int check_batch(const struct sr_model *m, const struct sr_batch *b, struct sr_error *err)
{
	if (b->B <= 0 || b->T <= 0)
		return sr_fail(err, SR_EUSAGE, "empty batch");
	for (int r = 0; r < b->B; r++) {
		for (int t = 0; t < b->T; t++) {
			size_t i = (size_t)r * b->T + t;
			if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab_size)
				return sr_fail(err, SR_EUSAGE, "token id %d is outside the vocabulary (%d)",
				               b->tokens[i], m->cfg.vocab_size);
			if (b->targets && (b->targets[i] < -1 || b->targets[i] >= m->cfg.vocab_size))
				return sr_fail(err, SR_EUSAGE, "target id %d is outside the vocabulary (%d)",
				               b->targets[i], m->cfg.vocab_size);
			if (b->pos[i] >= m->cfg.max_position_embeddings)
				return sr_fail(err, SR_EUSAGE,
				               "position %d exceeds max_position_embeddings (%d)", b->pos[i],
				               m->cfg.max_position_embeddings);
			if (b->pos[i] != 0 && (t == 0 || b->pos[i] != b->pos[i - 1] + 1))
				return sr_fail(err, SR_EUSAGE,
				               "positions must start at 0 and count up within a document");
		}
	}
	return 0;
}

int sr_model_forward(struct sr_model *m, const struct sr_batch *b, double *loss_sum,
                     long *n_tokens, struct sr_error *err)
{
	const struct sr_model_config *c = &m->cfg;
	int B = b->B, T = b->T, N = B * T, C = c->hidden_size, F = c->intermediate_size;
	int H = c->num_attention_heads, KV = c->num_key_value_heads, D = c->head_dim;
	float eps = (float)c->rms_norm_eps;
	struct sr_model_acts *a;
	int rc;

	rc = check_batch(m, b, err);
	if (!rc)
		rc = sr_model_reserve(m, B, T, err);
	if (rc)
		return rc;
	a = m->acts;

	embed_forward(a->layer[0].x, embed_of(m, m->params), b->tokens, N, C);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		struct layer_acts *la = &a->layer[l];
		struct layer_view w;
		float *next = l + 1 < c->num_hidden_layers ? a->layer[l + 1].x : a->xf;

		view_layer(m, m->params, l, &w);
		rmsnorm_forward(la->ln1, la->rstd1, la->x, w.ln1, N, C, eps);
		linear_forward(la->q, la->ln1, w.wq, w.bq, N, C, H * D);
		linear_forward(la->k, la->ln1, w.wk, w.bk, N, C, KV * D);
		linear_forward(la->v, la->ln1, w.wv, w.bv, N, C, KV * D);
		rope_apply(m, la->q, b->pos, N, H, 0);
		rope_apply(m, la->k, b->pos, N, KV, 0);
		attention_forward(la->atty, la->probs, la->q, la->k, la->v, b->pos, B, T, H, KV, D);
		memcpy(la->x2, la->x, (size_t)N * C * sizeof(float));
		gemm(CblasNoTrans, CblasTrans, N, C, H * D, la->atty, H * D, w.wo, H * D, 1.0f,
		     la->x2, C);

		rmsnorm_forward(la->ln2, la->rstd2, la->x2, w.ln2, N, C, eps);
		linear_forward(la->gate, la->ln2, w.wgate, NULL, N, C, F);
		linear_forward(la->up, la->ln2, w.wup, NULL, N, C, F);
		swiglu_forward(la->h, la->gate, la->up, (size_t)N * F);
		memcpy(next, la->x2, (size_t)N * C * sizeof(float));
		gemm(CblasNoTrans, CblasTrans, N, C, F, la->h, F, w.wdown, F, 1.0f, next, C);
	}
	rmsnorm_forward(a->lnf, a->rstdf, a->xf, final_norm_of(m, m->params), N, C, eps);
	linear_forward(a->logits, a->lnf, lm_head_of(m, m->params), NULL, N, C, c->vocab_size);
	m->logits = a->logits;
	xent_forward(a->row_loss, a->lse, a->logits, b->targets, N, c->vocab_size);

	double sum = 0.0;
	long count = 0;
	for (int n = 0; n < N; n++) {
		if (b->targets && b->targets[n] >= 0) {
			sum += a->row_loss[n];
			count++;
		}
	}
	if (loss_sum)
		*loss_sum = sum;
	if (n_tokens)
		*n_tokens = count;
	return 0;
}

void sr_model_backward(struct sr_model *m, const struct sr_batch *b, float scale)
{
	const struct sr_model_config *c = &m->cfg;
	int B = b->B, T = b->T, N = B * T, C = c->hidden_size, F = c->intermediate_size;
	int H = c->num_attention_heads, KV = c->num_key_value_heads, D = c->head_dim;
	int V = c->vocab_size;
	struct sr_model_acts *a = m->acts;
	float *g = m->grads;

	xent_backward(a->logits, a->lse, b->targets, N, V, scale);
	linear_backward(a->dln, 0.0f, lm_head_of(m, g), NULL, a->logits, a->lnf,
	                lm_head_of(m, m->params), N, C, V);
	memset(a->dres, 0, (size_t)N * C * sizeof(float));
	rmsnorm_backward(a->dres, final_norm_of(m, g), a->dln, a->xf, a->rstdf,
	                 final_norm_of(m, m->params), N, C);

	for (int l = c->num_hidden_layers - 1; l >= 0; l--) {
		struct layer_acts *la = &a->layer[l];
		struct layer_view w, dw;

		view_layer(m, m->params, l, &w);
		view_layer(m, g, l, &dw);

		/* MLP: next = x2 + down(h), so dres flows to x2 unchanged. */
		linear_backward(a->dh, 0.0f, dw.wdown, NULL, a->dres, la->h, w.wdown, N, F, C);
		swiglu_backward(a->dgate, a->dup, a->dh, la->gate, la->up, (size_t)N * F);
		linear_backward(a->dln, 0.0f, dw.wgate, NULL, a->dgate, la->ln2, w.wgate, N, C, F);
		linear_backward(a->dln, 1.0f, dw.wup, NULL, a->dup, la->ln2, w.wup, N, C, F);
		rmsnorm_backward(a->dres, dw.ln2, a->dln, la->x2, la->rstd2, w.ln2, N, C);

		/* Attention: x2 = x + o_proj(atty). */
		linear_backward(a->datty, 0.0f, dw.wo, NULL, a->dres, la->atty, w.wo, N, H * D, C);
		attention_backward(a->dq, a->dk, a->dv, a->dscore, a->datty, la->probs, la->q, la->k,
		                   la->v, B, T, H, KV, D, a->threads);
		rope_apply(m, a->dq, b->pos, N, H, 1);
		rope_apply(m, a->dk, b->pos, N, KV, 1);
		linear_backward(a->dln, 0.0f, dw.wq, dw.bq, a->dq, la->ln1, w.wq, N, C, H * D);
		linear_backward(a->dln, 1.0f, dw.wk, dw.bk, a->dk, la->ln1, w.wk, N, C, KV * D);
		linear_backward(a->dln, 1.0f, dw.wv, dw.bv, a->dv, la->ln1, w.wv, N, C, KV * D);
		rmsnorm_backward(a->dres, dw.ln1, a->dln, la->x, la->rstd1, w.ln1, N, C);
	}
	embed_backward(embed_of(m, g), a->dres, b->tokens, N, C);
}

/* ---------------------------------------------------------------------- */
/* Inference with a key/value cache                                        */

int sr_kv_cache_init(struct sr_kv_cache *c, const struct sr_model_config *cfg, int n_seq,
                     int max_len, struct sr_error *err)
{
	size_t n;

	memset(c, 0, sizeof *c);
	if (max_len > cfg->max_position_embeddings)
		return sr_fail(err, SR_EUSAGE, "%d positions exceed max_position_embeddings (%d)",
		               max_len, cfg->max_position_embeddings);
	c->n_seq = n_seq;
	c->max_len = max_len;
	c->layers = cfg->num_hidden_layers;
	c->width = cfg->num_key_value_heads * cfg->head_dim;
	n = (size_t)c->layers * n_seq * max_len * c->width;
	c->k = malloc(n * sizeof(float));
	c->v = malloc(n * sizeof(float));
	if (!c->k || !c->v) {
		sr_kv_cache_release(c);
		return sr_fail(err, SR_ENOMEM, "out of memory allocating a %zu-byte key/value cache",
		               2 * n * sizeof(float));
	}
	return 0;
}

void sr_kv_cache_release(struct sr_kv_cache *c)
{
	free(c->k);
	free(c->v);
	memset(c, 0, sizeof *c);
}

/* Attention of R rows over the cache of layer l: q (R,H*D) -> out (R,H*D). */
static void attention_cached(float *out, const float *q, const struct sr_kv_cache *c, int l,
                             const int32_t *seq, const int32_t *pos, int R, int H, int KV, int D)
{
	int Q = H * D, K = KV * D, group = H / KV;
	float scale = 1.0f / sqrtf((float)D);
	size_t layer_off = (size_t)l * c->n_seq * c->max_len * K;

#pragma omp parallel if ((size_t)R * H * c->max_len * D >= PARALLEL_MIN)
	{
		float *p = malloc((size_t)c->max_len * sizeof *p);
#pragma omp for collapse(2) schedule(static)
		for (int r = 0; r < R; r++) {
			for (int h = 0; h < H; h++) {
				const float *kc = c->k + layer_off + (size_t)seq[r] * c->max_len * K +
				                  (size_t)(h / group) * D;
				const float *vc = c->v + layer_off + (size_t)seq[r] * c->max_len * K +
				                  (size_t)(h / group) * D;
				const float *qr = q + (size_t)r * Q + (size_t)h * D;
				float *o = out + (size_t)r * Q + (size_t)h * D;
				float maxv = -INFINITY, sum = 0.0f;

				if (!p)
					continue;
				for (int j = 0; j <= pos[r]; j++) {
					float s = 0.0f;
#pragma omp simd reduction(+:s)
					for (int d = 0; d < D; d++)
						s += qr[d] * kc[(size_t)j * K + d];
					p[j] = s * scale;
					if (p[j] > maxv)
						maxv = p[j];
				}
				for (int j = 0; j <= pos[r]; j++) {
					p[j] = expf(p[j] - maxv);
					sum += p[j];
				}
				for (int d = 0; d < D; d++)
					o[d] = 0.0f;
				for (int j = 0; j <= pos[r]; j++) {
					float w = p[j] / sum;
					for (int d = 0; d < D; d++)
						o[d] += w * vc[(size_t)j * K + d];
				}
			}
		}
		free(p);
	}
}

int sr_model_forward_cached(struct sr_model *m, struct sr_kv_cache *c, const int32_t *tokens,
                            const int32_t *seq, const int32_t *pos, int R, const uint8_t *want,
                            float *logits, struct sr_error *err)
{
	const struct sr_model_config *cfg = &m->cfg;
	int C = cfg->hidden_size, F = cfg->intermediate_size, V = cfg->vocab_size;
	int H = cfg->num_attention_heads, KV = cfg->num_key_value_heads, D = cfg->head_dim;
	int Q = H * D, K = KV * D, n_out = 0;
	float eps = (float)cfg->rms_norm_eps;
	float *x, *ln, *q, *k, *v, *att, *gate, *up, *sel;
	float *mem;
	int rc = 0;

	for (int r = 0; r < R; r++) {
		if (tokens[r] < 0 || tokens[r] >= V || seq[r] < 0 || seq[r] >= c->n_seq ||
		    pos[r] < 0 || pos[r] >= c->max_len)
			return sr_fail(err, SR_EUSAGE, "row %d: token %d, sequence %d or position %d is "
			               "out of range", r, tokens[r], seq[r], pos[r]);
		n_out += want[r] != 0;
	}
	size_t floats = (size_t)R * (3 * C + 2 * Q + 2 * K + 2 * F);
	mem = malloc(floats * sizeof *mem);
	if (!mem)
		return sr_fail(err, SR_ENOMEM, "out of memory running the model on %d rows", R);
	x = mem;                   /* (R,C) residual stream */
	ln = x + (size_t)R * C;    /* (R,C) norm output */
	sel = ln + (size_t)R * C;  /* (R,C) norm output of the rows that want logits */
	q = sel + (size_t)R * C;   /* (R,Q) */
	att = q + (size_t)R * Q;   /* (R,Q) */
	k = att + (size_t)R * Q;   /* (R,K) */
	v = k + (size_t)R * K;     /* (R,K) */
	gate = v + (size_t)R * K;  /* (R,F) */
	up = gate + (size_t)R * F; /* (R,F) */

	embed_forward(x, embed_of(m, m->params), tokens, R, C);
	for (int l = 0; l < cfg->num_hidden_layers; l++) {
		struct layer_view w;
		size_t layer_off = (size_t)l * c->n_seq * c->max_len * K;

		view_layer(m, m->params, l, &w);
		rmsnorm_forward(ln, sel, x, w.ln1, R, C, eps); /* sel is rstd scratch here */
		linear_forward(q, ln, w.wq, w.bq, R, C, Q);
		linear_forward(k, ln, w.wk, w.bk, R, C, K);
		linear_forward(v, ln, w.wv, w.bv, R, C, K);
		rope_apply(m, q, pos, R, H, 0);
		rope_apply(m, k, pos, R, KV, 0);
		for (int r = 0; r < R; r++) {
			size_t at = layer_off + ((size_t)seq[r] * c->max_len + pos[r]) * K;
			memcpy(c->k + at, k + (size_t)r * K, (size_t)K * sizeof(float));
			memcpy(c->v + at, v + (size_t)r * K, (size_t)K * sizeof(float));
		}
		attention_cached(att, q, c, l, seq, pos, R, H, KV, D);
		gemm(CblasNoTrans, CblasTrans, R, C, Q, att, Q, w.wo, Q, 1.0f, x, C);

		rmsnorm_forward(ln, sel, x, w.ln2, R, C, eps);
		linear_forward(gate, ln, w.wgate, NULL, R, C, F);
		linear_forward(up, ln, w.wup, NULL, R, C, F);
		swiglu_forward(gate, gate, up, (size_t)R * F);
		gemm(CblasNoTrans, CblasTrans, R, C, F, gate, F, w.wdown, F, 1.0f, x, C);
	}
	rmsnorm_forward(ln, sel, x, final_norm_of(m, m->params), R, C, eps);
	for (int r = 0, i = 0; r < R; r++)
		if (want[r])
			memcpy(sel + (size_t)i++ * C, ln + (size_t)r * C, (size_t)C * sizeof(float));
	if (n_out)
		linear_forward(logits, sel, lm_head_of(m, m->params), NULL, n_out, C, V);
	free(mem);
	return rc;
}

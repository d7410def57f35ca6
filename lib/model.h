/*
 * model.h - a Llama-family decoder in float32: RMSNorm, rotary position
 * embeddings, grouped-query attention with optional q/k/v bias (Qwen2),
 * SwiGLU MLP and optional tied embeddings. Forward and backward passes for
 * training, plus the configuration and tensor layout shared with the
 * Hugging Face files (config.json, model.safetensors).
 *
 * Ownership: sr_model_new and sr_model_load return a new model that the
 * caller frees with sr_model_free (accepts NULL). The model owns its
 * parameters, gradients and activation buffers. Batches are borrowed for
 * the duration of a call.
 *
 * Shapes use B (batch rows), T (sequence length), N = B*T, C (hidden
 * size), H (query heads), KV (key/value heads), D (head size), F (MLP
 * intermediate size), V (vocabulary size).
 */
#ifndef SR_MODEL_H
#define SR_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"

/* The fields of a Hugging Face config.json that the model uses. */
struct sr_model_config {
	char architecture[64];       /* "LlamaForCausalLM" or "Qwen2ForCausalLM" */
	int vocab_size;              /* V */
	int hidden_size;             /* C */
	int intermediate_size;       /* F */
	int num_hidden_layers;       /* L */
	int num_attention_heads;     /* H */
	int num_key_value_heads;     /* KV; H must be a multiple */
	int head_dim;                /* D */
	int max_position_embeddings; /* largest position + 1 */
	double rope_theta;
	/* rope_scaling: SR_ROPE_DEFAULT (none), SR_ROPE_LINEAR (positions
	 * divided by factor) or SR_ROPE_LLAMA3 (Llama 3.1's per-frequency
	 * scaling between low_freq_factor and high_freq_factor) */
	int rope_type;
	double rope_factor;
	double rope_low_freq_factor, rope_high_freq_factor;
	int rope_original_max_position;
	double rms_norm_eps;
	double initializer_range;    /* standard deviation of the random init */
	int attention_bias;          /* q/k/v projections have a bias */
	int tie_word_embeddings;     /* lm_head shares model.embed_tokens */
	int bos_token_id;            /* -1 when unset */
	int eos_token_id;            /* -1 when unset */
};

enum { SR_ROPE_DEFAULT, SR_ROPE_LINEAR, SR_ROPE_LLAMA3 };

/* Fill cfg with the Llama defaults (those of transformers' LlamaConfig). */
void sr_model_config_defaults(struct sr_model_config *cfg);
/* Read a config.json object into cfg. Fields that are absent keep their
 * current values, except head_dim (hidden_size / heads when absent or null)
 * and num_key_value_heads (num_attention_heads when absent). Architectures
 * other than Llama and Qwen2, an activation other than silu, a rope_scaling
 * type other than default, linear and llama3, and inconsistent sizes are
 * SR_EDATA. */
int sr_model_config_from_json(struct sr_model_config *cfg, const json_t *obj,
                              struct sr_error *err);
/* Read a config.json file (see sr_model_config_from_json). */
int sr_model_config_load(struct sr_model_config *cfg, const char *path, struct sr_error *err);
/* Return a new config.json object for cfg. */
json_t *sr_model_config_to_json(const struct sr_model_config *cfg);
/* Check sizes for consistency. Returns 0 or SR_EDATA with a message. */
int sr_model_config_check(const struct sr_model_config *cfg, struct sr_error *err);

/* One parameter tensor: its Hugging Face name, shape and place in the
 * single parameter allocation. */
struct sr_tensor_info {
	char name[96];
	int ndim;            /* 1 or 2 */
	int64_t shape[2];
	size_t offset;       /* in floats from the start of the allocation */
	size_t numel;
};

/* Return the number of parameters cfg describes. */
size_t sr_model_param_count(const struct sr_model_config *cfg);

/* A training or evaluation batch, row-major (B,T). */
struct sr_batch {
	int B, T;
	const int32_t *tokens;   /* (B,T) input token ids */
	const int32_t *targets;  /* (B,T) next-token ids, -1 = no loss; NULL for no loss */
	const int32_t *pos;      /* (B,T) position within the document: 0 starts one */
};

/* Forward activations and backward scratch for batches up to B x T. */
struct sr_model_acts;

struct sr_model {
	struct sr_model_config cfg;
	struct sr_tensor_info *tensors; /* table of every parameter tensor */
	int n_tensors;
	size_t n_params;
	float *params;                  /* (n_params) all parameters */
	float *grads;                   /* (n_params) or NULL before sr_model_alloc_grads */
	float *rope_cos, *rope_sin;     /* (max_position_embeddings, D/2) */
	struct sr_model_acts *acts;
	int acts_B, acts_T;             /* capacity of acts */
	float *logits;                  /* (B,T,V) after sr_model_forward, borrowed from acts */
};

/* Return a new model for cfg with zeroed parameters and no gradients. */
int sr_model_new(const struct sr_model_config *cfg, struct sr_model **out, struct sr_error *err);
/* Load DIR/config.json and DIR/model.safetensors (float32, bfloat16 or
 * float16) into a new model. A missing or misshapen tensor is SR_EDATA. */
int sr_model_load(const char *dir, struct sr_model **out, struct sr_error *err);
/* Write DIR/config.json and DIR/model.safetensors (atomically each); DIR
 * must exist. bf16 selects bfloat16 weights, else float32. */
int sr_model_save(const struct sr_model *m, const char *dir, int bf16, struct sr_error *err);
void sr_model_free(struct sr_model *m);

/* Fill the parameters as transformers does for a fresh model: linear and
 * embedding weights from N(0, initializer_range^2), norms 1, biases 0. */
void sr_model_init_random(struct sr_model *m, uint64_t seed);
/* Find a tensor by Hugging Face name; NULL when absent. */
const struct sr_tensor_info *sr_model_tensor(const struct sr_model *m, const char *name);

/* Allocate gradients (zeroed). Returns 0 or SR_ENOMEM. */
int sr_model_alloc_grads(struct sr_model *m, struct sr_error *err);
void sr_model_zero_grads(struct sr_model *m);

/* Bytes of activations and scratch sr_model_forward/backward use for a
 * B x T batch (the logits are the largest part, B*T*V floats). */
size_t sr_model_act_bytes(const struct sr_model_config *cfg, int B, int T);
/* Make sure activation buffers fit a B x T batch. */
int sr_model_reserve(struct sr_model *m, int B, int T, struct sr_error *err);

/* Run the forward pass, leaving logits in m->logits and keeping the
 * activations for sr_model_backward. With targets, *loss_sum receives the
 * summed cross-entropy over positions whose target is not -1 and *n_tokens
 * their count (either pointer may be NULL). A batch whose positions do not
 * start at 0 and count up within a document, a token outside the
 * vocabulary or a position beyond max_position_embeddings is SR_EUSAGE. */
int sr_model_forward(struct sr_model *m, const struct sr_batch *b, double *loss_sum,
                     long *n_tokens, struct sr_error *err);
/* Add the gradient of scale * (summed loss of the last forward) to
 * m->grads. Call right after sr_model_forward with the same batch; it
 * overwrites the logits. */
void sr_model_backward(struct sr_model *m, const struct sr_batch *b, float scale);

/* Keys and values of earlier positions for incremental decoding. */
struct sr_kv_cache {
	int n_seq;          /* sequences (S) */
	int max_len;        /* positions per sequence (P) */
	int layers, width;  /* L and KV*D */
	float *k, *v;       /* (L,S,P,KV*D) each */
};

/* Allocate a cache for n_seq sequences of max_len positions. Returns 0,
 * SR_EUSAGE (max_len beyond max_position_embeddings) or SR_ENOMEM. */
int sr_kv_cache_init(struct sr_kv_cache *c, const struct sr_model_config *cfg, int n_seq,
                     int max_len, struct sr_error *err);
void sr_kv_cache_release(struct sr_kv_cache *c);

/* Run R new tokens through the model for inference. Row r is token
 * tokens[r] of sequence seq[r] at position pos[r]; its key and value are
 * stored in the cache and it attends to positions 0..pos[r] of its
 * sequence, so earlier positions must already be in the cache or among
 * the rows. For each row with want[r] set, in row order, a (V) row of
 * logits is written to logits. Returns 0, SR_EUSAGE (bad id, sequence or
 * position) or SR_ENOMEM. */
int sr_model_forward_cached(struct sr_model *m, struct sr_kv_cache *c, const int32_t *tokens,
                            const int32_t *seq, const int32_t *pos, int R, const uint8_t *want,
                            float *logits, struct sr_error *err);

#endif

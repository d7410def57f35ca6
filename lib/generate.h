/*
 * generate.h - sampling replies from a model: batched over prompts with a
 * key/value cache, temperature, top-k and top-p (nucleus) sampling, a
 * seed per prompt, and stopping at end-of-turn tokens.
 *
 * Two levels: sr_generate works on token ids with a loaded model;
 * struct sr_generator loads a model directory (weights, tokenizer and chat
 * template) and turns `messages` arrays into reply text, for sr-train
 * generate and sr-bon.
 *
 * Sampling of prompt i uses its own generator seeded from seeds[i] (or
 * from params->seed and i), so a prompt's reply does not depend on which
 * other prompts share its batch, up to the rounding of the batched matrix
 * products.
 *
 * NOTE: n samples of one prompt are n sequences, each prefilled and cached
 * on its own; nothing shares the prompt's keys and values between them.
 *
 * Ownership: results are caller-owned and released with
 * sr_gen_result_release; sr_generator_open returns a new object freed with
 * sr_generator_free (accepts NULL). Prompts, messages and params are
 * borrowed for the call.
 */
#ifndef SR_GENERATE_H
#define SR_GENERATE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"
#include "model.h"
#include "util.h"

struct sr_gen_params {
	int max_new_tokens;       /* default 256 */
	double temperature;       /* 0 = greedy (argmax); default 1 */
	double top_p;             /* keep the smallest set of tokens with this much probability; 1 = off */
	int top_k;                /* keep the k most likely tokens; 0 = off */
	uint64_t seed;
	const int32_t *stop_ids;  /* generation of a prompt ends at any of these (not included) */
	size_t n_stop;
};

void sr_gen_params_defaults(struct sr_gen_params *p);

enum sr_gen_finish {
	SR_GEN_STOP = 0,    /* a stop id was sampled */
	SR_GEN_LENGTH = 1,  /* max_new_tokens or the model's context ran out */
};

struct sr_gen_result {
	int32_t *ids;       /* generated ids, without the stop id */
	size_t len;
	enum sr_gen_finish finish;
};

void sr_gen_result_release(struct sr_gen_result *r);

/* Generate for n prompts at once (prompts[i] has prompt_lens[i] >= 1 ids)
 * and fill out[0..n). seeds may be NULL. A prompt that leaves no room in
 * max_position_embeddings is SR_EUSAGE. On failure out is released. */
int sr_generate(struct sr_model *m, const int32_t *const *prompts, const size_t *prompt_lens,
                size_t n, const struct sr_gen_params *params, const uint64_t *seeds,
                struct sr_gen_result *out, struct sr_error *err);

/* Pick a token from logits (V) as sr_generate does. Modifies logits. */
int32_t sr_gen_sample(float *logits, int V, const struct sr_gen_params *params,
                      struct sr_rng *rng);

struct sr_generator;
struct sr_tokenizer;
struct sr_chat;

/* Load DIR (config.json, model.safetensors, tokenizer.json) with the chat
 * template template_name, or the one the tokenizer names when NULL. */
int sr_generator_open(const char *dir, const char *template_name, struct sr_generator **out,
                      struct sr_error *err);
void sr_generator_free(struct sr_generator *g);
/* The loaded parts (borrowed). */
struct sr_model *sr_generator_model(struct sr_generator *g);
const struct sr_tokenizer *sr_generator_tokenizer(const struct sr_generator *g);
const struct sr_chat *sr_generator_chat(const struct sr_generator *g);

/* Reply to n conversations (each a `messages` array ending with a user
 * turn): texts[i] receives a new malloc'd NUL-terminated reply, decoded
 * without special tokens, and finish[i] (if not NULL) why it ended. The
 * stop ids are the template's end-of-turn ids and any params->stop_ids.
 * On failure no texts are returned. */
int sr_generator_reply(struct sr_generator *g, const json_t *const *messages, size_t n,
                       const struct sr_gen_params *params, const uint64_t *seeds, char **texts,
                       enum sr_gen_finish *finish, struct sr_error *err);

#endif

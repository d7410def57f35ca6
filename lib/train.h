/*
 * train.h - supervised fine-tuning on chat shards: loading and tokenizing
 * the `messages` of train-*.jsonl.zst and val-*.jsonl.zst, packing them
 * into rows, the training loop with AdamW, validation, checkpoints that
 * resume exactly, evaluation, and making a fresh model with `init`.
 *
 * Loss is taken on assistant tokens only (the mask of lib/chat.h). A
 * document of n tokens gives n - 1 positions: inputs ids[0..n-2] and
 * targets ids[1..n-1]. A document longer than seq_len + 1 tokens is
 * truncated and counted. With packing, several documents share a row, each with its own
 * positions from 0 and attending only to itself; without it, each row
 * holds one document and padding.
 *
 * Ownership: sr_trainer_new returns a new trainer freed with
 * sr_trainer_free (accepts NULL). Options and their strings are borrowed
 * and must outlive the trainer. The library prints nothing: progress goes
 * to the caller's callback, the log to the file named in the options.
 */
#ifndef SR_TRAIN_H
#define SR_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "sr.h"
#include "optim.h"

struct sr_train_options {
	const char *model_dir;    /* model to start from (config.json, model.safetensors, tokenizer) */
	const char *data;         /* shard directory, or one JSONL file used as training data */
	const char *out_dir;      /* output model directory, created if missing */
	const char *template_name;/* "chatml", "llama3", or NULL to detect from the tokenizer */
	const char *log_path;     /* JSONL log; NULL means OUT/train.jsonl */
	long steps;               /* optimizer steps; 0 means derive from epochs */
	double epochs;            /* passes over the training rows when steps is 0 */
	int seq_len;              /* T; 0 means min(512, max_position_embeddings) */
	int batch;                /* rows per micro-batch (B) */
	int grad_accum;           /* micro-batches per optimizer step */
	double lr, min_lr;        /* peak and final learning rate */
	long warmup;              /* warm-up steps */
	double clip;              /* max gradient norm; 0 disables clipping */
	struct sr_adamw_config adam;
	uint64_t seed;            /* data order */
	long eval_every;          /* validate every N steps (and at the end); 0 = only at the end */
	long save_every;          /* checkpoint every N steps (and at the end); 0 = only at the end */
	long stop_after;          /* stop after N steps of this run, with a checkpoint; 0 = no */
	int pack;                 /* pack several documents per row */
	int resume;               /* continue from OUT/checkpoint.safetensors */
	int bf16;                 /* write the final weights as bfloat16 */
	uint64_t max_memory;      /* bytes allowed; 0 means physical memory */
	long max_records;         /* stop reading shards after this many records; 0 = all */
};

void sr_train_options_defaults(struct sr_train_options *o);

/* Tokenized documents, stored back to back. */
struct sr_dataset {
	int32_t *ids;       /* all tokens */
	uint8_t *mask;      /* 1 where the token carries loss */
	size_t n_tokens, cap_tokens;
	size_t *start;      /* (n) offset of each document in ids */
	int *len;           /* (n) its length after truncation */
	size_t n, cap;
	long records;       /* records read */
	long truncated;     /* documents cut to seq_len + 1 tokens */
	long no_loss;       /* documents dropped: no assistant token left, or too short */
	long loss_tokens;   /* positions with a target */
};

struct sr_chat;

/* Read every DIR/PREFIX-*.jsonl.zst (or .jsonl) file in name order, or
 * path itself when it is a file, and encode each record's `messages` with
 * chat. Documents are truncated to max_len tokens. A record without a valid
 * `messages` array is SR_EDATA naming the file and line. Returns the
 * number of files read (0 when none match). */
int sr_dataset_load(struct sr_dataset *ds, const char *path, const char *prefix,
                    const struct sr_chat *chat, int max_len, long max_records,
                    struct sr_error *err);
void sr_dataset_release(struct sr_dataset *ds);

/* The plan of a run, filled by sr_trainer_new for the caller to print. */
struct sr_train_plan {
	size_t params;            /* parameter count */
	uint64_t bytes_params;    /* 4 bytes per parameter */
	uint64_t bytes_grads;     /* 4 bytes per parameter */
	uint64_t bytes_optim;     /* 8 bytes per parameter (two AdamW moments) */
	uint64_t bytes_acts;      /* activations and scratch for batch x seq_len */
	uint64_t bytes_data;      /* tokenized documents */
	uint64_t bytes_total;
	uint64_t bytes_limit;     /* --max-memory or physical memory */
	int seq_len;              /* the sequence length in use */
	long total_steps;
	long start_step;          /* > 0 when resuming */
	long train_docs, val_docs;
	long rows_per_epoch;
	long truncated;           /* training and validation documents truncated */
	long no_loss;             /* documents dropped for having no loss tokens */
	long train_loss_tokens;
	const char *template_name;
};

/* Bytes of parameters and activations for cfg with a batch x seq_len
 * batch, plus gradients and AdamW moments when training (the memory
 * formula of sr-train(1)). */
uint64_t sr_train_memory(const struct sr_model_config *cfg, int batch, int seq_len,
                         int training);

/* One line of progress, passed to the callback after every step. */
struct sr_train_progress {
	long step;                /* 1-based step just done */
	long total;
	double loss;              /* mean over the step's loss tokens */
	double val_loss;          /* NAN unless validated at this step */
	long val_tokens;
	double lr;
	double grad_norm;         /* before clipping */
	double tokens_per_s;      /* non-padding input tokens per second in this step */
	long tokens;              /* non-padding input tokens so far */
	double elapsed_s;
	int saved;                /* a checkpoint was written after this step */
};

typedef void (*sr_train_progress_fn)(const struct sr_train_progress *p, void *ctx);

struct sr_trainer;

/* Load the tokenizer, the data and (after checking the memory needed
 * against the limit, before allocating the model) the model or, with
 * resume, the checkpoint. Fills plan. Returns 0, SR_EUSAGE (inconsistent
 * options, or a checkpoint made with other options), SR_ENOMEM (the run
 * will not fit; the message gives both sizes), SR_EDATA, SR_EIO. */
int sr_trainer_new(const struct sr_train_options *opts, struct sr_train_plan *plan,
                   struct sr_trainer **out, struct sr_error *err);
/* Train to the last step (or stop_after), validating, logging and saving
 * as configured. A resumed run repeats an uninterrupted one bit for bit
 * only with the same thread count, because the split of each product
 * among threads depends on it. The final model is written to the output directory. The
 * summary, if not NULL, receives the last step's progress. */
int sr_trainer_run(struct sr_trainer *tr, sr_train_progress_fn fn, void *ctx,
                   struct sr_train_progress *summary, struct sr_error *err);
void sr_trainer_free(struct sr_trainer *tr);

/* Mean loss over the assistant tokens of the val shards in data (the
 * train shards when there are none). seq_len 0 picks the training default. */
int sr_train_eval(const char *model_dir, const char *data, const char *template_name,
                  int seq_len, int batch, long max_records, double *loss, long *tokens,
                  struct sr_error *err);

/* Make a fresh model in out_dir: config from config_path (missing fields
 * take the Llama defaults), random weights from seed, and a tokenizer.
 * With tokenizer_path NULL, a byte-level BPE of vocab_size ids is trained
 * on the text of the messages in data, with ChatML special tokens and
 * template. Otherwise the tokenizer at tokenizer_path (a tokenizer.json or
 * its directory) is copied, and data is not read. vocab_size in the written
 * config is the tokenizer's size. */
int sr_train_init_model(const char *config_path, long vocab_size, const char *data,
                        const char *tokenizer_path, const char *out_dir, uint64_t seed,
                        long max_records, struct sr_model_config *cfg_out,
                        struct sr_error *err);

#endif

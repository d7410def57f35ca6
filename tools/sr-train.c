/*
 * sr-train - fine-tune a small Llama-family model on chat shards, and the
 * subcommands init, eval, tokenize and generate.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "msg.h"
#include "opt.h"
#include "tokenizer.h"
#include "train.h"
#include "train-cmd.h"

enum {
	OPT_MODEL = 0x100, OPT_DATA, OPT_STEPS, OPT_EPOCHS, OPT_SEQ_LEN, OPT_BATCH, OPT_GRAD_ACCUM,
	OPT_LR, OPT_MIN_LR, OPT_WARMUP, OPT_WEIGHT_DECAY, OPT_BETA1, OPT_BETA2, OPT_ADAM_EPS,
	OPT_CLIP, OPT_SEED, OPT_TEMPLATE, OPT_EVAL_EVERY, OPT_SAVE_EVERY, OPT_STOP_AFTER,
	OPT_RESUME, OPT_PACK, OPT_NO_PACK, OPT_BF16, OPT_LOG, OPT_MAX_MEMORY, OPT_MAX_RECORDS,
};

static const char train_usage[] =
	"Usage: sr-train [train] --model DIR --data SHARDS -o OUT [OPTIONS]\n"
	"       sr-train init --config FILE --vocab-size N --data SHARDS -o DIR\n"
	"       sr-train eval --model DIR --data SHARDS\n"
	"       sr-train tokenize --model DIR [--raw] [--special] [--decode]\n"
	"       sr-train generate --model DIR [FILE...]\n"
	"Fine-tune a Llama-family model on the `messages` of train-*.jsonl.zst shards.\n"
	"\n"
	"  --model DIR          model to start from (config.json, model.safetensors, tokenizer.json)\n"
	"  --data PATH          shard directory (train-*, val-*), or one JSONL file\n"
	"  -o, --output DIR     output model directory (checkpoint, log, final weights)\n"
	"  --steps N            optimizer steps (default: from --epochs)\n"
	"  --epochs X           passes over the training data (default 1)\n"
	"  --seq-len N          tokens per row (default 512, or max_position_embeddings if less)\n"
	"  --batch N            rows per micro-batch (default 8)\n"
	"  --grad-accum N       micro-batches per step (default 1)\n"
	"  --lr X               peak learning rate (default 3e-4)\n"
	"  --min-lr X           final learning rate of the cosine (default 3e-5)\n"
	"  --warmup N           warm-up steps (default 5% of the steps)\n"
	"  --weight-decay X     AdamW decoupled weight decay on matrices (default 0.1)\n"
	"  --beta1 X, --beta2 X AdamW moment decay rates (default 0.9, 0.95)\n"
	"  --adam-eps X         AdamW epsilon (default 1e-8)\n"
	"  --clip X             max gradient norm, 0 = off (default 1)\n"
	"  --seed N             data order seed (default 0)\n"
	"  --template NAME      chatml or llama3 (default: from the tokenizer config)\n"
	"  --eval-every N       validation loss every N steps (default: at the end only)\n"
	"  --save-every N       checkpoint every N steps (default: at the end only)\n"
	"  --stop-after N       stop after N steps of this run, with a checkpoint\n"
	"  --resume             continue from OUT/checkpoint.safetensors\n"
	"  --pack, --no-pack    several documents per row, or one per row (default --pack)\n"
	"  --bf16               write the final weights as bfloat16\n"
	"  --log FILE           JSONL log (default OUT/train.jsonl)\n"
	"  --max-memory SIZE    refuse to start above SIZE bytes (K/M/G; default: physical memory)\n"
	"  --max-records N      read at most N records per split\n"
	SR_TRAIN_COMMON_HELP
	"Exit status: 0 success, 1 invalid input data, 2 usage error, 3 I/O or system failure.\n";

static const struct option train_options[] = {
	{"model", required_argument, NULL, OPT_MODEL},
	{"data", required_argument, NULL, OPT_DATA},
	{"output", required_argument, NULL, 'o'},
	{"steps", required_argument, NULL, OPT_STEPS},
	{"epochs", required_argument, NULL, OPT_EPOCHS},
	{"seq-len", required_argument, NULL, OPT_SEQ_LEN},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"grad-accum", required_argument, NULL, OPT_GRAD_ACCUM},
	{"lr", required_argument, NULL, OPT_LR},
	{"min-lr", required_argument, NULL, OPT_MIN_LR},
	{"warmup", required_argument, NULL, OPT_WARMUP},
	{"weight-decay", required_argument, NULL, OPT_WEIGHT_DECAY},
	{"beta1", required_argument, NULL, OPT_BETA1},
	{"beta2", required_argument, NULL, OPT_BETA2},
	{"adam-eps", required_argument, NULL, OPT_ADAM_EPS},
	{"clip", required_argument, NULL, OPT_CLIP},
	{"seed", required_argument, NULL, OPT_SEED},
	{"template", required_argument, NULL, OPT_TEMPLATE},
	{"eval-every", required_argument, NULL, OPT_EVAL_EVERY},
	{"save-every", required_argument, NULL, OPT_SAVE_EVERY},
	{"stop-after", required_argument, NULL, OPT_STOP_AFTER},
	{"resume", no_argument, NULL, OPT_RESUME},
	{"pack", no_argument, NULL, OPT_PACK},
	{"no-pack", no_argument, NULL, OPT_NO_PACK},
	{"bf16", no_argument, NULL, OPT_BF16},
	{"log", required_argument, NULL, OPT_LOG},
	{"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
	{"max-records", required_argument, NULL, OPT_MAX_RECORDS},
	SR_TRAIN_COMMON_OPTIONS,
	{NULL, 0, NULL, 0},
};

int sr_train_set_threads(const char *arg)
{
	long n;
	if (sr_parse_int(arg, 1, 4096, &n) != 0)
		return sr_msg_usage("invalid --threads '%s' (expected a positive integer)", arg);
#ifdef _OPENMP
	omp_set_num_threads((int)n);
#endif
	return 0;
}

int sr_train_common_option(int c, const char *arg, const char *usage, int *status)
{
	switch (c) {
	case 'q':
		sr_msg_verbosity = 0;
		return 1;
	case SR_TRAIN_OPT_THREADS:
		*status = sr_train_set_threads(arg);
		return *status ? 2 : 1;
	case 'h':
		fputs(usage, stdout);
		*status = SR_EXIT_OK;
		return 2;
	case SR_TRAIN_OPT_VERSION:
		sr_print_version("sr-train");
		*status = SR_EXIT_OK;
		return 2;
	default:
		return 0;
	}
}

/* Parse one option of the train subcommand into o. Returns 0 or an exit status. */
static int parse_train_option(int c, const char *arg, struct sr_train_options *o)
{
	long v;
	double d;
	uint64_t u;

#define INT_OPT(name, min, field) \
	if (sr_parse_int(arg, min, 1000000000L, &v) != 0) \
		return sr_msg_usage("invalid %s '%s' (expected an integer >= %d)", name, arg, min); \
	field = v; break
#define REAL_OPT(name, min, max, field) \
	if (sr_parse_double(arg, min, max, &d) != 0) \
		return sr_msg_usage("invalid %s '%s' (expected a number in [%g, %g])", name, arg, \
		                    (double)(min), (double)(max)); \
	field = d; break

	switch (c) {
	case OPT_MODEL: o->model_dir = arg; break;
	case OPT_DATA: o->data = arg; break;
	case 'o': o->out_dir = arg; break;
	case OPT_STEPS: INT_OPT("--steps", 1, o->steps);
	case OPT_EPOCHS: REAL_OPT("--epochs", 1e-9, 1e6, o->epochs);
	case OPT_SEQ_LEN: INT_OPT("--seq-len", 2, o->seq_len);
	case OPT_BATCH: INT_OPT("--batch", 1, o->batch);
	case OPT_GRAD_ACCUM: INT_OPT("--grad-accum", 1, o->grad_accum);
	case OPT_LR: REAL_OPT("--lr", 0, 10, o->lr);
	case OPT_MIN_LR: REAL_OPT("--min-lr", 0, 10, o->min_lr);
	case OPT_WARMUP: INT_OPT("--warmup", 0, o->warmup);
	case OPT_WEIGHT_DECAY: REAL_OPT("--weight-decay", 0, 10, o->adam.weight_decay);
	case OPT_BETA1: REAL_OPT("--beta1", 0, 0.999999, o->adam.beta1);
	case OPT_BETA2: REAL_OPT("--beta2", 0, 0.999999999, o->adam.beta2);
	case OPT_ADAM_EPS: REAL_OPT("--adam-eps", 0, 1, o->adam.eps);
	case OPT_CLIP: REAL_OPT("--clip", 0, 1e9, o->clip);
	case OPT_SEED:
		if (sr_parse_u64(arg, 0, &u) != 0)
			return sr_msg_usage("invalid --seed '%s' (expected a non-negative integer)", arg);
		o->seed = u;
		break;
	case OPT_TEMPLATE: o->template_name = arg; break;
	case OPT_EVAL_EVERY: INT_OPT("--eval-every", 0, o->eval_every);
	case OPT_SAVE_EVERY: INT_OPT("--save-every", 0, o->save_every);
	case OPT_STOP_AFTER: INT_OPT("--stop-after", 1, o->stop_after);
	case OPT_RESUME: o->resume = 1; break;
	case OPT_PACK: o->pack = 1; break;
	case OPT_NO_PACK: o->pack = 0; break;
	case OPT_BF16: o->bf16 = 1; break;
	case OPT_LOG: o->log_path = arg; break;
	case OPT_MAX_MEMORY:
		if (sr_parse_u64(arg, 1, &u) != 0 || u == 0)
			return sr_msg_usage("invalid --max-memory '%s' (expected a size such as 8G)", arg);
		o->max_memory = u;
		break;
	case OPT_MAX_RECORDS: INT_OPT("--max-records", 1, o->max_records);
	default: return sr_msg_usage("invalid option");
	}
#undef INT_OPT
#undef REAL_OPT
	return 0;
}

void sr_train_human_bytes(uint64_t b, char *buf, size_t cap)
{
	if (b >= (uint64_t)1 << 30)
		snprintf(buf, cap, "%.2f GiB", b / 1073741824.0);
	else if (b >= (uint64_t)1 << 20)
		snprintf(buf, cap, "%.1f MiB", b / 1048576.0);
	else
		snprintf(buf, cap, "%.1f KiB", b / 1024.0);
}

static void print_plan(const struct sr_train_plan *p, const struct sr_train_options *o,
                       int starting)
{
	char total[32], params[32], grads[32], optim[32], acts[32], data[32], limit[32];

	sr_train_human_bytes(p->bytes_total, total, sizeof total);
	sr_train_human_bytes(p->bytes_params, params, sizeof params);
	sr_train_human_bytes(p->bytes_grads, grads, sizeof grads);
	sr_train_human_bytes(p->bytes_optim, optim, sizeof optim);
	sr_train_human_bytes(p->bytes_acts, acts, sizeof acts);
	sr_train_human_bytes(p->bytes_data, data, sizeof data);
	sr_train_human_bytes(p->bytes_limit, limit, sizeof limit);
	sr_msg_notice("model: %zu parameters; template %s", p->params, p->template_name);
	sr_msg_notice("memory: %s = parameters %s + gradients %s + optimizer %s + activations %s "
	              "(batch %d x %d) + data %s; limit %s", total, params, grads, optim, acts,
	              o->batch, p->seq_len, data, limit);
	sr_msg_notice("data: %ld training and %ld validation examples, %ld rows per epoch, "
	              "%ld truncated to %d tokens, %ld without assistant tokens skipped",
	              p->train_docs, p->val_docs, p->rows_per_epoch, p->truncated, p->seq_len + 1,
	              p->no_loss);
	if (starting && p->start_step)
		sr_msg_notice("resuming at step %ld of %ld", p->start_step, p->total_steps);
	else if (starting)
		sr_msg_notice("training for %ld steps", p->total_steps);
}

/* Progress bar on a terminal: one line rewritten in place. */
static void show_progress(const struct sr_train_progress *p, void *ctx)
{
	int tty = *(int *)ctx;
	char bar[31];
	int filled = (int)(30 * p->step / (p->total ? p->total : 1));

	if (!isnan(p->val_loss) && (!tty || p->step < p->total))
		fprintf(stderr, "%s%s: step %ld: val_loss %.4f\n", tty ? "\r\033[K" : "",
		        sr_msg_progname(), p->step, p->val_loss);
	if (!tty)
		return;
	for (int i = 0; i < 30; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r\033[K[%s] %ld/%ld loss %.4f lr %.2e %.0f tok/s", bar, p->step, p->total,
	        p->loss, p->lr, p->tokens_per_s);
	if (p->step == p->total)
		fputc('\n', stderr);
	fflush(stderr);
}

static int cmd_train(int argc, char **argv)
{
	struct sr_train_options o;
	struct sr_train_plan plan;
	struct sr_train_progress last;
	struct sr_trainer *tr = NULL;
	struct sr_error err = {0};
	int c, rc, quiet = 0, tty;

	sr_train_options_defaults(&o);
	while ((c = getopt_long(argc, argv, "o:qh", train_options, NULL)) != -1) {
		int common = sr_train_common_option(c, optarg, train_usage, &rc);
		if (common == 2)
			return rc;
		if (common == 1)
			continue;
		rc = parse_train_option(c, optarg, &o);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return sr_msg_usage("unexpected argument '%s'", argv[optind]);
	if (!o.model_dir || !o.data || !o.out_dir)
		return sr_msg_usage("--model, --data and -o are required");
	quiet = sr_msg_verbosity == 0;

	rc = sr_trainer_new(&o, &plan, &tr, &err);
	if (rc == SR_ENOMEM && plan.bytes_total)
		print_plan(&plan, &o, 0);
	if (rc) {
		sr_msg_report(&err);
		return sr_exit_status(rc);
	}
	print_plan(&plan, &o, 1);
	tty = !quiet && isatty(STDERR_FILENO);
	rc = sr_trainer_run(tr, quiet ? NULL : show_progress, &tty, &last, &err);
	sr_trainer_free(tr);
	if (rc) {
		if (tty)
			fputc('\n', stderr);
		sr_msg_report(&err);
		return sr_exit_status(rc);
	}
	sr_msg_notice("done: %ld of %ld steps, loss %.4f, %ld tokens in %.1f s (%.0f tokens/s); "
	              "model written to '%s'", last.step, last.total, last.loss, last.tokens,
	              last.elapsed_s, last.elapsed_s > 0 ? last.tokens / last.elapsed_s : 0.0,
	              o.out_dir);
	if (!isnan(last.val_loss))
		sr_msg_notice("val_loss %.4f over %ld tokens", last.val_loss, last.val_tokens);
	return SR_EXIT_OK;
}

/* Apply and remove -q, --quiet and --threads N in a tokenize command line.
 * tokenize parses its own options in the library and does not know them,
 * but scripts pass them to every subcommand. The values of -m, --model, -o
 * and --output are passed over, and "--" ends the scan. Returns 0 or an
 * exit status. */
static int take_common_options(int *argc, char **argv)
{
	int out = 1, i = 1;
	for (; i < *argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			sr_msg_verbosity = 0;
			continue;
		}
		if (strcmp(a, "--threads") == 0 || strncmp(a, "--threads=", 10) == 0) {
			const char *value = NULL;
			if (a[9] == '=')
				value = a + 10;
			else if (i + 1 < *argc)
				value = argv[++i];
			if (!value)
				return sr_msg_usage("option '--threads' requires an argument");
			int rc = sr_train_set_threads(value);
			if (rc)
				return rc;
			continue;
		}
		argv[out++] = argv[i];
		if ((!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-o") ||
		     !strcmp(a, "--output")) && i + 1 < *argc)
			argv[out++] = argv[++i];
	}
	while (i < *argc)
		argv[out++] = argv[i++];
	argv[out] = NULL;
	*argc = out;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
		{ "train", cmd_train },
		{ "init", sr_train_cmd_init },
		{ "eval", sr_train_cmd_eval },
		{ "generate", sr_train_cmd_generate },
		{ "tokenize", NULL },
	};
	char name[64];

	sr_msg_init("sr-train");
	if (argc < 2 || argv[1][0] == '-')
		return cmd_train(argc, argv);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		/* Messages, and getopt's own, name the subcommand. */
		snprintf(name, sizeof name, "sr-train %s", commands[i].name);
		sr_msg_init(name);
		argv[1] = name;
		if (commands[i].run)
			return commands[i].run(argc - 1, argv + 1);
		int sub_argc = argc - 1, rc = take_common_options(&sub_argc, argv + 1);
		return rc ? rc : sr_tokenize_cmd(sub_argc, argv + 1);
	}
	return sr_msg_usage("unknown subcommand '%s' (expected train, init, eval, tokenize or "
	                    "generate)", argv[1]);
}

/*
 * tokenize_cmd.c - `sr-train tokenize`: encode text to token ids, decode
 * ids to text, or encode conversations with a chat template, one line at a
 * time.
 *
 * NOTE: unlike the rest of the tokenizer code, this file prints messages
 * and parses options. It lives in the library so that the sr-train program
 * only dispatches the subcommand here and test programs can run it without
 * sr-train.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "io.h"
#include "msg.h"
#include "opt.h"
#include "chat.h"
#include "tokenizer.h"

/* Lines longer than this are invalid input rather than a memory problem. */
#define LINE_MAX_BYTES ((size_t)1 << 30)

struct tokenize_opts {
	const char *model;
	const char *output;
	int raw, decode, special, split_special, skip_special, tokens;
	/* --chat: messages in, ids and the assistant mask out. */
	int chat, prompt, text;
	const char *template_name; /* NULL: detect from the tokenizer */
	const struct sr_chat *renderer;
};

static void usage(void)
{
	printf("Usage: sr-train tokenize --model DIR [OPTION]... [FILE]...\n"
		"Encode text to token ids with DIR/tokenizer.json, one line at a time: each\n"
		"input line is a JSON string and each output line a JSON array of ids.\n"
		"With no FILE, or when FILE is -, read standard input (zstd is detected).\n"
		"\n"
		"  -m, --model=DIR       model directory or tokenizer.json file\n"
		"      --raw             input lines are plain UTF-8 text (only the '\\n'\n"
		"                        is removed); with --decode, write plain text lines\n"
		"      --special         add the tokenizer's special tokens (e.g. BOS)\n"
		"      --split-special   treat special tokens written in the text as plain\n"
		"                        text instead of their ids\n"
		"      --tokens          write token strings instead of ids\n"
		"  -d, --decode          read JSON arrays of ids, write JSON strings\n"
		"      --skip-special    with --decode, leave out special tokens\n"
		"      --chat[=TEMPLATE] read conversations (a messages array, or an object\n"
		"                        with one, such as a shard record) and write\n"
		"                        {\"ids\": [...], \"mask\": [...]} as training sees them;\n"
		"                        TEMPLATE is chatml or llama3 (default: the model's)\n"
		"      --prompt          with --chat, end with the assistant header as for\n"
		"                        generation\n"
		"      --text            with --chat, write the rendered text as a JSON string\n"
		"  -o, --output=FILE     write to FILE instead of standard output\n"
		"  -h, --help            show this help and exit\n"
		"      --version         show the version and exit\n"
		"\n"
		"Exit status: 0 success, 1 invalid input data, 2 usage error, 3 I/O or\n"
		"system failure.\n");
}

enum { OPT_RAW = 0x100, OPT_SPECIAL, OPT_SPLIT_SPECIAL, OPT_SKIP_SPECIAL, OPT_TOKENS,
	OPT_CHAT, OPT_PROMPT, OPT_TEXT, OPT_VERSION };

static int parse_options(int argc, char **argv, struct tokenize_opts *o)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "raw", no_argument, NULL, OPT_RAW },
		{ "special", no_argument, NULL, OPT_SPECIAL },
		{ "split-special", no_argument, NULL, OPT_SPLIT_SPECIAL },
		{ "skip-special", no_argument, NULL, OPT_SKIP_SPECIAL },
		{ "tokens", no_argument, NULL, OPT_TOKENS },
		{ "chat", optional_argument, NULL, OPT_CHAT },
		{ "prompt", no_argument, NULL, OPT_PROMPT },
		{ "text", no_argument, NULL, OPT_TEXT },
		{ "decode", no_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:do:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'd': o->decode = 1; break;
		case 'o': o->output = optarg; break;
		case OPT_RAW: o->raw = 1; break;
		case OPT_SPECIAL: o->special = 1; break;
		case OPT_SPLIT_SPECIAL: o->split_special = 1; break;
		case OPT_SKIP_SPECIAL: o->skip_special = 1; break;
		case OPT_TOKENS: o->tokens = 1; break;
		case OPT_CHAT: o->chat = 1; o->template_name = optarg; break;
		case OPT_PROMPT: o->prompt = 1; break;
		case OPT_TEXT: o->text = 1; break;
		case 'h': usage(); return 1;
		case OPT_VERSION: sr_print_version("sr-train"); return 1;
		default: sr_msg_usage("invalid option"); return -1;
		}
	}
	if (!o->model)
		{ sr_msg_usage("missing --model DIR"); return -1; }
	if (o->decode && (o->special || o->split_special || o->tokens))
		{ sr_msg_usage("--decode cannot be combined with --special, --split-special or --tokens"); return -1; }
	if (!o->decode && o->skip_special)
		{ sr_msg_usage("--skip-special needs --decode"); return -1; }
	if (!o->chat && (o->prompt || o->text))
		{ sr_msg_usage("--prompt and --text need --chat"); return -1; }
	if (o->chat && (o->decode || o->raw || o->special || o->split_special || o->tokens))
		{ sr_msg_usage("--chat cannot be combined with --decode, --raw, --special, --split-special or --tokens"); return -1; }
	return 0;
}

/* Line reader over a (possibly zstd-compressed) input that keeps empty
 * lines, which --raw treats as empty texts. */
struct lines {
	struct sr_input *in;
	char chunk[65536];
	size_t pos, end;
	int eof;
	struct sr_buf line;
	long lineno;
};

/* Returns 1 with lines->line set, 0 at the end, <0 on error. */
static int next_line(struct lines *l, struct sr_error *err)
{
	sr_buf_reset(&l->line);
	if (l->eof && l->pos == l->end)
		return 0;
	for (;;) {
		if (l->pos == l->end) {
			ssize_t n = sr_input_read(l->in, l->chunk, sizeof l->chunk, err);
			if (n < 0)
				return (int)n;
			if (n == 0) {
				l->eof = 1;
				if (l->line.len == 0)
					return 0;
				break;
			}
			l->pos = 0;
			l->end = (size_t)n;
		}
		char *nl = memchr(l->chunk + l->pos, '\n', l->end - l->pos);
		size_t take = nl ? (size_t)(nl - (l->chunk + l->pos)) : l->end - l->pos;
		if (l->line.len + take > LINE_MAX_BYTES)
			return sr_fail(err, SR_ETOOBIG, "line %ld is longer than %zu bytes",
				l->lineno + 1, LINE_MAX_BYTES);
		if (sr_buf_append(&l->line, l->chunk + l->pos, take) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory reading line %ld", l->lineno + 1);
		l->pos += take;
		if (nl) {
			l->pos++;
			break;
		}
	}
	if (!l->line.data && sr_buf_append(&l->line, "", 0) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	l->lineno++;
	return 1;
}

static int is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Append a JSON string for s[0..len) (valid UTF-8) to out. */
static int append_json_string(struct sr_buf *out, const char *s, size_t len)
{
	json_t *v = json_stringn(s, len);
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int rc = text ? sr_buf_puts(out, text) : SR_ENOMEM;
	free(text);
	json_decref(v);
	return rc;
}

static int encode_line(const struct sr_tokenizer *tok, const struct tokenize_opts *o,
	const char *text, size_t len, struct sr_ids *ids, struct sr_buf *out, struct sr_error *err)
{
	int flags = (o->special ? SR_ENCODE_ADD_SPECIAL : 0) |
		(o->split_special ? SR_ENCODE_SPLIT_SPECIAL : 0);
	int rc;

	ids->len = 0;
	if ((rc = sr_tokenizer_encode(tok, text, len, flags, ids, err)) < 0)
		return rc;
	rc = sr_buf_puts(out, "[");
	for (size_t i = 0; rc == 0 && i < ids->len; i++) {
		if (i)
			rc = sr_buf_puts(out, ",");
		if (rc == 0 && o->tokens) {
			const char *t = sr_tokenizer_token(tok, ids->data[i]);
			rc = append_json_string(out, t, strlen(t));
		} else if (rc == 0)
			rc = sr_buf_printf(out, "%ld", (long)ids->data[i]);
	}
	if (rc == 0)
		rc = sr_buf_puts(out, "]\n");
	return rc < 0 ? sr_fail(err, SR_ENOMEM, "out of memory") : 0;
}

static int decode_line(const struct sr_tokenizer *tok, const struct tokenize_opts *o,
	const json_t *arr, struct sr_ids *ids, struct sr_buf *out, struct sr_error *err)
{
	struct sr_buf text = { 0 };
	size_t i;
	const json_t *v;
	int rc = 0;

	ids->len = 0;
	if (!json_is_array(arr))
		return sr_fail(err, SR_EDATA, "expected a JSON array of token ids");
	json_array_foreach(arr, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > INT32_MAX)
			return sr_fail(err, SR_EDATA, "element %zu is not a token id", i);
		if (sr_ids_push(ids, (int32_t)json_integer_value(v)) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	rc = sr_tokenizer_decode(tok, ids->data, ids->len,
		o->skip_special ? SR_DECODE_SKIP_SPECIAL : 0, &text, err);
	if (rc == 0) {
		rc = o->raw ? sr_buf_append(out, text.data ? text.data : "", text.len)
			: append_json_string(out, text.data ? text.data : "", text.len);
		if (rc == 0)
			rc = sr_buf_puts(out, "\n");
		if (rc < 0)
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
	}
	sr_buf_release(&text);
	return rc;
}

/* Render or encode one conversation: a messages array, or an object with
 * a "messages" member. */
static int chat_line(const struct tokenize_opts *o, const json_t *v, struct sr_buf *out,
	struct sr_error *err)
{
	struct sr_chat_seq seq = { 0 };
	const json_t *messages = json_is_object(v) ? json_object_get(v, "messages") : v;
	int rc;

	if (!json_is_array(messages))
		return sr_fail(err, SR_EDATA, "expected a messages array or an object with one");
	if (o->text) {
		struct sr_buf text = { 0 };
		rc = sr_chat_render_text(o->renderer, messages, o->prompt, &text, err);
		if (rc == 0 && (append_json_string(out, text.data, text.len) < 0 ||
		    sr_buf_puts(out, "\n") < 0))
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
		sr_buf_release(&text);
		return rc;
	}
	rc = o->prompt ? sr_chat_encode_prompt(o->renderer, messages, &seq, err) :
		sr_chat_encode(o->renderer, messages, &seq, err);
	if (rc == 0) {
		int w = sr_buf_puts(out, "{\"ids\":[");
		for (size_t i = 0; w == 0 && i < seq.len; i++)
			w = sr_buf_printf(out, "%s%ld", i ? "," : "", (long)seq.ids[i]);
		if (w == 0)
			w = sr_buf_puts(out, "],\"mask\":[");
		for (size_t i = 0; w == 0 && i < seq.len; i++)
			w = sr_buf_printf(out, "%s%d", i ? "," : "", seq.mask[i]);
		if (w == 0)
			w = sr_buf_puts(out, "]}\n");
		if (w < 0)
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
	}
	sr_chat_seq_release(&seq);
	return rc;
}

/* Process one input line into out. Blank lines are skipped in JSON mode. */
static int process_line(const struct sr_tokenizer *tok, const struct tokenize_opts *o,
	const struct sr_buf *line, struct sr_ids *ids, struct sr_buf *out, struct sr_error *err)
{
	json_error_t jerr;
	json_t *v;
	int rc;

	if (o->raw && !o->decode)
		return encode_line(tok, o, line->data, line->len, ids, out, err);
	if (is_blank(line->data, line->len))
		return 0;
	v = json_loadb(line->data, line->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!v) {
		rc = sr_fail(err, SR_EDATA, "invalid JSON: %s", jerr.text);
		err->column = jerr.column;
		return rc;
	}
	if (o->chat)
		rc = chat_line(o, v, out, err);
	else if (o->decode)
		rc = decode_line(tok, o, v, ids, out, err);
	else if (!json_is_string(v))
		rc = sr_fail(err, SR_EDATA, "expected a JSON string (use --raw for plain text)");
	else
		rc = encode_line(tok, o, json_string_value(v), json_string_length(v), ids, out, err);
	json_decref(v);
	return rc;
}

static int run_file(const struct sr_tokenizer *tok, const struct tokenize_opts *o,
	const char *path, struct sr_output *output, struct sr_error *err)
{
	struct lines l = { 0 };
	struct sr_ids ids = { 0 };
	struct sr_buf out = { 0 };
	int rc;

	if ((rc = sr_input_open(path, &l.in, err)) < 0)
		return rc;
	while ((rc = next_line(&l, err)) > 0) {
		sr_buf_reset(&out);
		if ((rc = process_line(tok, o, &l.line, &ids, &out, err)) < 0) {
			snprintf(err->file, sizeof err->file, "%s", sr_input_name(l.in));
			err->line = l.lineno;
			break;
		}
		if (out.len && (rc = sr_output_write(output, out.data, out.len, err)) < 0)
			break;
	}
	if (rc < 0 && err->file[0] == '\0')
		snprintf(err->file, sizeof err->file, "%s", sr_input_name(l.in));
	sr_input_free(l.in);
	sr_buf_release(&l.line);
	sr_buf_release(&out);
	sr_ids_release(&ids);
	return rc < 0 ? rc : 0;
}

int sr_tokenize_cmd(int argc, char **argv)
{
	struct tokenize_opts o = { 0 };
	struct sr_tokenizer *tok = NULL;
	struct sr_chat *chat = NULL;
	struct sr_output *output = NULL;
	struct sr_error err = { 0 };
	int rc;

	sr_msg_init("sr-train tokenize");
	if ((rc = parse_options(argc, argv, &o)) != 0)
		return rc > 0 ? SR_EXIT_OK : SR_EXIT_USAGE;
	if ((rc = sr_tokenizer_load(o.model, &tok, &err)) < 0)
		goto done;
	if (o.chat && (rc = sr_chat_new(tok, o.template_name, &chat, &err)) < 0)
		goto done;
	o.renderer = chat;
	if ((rc = sr_output_open(o.output, o.output ? SR_OUTPUT_ATOMIC : 0, &output, &err)) < 0)
		goto done;
	if (optind >= argc)
		rc = run_file(tok, &o, "-", output, &err);
	for (int i = optind; i < argc && rc == 0; i++)
		rc = run_file(tok, &o, argv[i], output, &err);
	if (rc == 0)
		rc = sr_output_commit(output, &err);
done:
	if (rc == SR_EPIPE)
		rc = 0;
	if (rc < 0 && output && !o.output) {
		/* Standard output keeps the lines before the error, as a filter should. */
		struct sr_error ignored = { 0 };
		sr_output_flush(output, &ignored);
	}
	if (rc < 0)
		sr_msg_report(&err);
	sr_output_free(output);
	sr_chat_free(chat);
	sr_tokenizer_free(tok);
	return sr_exit_status(rc);
}

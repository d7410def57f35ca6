/*
 * chat.c - the chatml and llama3 chat templates, as text and as token ids
 * with an assistant mask.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "chat.h"

struct sr_chat {
	const struct sr_tokenizer *tok;
	enum sr_chat_format format;
	/* chatml: <|im_start|>, <|im_end|>; llama3: <|begin_of_text|>,
	 * <|start_header_id|>, <|end_header_id|>, <|eot_id|>. */
	int32_t begin, start_header, end_header, end_turn;
	int32_t stop[2];
	size_t n_stop;
};

static const char chatml_jinja[] =
	"{% for message in messages %}"
	"{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
	"{% endfor %}"
	"{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

static const char llama3_jinja[] =
	"{{ '<|begin_of_text|>' }}"
	"{% for message in messages %}"
	"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
	" + message['content'] | trim + '<|eot_id|>' }}"
	"{% endfor %}"
	"{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/* ---- sequences ---- */

void sr_chat_seq_reset(struct sr_chat_seq *seq)
{
	seq->len = 0;
}

void sr_chat_seq_release(struct sr_chat_seq *seq)
{
	free(seq->ids);
	free(seq->mask);
	memset(seq, 0, sizeof *seq);
}

static int seq_append(struct sr_chat_seq *seq, const int32_t *ids, size_t n, uint8_t mask)
{
	if (n > seq->cap - seq->len) {
		size_t cap = seq->cap ? seq->cap : 256;
		while (cap - seq->len < n)
			cap *= 2;
		int32_t *ni = realloc(seq->ids, cap * sizeof *ni);
		if (!ni)
			return SR_ENOMEM;
		seq->ids = ni;
		uint8_t *nm = realloc(seq->mask, cap);
		if (!nm)
			return SR_ENOMEM;
		seq->mask = nm;
		seq->cap = cap;
	}
	memcpy(seq->ids + seq->len, ids, n * sizeof *ids);
	memset(seq->mask + seq->len, mask, n);
	seq->len += n;
	return 0;
}

/* ---- formats ---- */

int sr_chat_format_parse(const char *name, enum sr_chat_format *out, struct sr_error *err)
{
	if (strcmp(name, "chatml") == 0)
		*out = SR_CHAT_CHATML;
	else if (strcmp(name, "llama3") == 0)
		*out = SR_CHAT_LLAMA3;
	else
		return sr_fail(err, SR_EUSAGE, "unknown chat template '%s' (expected chatml or llama3)",
			name);
	return 0;
}

const char *sr_chat_format_name(enum sr_chat_format format)
{
	return format == SR_CHAT_LLAMA3 ? "llama3" : "chatml";
}

const char *sr_chat_format_jinja(enum sr_chat_format format)
{
	return format == SR_CHAT_LLAMA3 ? llama3_jinja : chatml_jinja;
}

int sr_chat_format_detect(const struct sr_tokenizer *tok, enum sr_chat_format *out,
	struct sr_error *err)
{
	const char *tmpl = sr_tokenizer_chat_template(tok);
	if (tmpl && strstr(tmpl, "<|im_start|>")) {
		*out = SR_CHAT_CHATML;
		return 0;
	}
	if (tmpl && strstr(tmpl, "<|start_header_id|>")) {
		*out = SR_CHAT_LLAMA3;
		return 0;
	}
	if (sr_tokenizer_token_id(tok, "<|im_start|>") >= 0) {
		*out = SR_CHAT_CHATML;
		return 0;
	}
	if (sr_tokenizer_token_id(tok, "<|start_header_id|>") >= 0) {
		*out = SR_CHAT_LLAMA3;
		return 0;
	}
	return sr_fail(err, SR_ENOTFOUND,
		"cannot tell the tokenizer's chat template: neither its chat_template nor its "
		"vocabulary has <|im_start|> or <|start_header_id|>; name one (chatml or llama3)");
}

static int need_token(const struct sr_tokenizer *tok, const char *name, int32_t *id,
	enum sr_chat_format format, struct sr_error *err)
{
	if ((*id = sr_tokenizer_token_id(tok, name)) < 0)
		return sr_fail(err, SR_ENOTFOUND,
			"the tokenizer has no token '%s', which the %s chat template needs", name,
			sr_chat_format_name(format));
	return 0;
}

int sr_chat_new(const struct sr_tokenizer *tok, const char *name, struct sr_chat **out,
	struct sr_error *err)
{
	struct sr_chat *chat;
	enum sr_chat_format format;
	int rc;

	*out = NULL;
	rc = name ? sr_chat_format_parse(name, &format, err) : sr_chat_format_detect(tok, &format, err);
	if (rc < 0)
		return rc;
	if (!(chat = calloc(1, sizeof *chat)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	chat->tok = tok;
	chat->format = format;
	chat->begin = chat->start_header = chat->end_header = -1;
	if (format == SR_CHAT_CHATML) {
		if ((rc = need_token(tok, "<|im_start|>", &chat->start_header, format, err)) < 0 ||
		    (rc = need_token(tok, "<|im_end|>", &chat->end_turn, format, err)) < 0)
			goto fail;
		chat->stop[chat->n_stop++] = chat->end_turn;
		int32_t eot = sr_tokenizer_token_id(tok, "<|endoftext|>");
		if (eot >= 0)
			chat->stop[chat->n_stop++] = eot;
	} else {
		if ((rc = need_token(tok, "<|begin_of_text|>", &chat->begin, format, err)) < 0 ||
		    (rc = need_token(tok, "<|start_header_id|>", &chat->start_header, format, err)) < 0 ||
		    (rc = need_token(tok, "<|end_header_id|>", &chat->end_header, format, err)) < 0 ||
		    (rc = need_token(tok, "<|eot_id|>", &chat->end_turn, format, err)) < 0)
			goto fail;
		chat->stop[chat->n_stop++] = chat->end_turn;
		int32_t eot = sr_tokenizer_token_id(tok, "<|end_of_text|>");
		if (eot >= 0)
			chat->stop[chat->n_stop++] = eot;
	}
	*out = chat;
	return 0;
fail:
	free(chat);
	return rc;
}

void sr_chat_free(struct sr_chat *chat)
{
	free(chat);
}

enum sr_chat_format sr_chat_format_of(const struct sr_chat *chat)
{
	return chat->format;
}

const int32_t *sr_chat_stop_ids(const struct sr_chat *chat, size_t *n)
{
	*n = chat->n_stop;
	return chat->stop;
}

int sr_chat_is_stop(const struct sr_chat *chat, int32_t id)
{
	for (size_t i = 0; i < chat->n_stop; i++)
		if (chat->stop[i] == id)
			return 1;
	return 0;
}

/* ---- messages ---- */

/* Python's str.isspace(), which Jinja's trim filter strips. */
static int is_python_space(int32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 ||
		cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
		cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Narrow s[*start..*end) to drop leading and trailing whitespace. */
static void trim(const char *s, size_t *start, size_t *end)
{
	while (*start < *end) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + *start,
			(utf8proc_ssize_t)(*end - *start), &cp);
		if (n <= 0 || !is_python_space(cp))
			break;
		*start += (size_t)n;
	}
	while (*end > *start) {
		size_t i = *end - 1;
		while (i > *start && ((unsigned char)s[i] & 0xC0) == 0x80)
			i--;
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
			(utf8proc_ssize_t)(*end - i), &cp);
		if (n <= 0 || !is_python_space(cp))
			break;
		*end = i;
	}
}

struct message {
	const char *role, *content;
	size_t role_len, content_len;
};

static int get_message(const json_t *messages, size_t i, struct message *m, struct sr_error *err)
{
	const json_t *msg = json_array_get(messages, i);
	const json_t *role = json_object_get(msg, "role");
	const json_t *content = json_object_get(msg, "content");
	const char *bad = !json_is_object(msg) ? "" : !json_is_string(role) ? "/role" :
		!json_is_string(content) ? "/content" : NULL;
	if (bad) {
		int rc = sr_fail(err, SR_EDATA, "message %zu: %s", i,
			*bad == '\0' ? "not an object" : bad[1] == 'r' ? "role is missing or not a string" :
			"content is missing or not a string");
		if (err)
			snprintf(err->field, sizeof err->field, "/%zu%s", i, bad);
		return rc;
	}
	m->role = json_string_value(role);
	m->role_len = json_string_length(role);
	m->content = json_string_value(content);
	m->content_len = json_string_length(content);
	return 0;
}

static int check_messages(const json_t *messages, struct sr_error *err)
{
	if (!json_is_array(messages))
		return sr_fail(err, SR_EDATA, "messages is not an array");
	return 0;
}

int sr_chat_render_text(const struct sr_chat *chat, const json_t *messages,
	int add_generation_prompt, struct sr_buf *out, struct sr_error *err)
{
	struct message m;
	int rc = 0;

	if ((rc = check_messages(messages, err)) < 0)
		return rc;
	if (chat->format == SR_CHAT_LLAMA3)
		rc = sr_buf_puts(out, "<|begin_of_text|>");
	for (size_t i = 0; rc == 0 && i < json_array_size(messages); i++) {
		if ((rc = get_message(messages, i, &m, err)) < 0)
			return rc;
		if (chat->format == SR_CHAT_CHATML) {
			rc = sr_buf_printf(out, "<|im_start|>%.*s\n", (int)m.role_len, m.role);
			if (rc == 0)
				rc = sr_buf_append(out, m.content, m.content_len);
			if (rc == 0)
				rc = sr_buf_puts(out, "<|im_end|>\n");
		} else {
			size_t start = 0, end = m.content_len;
			trim(m.content, &start, &end);
			rc = sr_buf_printf(out, "<|start_header_id|>%.*s<|end_header_id|>\n\n",
				(int)m.role_len, m.role);
			if (rc == 0)
				rc = sr_buf_append(out, m.content + start, end - start);
			if (rc == 0)
				rc = sr_buf_puts(out, "<|eot_id|>");
		}
	}
	if (rc == 0 && add_generation_prompt)
		rc = sr_buf_puts(out, chat->format == SR_CHAT_CHATML ? "<|im_start|>assistant\n" :
			"<|start_header_id|>assistant<|end_header_id|>\n\n");
	if (rc == 0 && !out->data)
		rc = sr_buf_append(out, "", 0);
	return rc < 0 ? sr_fail(err, SR_ENOMEM, "out of memory") : 0;
}

/* Append one token with a mask value. */
static int put_id(struct sr_chat_seq *seq, int32_t id, uint8_t mask, struct sr_error *err)
{
	return seq_append(seq, &id, 1, mask) < 0 ? sr_fail(err, SR_ENOMEM, "out of memory") : 0;
}

/* Encode text (special tokens not recognised) and append with a mask value. */
static int put_text(const struct sr_chat *chat, const char *s, size_t len, uint8_t mask,
	struct sr_chat_seq *seq, struct sr_ids *scratch, struct sr_error *err)
{
	int rc;
	scratch->len = 0;
	if ((rc = sr_tokenizer_encode(chat->tok, s, len, SR_ENCODE_SPLIT_SPECIAL, scratch, err)) < 0)
		return rc;
	return seq_append(seq, scratch->data, scratch->len, mask) < 0 ?
		sr_fail(err, SR_ENOMEM, "out of memory") : 0;
}

/* Append the header that opens a turn of role. */
static int put_header(const struct sr_chat *chat, const char *role, size_t role_len,
	struct sr_chat_seq *seq, struct sr_ids *scratch, struct sr_error *err)
{
	int rc;
	if ((rc = put_id(seq, chat->start_header, 0, err)) < 0 ||
	    (rc = put_text(chat, role, role_len, 0, seq, scratch, err)) < 0)
		return rc;
	if (chat->format == SR_CHAT_CHATML)
		return put_text(chat, "\n", 1, 0, seq, scratch, err);
	if ((rc = put_id(seq, chat->end_header, 0, err)) < 0)
		return rc;
	return put_text(chat, "\n\n", 2, 0, seq, scratch, err);
}

static int encode_messages(const struct sr_chat *chat, const json_t *messages,
	int generation_prompt, struct sr_chat_seq *seq, struct sr_error *err)
{
	struct sr_ids scratch = { 0 };
	struct message m;
	size_t old_len = seq->len;
	int rc;

	if ((rc = check_messages(messages, err)) < 0)
		return rc;
	if (chat->format == SR_CHAT_LLAMA3 && (rc = put_id(seq, chat->begin, 0, err)) < 0)
		goto done;
	for (size_t i = 0; i < json_array_size(messages); i++) {
		if ((rc = get_message(messages, i, &m, err)) < 0)
			goto done;
		uint8_t mask = !generation_prompt && m.role_len == 9 &&
			memcmp(m.role, "assistant", 9) == 0;
		size_t start = 0, end = m.content_len;
		if (chat->format == SR_CHAT_LLAMA3)
			trim(m.content, &start, &end);
		if ((rc = put_header(chat, m.role, m.role_len, seq, &scratch, err)) < 0 ||
		    (rc = put_text(chat, m.content + start, end - start, mask, seq, &scratch, err)) < 0 ||
		    (rc = put_id(seq, chat->end_turn, mask, err)) < 0)
			goto done;
		if (chat->format == SR_CHAT_CHATML && (rc = put_text(chat, "\n", 1, 0, seq, &scratch, err)) < 0)
			goto done;
	}
	if (generation_prompt)
		rc = put_header(chat, "assistant", 9, seq, &scratch, err);
done:
	if (rc < 0)
		seq->len = old_len;
	sr_ids_release(&scratch);
	return rc;
}

int sr_chat_encode(const struct sr_chat *chat, const json_t *messages,
	struct sr_chat_seq *seq, struct sr_error *err)
{
	return encode_messages(chat, messages, 0, seq, err);
}

int sr_chat_encode_prompt(const struct sr_chat *chat, const json_t *messages,
	struct sr_chat_seq *seq, struct sr_error *err)
{
	return encode_messages(chat, messages, 1, seq, err);
}

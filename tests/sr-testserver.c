/*
 * sr-testserver - a small OpenAI-compatible chat-completions endpoint for
 * tests and benchmarks, on 127.0.0.1 only.
 *
 * Completions are derived from the request alone, so they are the same on
 * every run: reasoning between the guideline set's tags that takes up each
 * guideline's perspective, then a refusal when the request is harmful and
 * a helpful answer otherwise. Harmful means that the system prompt contains a
 * guideline meant only for harmful requests, or, without such a clue, that
 * the last user message contains a keyword of a built-in list or of the
 * set's harm lexicon. Faults are injected by request number so that a test knows
 * exactly which attempts fail. Each request is logged as one JSON line to
 * the --log file, so tests can count what reached the server.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX ((size_t)16 << 20)
#define FAULTS_MAX 16

enum fault_kind {
	FAULT_NONE,
	FAULT_429,       /* 429 with Retry-After in seconds */
	FAULT_429_DATE,  /* 429 with Retry-After as an HTTP date */
	FAULT_408, FAULT_500, FAULT_503,
	FAULT_400, FAULT_401, FAULT_403, FAULT_404,
	FAULT_STALL,     /* respond only after --stall seconds */
	FAULT_DROP,      /* close the connection without a response */
	FAULT_TRUNCATE,  /* send half the body, then close */
	FAULT_NONJSON,   /* 200 with an HTML body */
	FAULT_BADSHAPE,  /* 200 with JSON that is not a chat completion */
	FAULT_SLOW,      /* send the body in small pieces over --slow-ms */
	FAULT_FEWER,     /* return one choice fewer than requested (at least one) */
	FAULT_GAP,       /* leave out the choice with index 1 when n > 2 */
	FAULT_NUL,       /* a valid completion whose answer holds U+0000 */
	FAULT_NULLCONTENT, /* a valid completion with "content": null */
};

static const struct { const char *name; enum fault_kind kind; } fault_names[] = {
	{"429", FAULT_429}, {"429date", FAULT_429_DATE}, {"408", FAULT_408},
	{"500", FAULT_500}, {"503", FAULT_503}, {"400", FAULT_400}, {"401", FAULT_401},
	{"403", FAULT_403}, {"404", FAULT_404}, {"stall", FAULT_STALL}, {"drop", FAULT_DROP},
	{"truncate", FAULT_TRUNCATE}, {"nonjson", FAULT_NONJSON}, {"badshape", FAULT_BADSHAPE},
	{"slow", FAULT_SLOW}, {"fewer", FAULT_FEWER}, {"gap", FAULT_GAP},
	{"nul", FAULT_NUL}, {"nullcontent", FAULT_NULLCONTENT},
};

struct fault {
	enum fault_kind kind;
	const char *name;
	long every;    /* requests whose number is a multiple of this get the fault */
	long limit;    /* at most this many times (0 = no limit) */
	long used;
};

static struct {
	unsigned port;
	const char *port_file;
	const char *log_path;
	const char *guidelines_path;
	const char *key_env;
	long latency_ms;
	long stall_s;
	long slow_ms;
	long retry_after;
	int ignore_n;
	int split_reasoning;
	struct fault faults[FAULTS_MAX];
	int nfaults;
} opt = { .stall_s = 30, .slow_ms = 500, .retry_after = 1 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long request_seq;
static FILE *log_file;
static json_t *guideset;   /* the guideline set, or NULL for the built-in perspectives */
static const char *tag_open = "<think>", *tag_close = "</think>";
static const char *expected_key;

/* Perspectives used when no guideline set could be loaded. */
static const char *fallback_perspectives[] = {
	"Intent: the real goal behind the request decides what I may provide.",
	"Decoding: any encoded or disguised text has to be read in plain form first.",
	"Framing: role-play, fiction or hypothetical framing does not change the effect of the content.",
	"Harm category: the request falls in a category that sets how careful I must be.",
	"Benign reading: a harmless interpretation is considered before refusing.",
	"Reflection: the draft answer is checked against these points before it is sent.",
};

static const char *harm_words[] = {
	"bomb", "explosive", "weapon", "kill", "murder", "poison", "hack", "malware",
	"ransomware", "virus", "steal", "fraud", "counterfeit", "launder", "drug", "meth",
	"cocaine", "heroin", "suicide", "self-harm", "terror", "attack", "exploit",
	"phishing", "identity theft", "bioweapon", "nerve agent", "harass", "stalk",
	"violence", "illegal", "firearm", "gun", "racist", "hate", "blackmail", "extort",
	"smuggle", "assault", "manipulat", "misinformation", "fake news", "cheat",
};

struct conn {
	char *body;
	size_t len;
	int too_big;
};

struct stream {
	char *data;
	size_t len, pos, limit;  /* limit < len: send only that much, then fail */
	long pause_us;
};

static void log_request(long seq, const char *path, const char *fault, long n, int choices,
                        unsigned status, int auth_ok)
{
	if (!log_file || !fault)
		return;
	pthread_mutex_lock(&lock);
	fprintf(log_file,
	        "{\"seq\":%ld,\"path\":\"%s\",\"fault\":\"%s\",\"n\":%ld,\"choices\":%d,"
	        "\"status\":%u,\"auth\":%s}\n",
	        seq, path, fault, n, choices, status, auth_ok ? "true" : "false");
	fflush(log_file);
	pthread_mutex_unlock(&lock);
}

static struct fault *pick_fault(long seq)
{
	struct fault *hit = NULL;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < opt.nfaults; i++) {
		struct fault *f = &opt.faults[i];
		if (seq % f->every != 0 || (f->limit && f->used >= f->limit))
			continue;
		f->used++;
		hit = f;
		break;
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

static int contains_ci(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

static int looks_harmful(const char *query)
{
	for (size_t i = 0; i < sizeof harm_words / sizeof *harm_words; i++)
		if (contains_ci(query, harm_words[i]))
			return 1;

	json_t *lex = json_object_get(json_object_get(guideset, "detect"), "harm_lexicon");
	size_t i, j;
	json_t *entry, *word;
	json_array_foreach(lex, i, entry) {
		json_array_foreach(json_object_get(entry, "keywords"), j, word) {
			const char *w = json_string_value(word);
			if (w && w[0] && contains_ci(query, w))
				return 1;
		}
	}
	return 0;
}

/* The label a prompt was built for, read from its system message: sr-guide
 * leaves out guidelines that do not apply to the record's label, so a
 * single-label guideline's title in the system prompt gives the label
 * away. Returns 1 harmful, 0 benign, -1 when it cannot tell. */
static int label_from_system(json_t *messages)
{
	const char *system = NULL;
	size_t i;
	json_t *m, *g;

	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		if (role && strcmp(role, "system") == 0)
			system = json_string_value(json_object_get(m, "content"));
	}
	if (!system)
		return -1;
	json_array_foreach(json_object_get(guideset, "guidelines"), i, g) {
		json_t *labels = json_object_get(g, "labels");
		const char *title = json_string_value(json_object_get(g, "title"));
		const char *only = json_string_value(json_array_get(labels, 0));
		if (json_array_size(labels) != 1 || !title || !only || !strstr(system, title))
			continue;
		return strcmp(only, "harmful") == 0;
	}
	return -1;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (*buf && *len + (size_t)n < *cap) {
			*len += (size_t)n;
			return;
		}
		*cap = (*cap + (size_t)n + 1) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
}

/* Replace each {{name}} in tmpl with a generic value for the server's completions. */
static void expand_template(char **out, size_t *len, size_t *cap, const char *tmpl,
                            const char *excerpt, int harmful)
{
	const char *p = tmpl, *open;

	while ((open = strstr(p, "{{")) != NULL) {
		const char *end = strstr(open + 2, "}}");
		if (!end)
			break;
		buf_printf(out, len, cap, "%.*s", (int)(open - p), p);
		size_t nlen = (size_t)(end - open - 2);
		const char *v = harmful ? "dangerous material" : "everyday help";
		if ((nlen == 5 && strncmp(open + 2, "query", 5) == 0) ||
		    (nlen == 7 && strncmp(open + 2, "decoded", 7) == 0))
			v = excerpt;
		else if (nlen == 8 && strncmp(open + 2, "severity", 8) == 0)
			v = "high";
		buf_printf(out, len, cap, "%s", v);
		p = end + 2;
	}
	buf_printf(out, len, cap, "%s", p);
}

/* One reasoning step per guideline that applies to the label: the first
 * template of the set's builtin.steps for the case, else title and
 * instruction. */
static void write_steps(char **out, size_t *len, size_t *cap, const char *excerpt, int harmful)
{
	json_t *gl = json_object_get(guideset, "guidelines");
	json_t *steps = json_object_get(json_object_get(guideset, "builtin"), "steps");
	const char *cases[] = {harmful ? "harmful" : "benign", harmful ? "refuse" : "comply",
	                       "plain", "any"};
	size_t i;
	json_t *g;

	json_array_foreach(gl, i, g) {
		const char *id = json_string_value(json_object_get(g, "id"));
		json_t *labels = json_object_get(g, "labels");
		int applies = json_array_size(labels) == 0;
		size_t k;
		json_t *l;
		json_array_foreach(labels, k, l)
			if (json_string_value(l) &&
			    strcmp(json_string_value(l), harmful ? "harmful" : "benign") == 0)
				applies = 1;
		if (!applies)
			continue;
		const char *tmpl = NULL;
		json_t *gsteps = json_object_get(steps, id ? id : "");
		for (size_t c = 0; c < 4 && !tmpl; c++)
			tmpl = json_string_value(json_array_get(json_object_get(gsteps, cases[c]), 0));
		if (tmpl) {
			expand_template(out, len, cap, tmpl, excerpt, harmful);
			buf_printf(out, len, cap, "\n");
		} else {
			const char *title = json_string_value(json_object_get(g, "title"));
			const char *instr = json_string_value(json_object_get(g, "instruction"));
			buf_printf(out, len, cap, "%s: %s\n", title ? title : "Guideline",
			           instr ? instr : "considered.");
		}
	}
}

/* The completion text for one choice. Not inlined: GCC 12 then takes the
 * returned heap pointer for one into make_content's frame
 * (-Wdangling-pointer). */
__attribute__((noinline)) static char *make_content(const char *query, int harmful, uint64_t variant)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	char excerpt[81];

	snprintf(excerpt, sizeof excerpt, "%s", query);
	/* Cutting at 80 bytes may split a UTF-8 character; drop the partial
	 * one, or the answer would not be valid JSON text. */
	size_t n = strlen(excerpt), start = n;
	while (start > 0 && ((unsigned char)excerpt[start - 1] & 0xC0) == 0x80)
		start--;
	if (start > 0 && (unsigned char)excerpt[start - 1] >= 0xC0) {
		unsigned char lead = (unsigned char)excerpt[start - 1];
		size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
		if (n - (start - 1) < need)
			excerpt[start - 1] = '\0';
	}
	for (char *p = excerpt; *p; p++)
		if (*p == '\n' || *p == '"')
			*p = ' ';
	buf_printf(&out, &len, &cap, "%s\n", tag_open);
	if (json_array_size(json_object_get(guideset, "guidelines")) > 0) {
		write_steps(&out, &len, &cap, excerpt, harmful);
	} else {
		for (size_t i = 0; i < sizeof fallback_perspectives / sizeof *fallback_perspectives; i++)
			buf_printf(&out, &len, &cap, "%s\n", fallback_perspectives[i]);
	}
	if (harmful)
		buf_printf(&out, &len, &cap,
		           "%s\n\nI'm sorry, but I can't help with that, because it could cause "
		           "serious harm to people. (variant %" PRIu64 ")",
		           tag_close, variant % 1000);
	else
		buf_printf(&out, &len, &cap,
		           "%s\n\nSure. Here is a clear and useful answer to your question: start with "
		           "the basics, then work through each step carefully, and check the "
		           "result at the end. (variant %" PRIu64 ")",
		           tag_close, variant % 1000);
	return out;
}

static long count_words(const char *s)
{
	long n = 0;
	int in = 0;
	for (; *s; s++) {
		if (isspace((unsigned char)*s))
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

/* Cut text after max_words words; returns 1 if it was cut. */
static int cut_words(char *text, long max_words)
{
	long n = 0;
	int in = 0;
	for (char *p = text; *p; p++) {
		if (isspace((unsigned char)*p)) {
			in = 0;
		} else if (!in) {
			in = 1;
			if (++n > max_words) {
				*p = '\0';
				return 1;
			}
		}
	}
	return 0;
}

static enum MHD_Result queue_json(struct MHD_Connection *c, unsigned status, const char *body,
                                  const char *retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	                                                         MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (retry_after)
		MHD_add_response_header(r, "Retry-After", retry_after);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, unsigned status, const char *type,
                                   const char *message, const char *retry_after)
{
	json_t *e = json_pack("{s:{s:s,s:s,s:n}}", "error", "message", message, "type", type, "code");
	char *s = json_dumps(e, JSON_COMPACT);
	enum MHD_Result ret = queue_json(c, status, s, retry_after);
	free(s);
	json_decref(e);
	return ret;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t end = s->limit;

	if (s->pos >= end)
		return s->limit < s->len ? MHD_CONTENT_READER_END_WITH_ERROR
		                         : MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = end - s->pos;
	if (s->pause_us > 0) {
		usleep((useconds_t)s->pause_us);
		if (n > 64)
			n = 64;
	}
	if (n > max)
		n = max;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	free(s->data);
	free(s);
}

static enum MHD_Result queue_stream(struct MHD_Connection *c, char *body, enum fault_kind kind)
{
	struct stream *s = calloc(1, sizeof *s);
	s->data = body;
	s->len = strlen(body);
	s->limit = kind == FAULT_TRUNCATE ? s->len / 2 : s->len;
	if (kind == FAULT_SLOW) {
		size_t pieces = (s->len + 63) / 64;
		s->pause_us = opt.slow_ms * 1000 / (long)(pieces ? pieces : 1);
	}
	struct MHD_Response *r = MHD_create_response_from_callback(s->len, 64 * 1024, stream_read,
	                                                           s, stream_free);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result fault_response(struct MHD_Connection *c, struct fault *f)
{
	char when[64];

	switch (f->kind) {
	case FAULT_429:
		snprintf(when, sizeof when, "%ld", opt.retry_after);
		return queue_error(c, 429, "rate_limit_exceeded", "Rate limit reached; slow down.", when);
	case FAULT_429_DATE: {
		time_t t = time(NULL) + opt.retry_after;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		return queue_error(c, 429, "rate_limit_exceeded", "Rate limit reached; slow down.", when);
	}
	case FAULT_408:
		return queue_error(c, 408, "timeout", "Request timed out upstream.", NULL);
	case FAULT_500:
		return queue_error(c, 500, "server_error", "The server had an error.", NULL);
	case FAULT_503:
		return queue_error(c, 503, "overloaded", "The engine is currently overloaded.", NULL);
	case FAULT_400:
		return queue_error(c, 400, "invalid_request_error",
		                   "Injected fault: this request is invalid.", NULL);
	case FAULT_401:
		return queue_error(c, 401, "invalid_api_key", "Injected fault: incorrect API key.", NULL);
	case FAULT_403:
		return queue_error(c, 403, "permission_denied", "Injected fault: access denied.", NULL);
	case FAULT_404:
		return queue_error(c, 404, "model_not_found", "Injected fault: no such model.", NULL);
	case FAULT_NONJSON: {
		const char *html = "<html><body>502 Bad Gateway</body></html>";
		struct MHD_Response *r = MHD_create_response_from_buffer(strlen(html), (void *)html,
		                                                         MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Content-Type", "text/html");
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	case FAULT_BADSHAPE:
		return queue_json(c, 200, "{\"object\":\"chat.completion\",\"choices\":\"none\"}", NULL);
	default:
		return MHD_NO;
	}
}

static const char *last_user_message(json_t *messages)
{
	const char *q = "";
	size_t i;
	json_t *m;
	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *content = json_string_value(json_object_get(m, "content"));
		if (role && content && strcmp(role, "user") == 0)
			q = content;
	}
	return q;
}

static enum MHD_Result handle_chat(struct MHD_Connection *c, struct conn *cn, long seq, int auth_ok)
{
	struct fault *f = pick_fault(seq);
	enum fault_kind kind = f ? f->kind : FAULT_NONE;
	const char *fault_name = f ? f->name : "";
	json_error_t jerr;

	if (expected_key && !auth_ok && kind == FAULT_NONE) {
		/* Like some real endpoints, echo the key that was sent, so tests can
		 * check that the client keeps it out of every message. */
		const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		char msg[512];
		snprintf(msg, sizeof msg, "Incorrect API key provided: %s.",
		         h && strncmp(h, "Bearer ", 7) == 0 ? h + 7 : "(none)");
		log_request(seq, "/v1/chat/completions", "", 0, 0, 401, 0);
		return queue_error(c, 401, "invalid_api_key", msg, NULL);
	}
	if (opt.latency_ms > 0)
		usleep((useconds_t)opt.latency_ms * 1000);
	if (kind == FAULT_STALL) {
		/* Logged now: the client has usually given up before the stall ends. */
		log_request(seq, "/v1/chat/completions", fault_name, 0, 0, 0, auth_ok);
		sleep((unsigned)opt.stall_s);
		fault_name = NULL;  /* already logged */
	}
	if (kind == FAULT_DROP) {
		log_request(seq, "/v1/chat/completions", fault_name, 0, 0, 0, auth_ok);
		return MHD_NO;
	}
	if (kind != FAULT_NONE && kind != FAULT_STALL && kind != FAULT_TRUNCATE &&
	    kind != FAULT_SLOW && kind != FAULT_FEWER && kind != FAULT_GAP && kind != FAULT_NUL &&
	    kind != FAULT_NULLCONTENT) {
		log_request(seq, "/v1/chat/completions", fault_name, 0, 0,
		            kind == FAULT_NONJSON || kind == FAULT_BADSHAPE ? 200 : 0, auth_ok);
		return fault_response(c, f);
	}

	json_t *req = json_loadb(cn->body ? cn->body : "", cn->len, 0, &jerr);
	json_t *messages = json_object_get(req, "messages");
	const char *model = json_string_value(json_object_get(req, "model"));
	if (!json_is_object(req) || !json_is_array(messages) || !model) {
		json_decref(req);
		log_request(seq, "/v1/chat/completions", fault_name, 0, 0, 400, auth_ok);
		return queue_error(c, 400, "invalid_request_error",
		                   "The body must be a JSON object with \"model\" and \"messages\".", NULL);
	}
	json_int_t n = 1;
	json_t *nv = json_object_get(req, "n");
	if (nv) {
		if (!json_is_integer(nv) || json_integer_value(nv) < 1 || json_integer_value(nv) > 128) {
			json_decref(req);
			log_request(seq, "/v1/chat/completions", fault_name, 0, 0, 400, auth_ok);
			return queue_error(c, 400, "invalid_request_error",
			                   "\"n\" must be an integer from 1 to 128.", NULL);
		}
		n = json_integer_value(nv);
	}
	int choices = opt.ignore_n ? 1 : (int)n;
	if (kind == FAULT_FEWER && choices > 1)
		choices--;
	long max_tokens = json_integer_value(json_object_get(req, "max_tokens"));
	if (max_tokens <= 0)
		max_tokens = json_integer_value(json_object_get(req, "max_completion_tokens"));

	const char *query = last_user_message(messages);
	int harmful = label_from_system(messages);
	if (harmful < 0)
		harmful = looks_harmful(query);
	uint64_t h = fnv1a(query, 1469598103934665603ULL);
	h = fnv1a(model, h);
	json_t *seed = json_object_get(req, "seed");
	if (json_is_integer(seed))
		h ^= (uint64_t)json_integer_value(seed) * 0x9E3779B97F4A7C15ULL;

	long prompt_tokens = 0;
	size_t i;
	json_t *m;
	json_array_foreach(messages, i, m)
		prompt_tokens += count_words(json_string_value(json_object_get(m, "content")) ?: "");

	json_t *arr = json_array();
	long completion_tokens = 0;
	int returned = 0;
	for (int k = 0; k < choices; k++) {
		if (kind == FAULT_GAP && k == 1 && choices > 2)
			continue;
		returned++;
		char *text = make_content(query, harmful, h + (uint64_t)k * 7919);
		const char *finish = "stop";
		if (max_tokens > 0 && cut_words(text, max_tokens))
			finish = "length";
		completion_tokens += count_words(text);
		json_t *message = json_pack("{s:s,s:s}", "role", "assistant", "content", text);
		size_t olen = strlen(tag_open), clen = strlen(tag_close);
		char *close = strstr(text, tag_close);
		if (opt.split_reasoning && strncmp(text, tag_open, olen) == 0 && close) {
			/* Like vLLM's reasoning parsers: the reasoning apart, the
			 * content only what follows the close tag. */
			const char *r = text + olen, *rend = close;
			while (*r == '\n')
				r++;
			while (rend > r && rend[-1] == '\n')
				rend--;
			const char *answer = close + clen;
			while (*answer == '\n')
				answer++;
			json_object_set_new(message, "reasoning_content", json_stringn(r, (size_t)(rend - r)));
			json_object_set_new(message, "content", json_string(answer));
		}
		if (kind == FAULT_NUL) {
			/* The content with " \0 nul" appended: JSON's \u0000. */
			const char *ct = json_string_value(json_object_get(message, "content"));
			size_t ctlen = strlen(ct);
			char *withnul = malloc(ctlen + 6);
			memcpy(withnul, ct, ctlen);
			memcpy(withnul + ctlen, " \0 nul", 6);
			json_object_set_new(message, "content", json_stringn(withnul, ctlen + 6));
			free(withnul);
		} else if (kind == FAULT_NULLCONTENT) {
			json_object_set_new(message, "content", json_null());
		}
		json_array_append_new(arr, json_pack("{s:i,s:o,s:s}", "index", k, "message", message,
		                                     "finish_reason", finish));
		free(text);
	}
	char id[40];
	snprintf(id, sizeof id, "chatcmpl-%016" PRIx64, h);
	json_t *resp = json_pack("{s:s,s:s,s:i,s:s,s:o,s:{s:i,s:i,s:i}}", "id", id, "object",
	                         "chat.completion", "created", 1700000000, "model", model,
	                         "choices", arr, "usage", "prompt_tokens", (json_int_t)prompt_tokens,
	                         "completion_tokens", (json_int_t)completion_tokens, "total_tokens",
	                         (json_int_t)(prompt_tokens + completion_tokens));
	char *body = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	json_decref(req);
	log_request(seq, "/v1/chat/completions", fault_name, (long)n, returned, 200, auth_ok);
	if (kind == FAULT_TRUNCATE || kind == FAULT_SLOW)
		return queue_stream(c, body, kind);
	enum MHD_Result ret = queue_json(c, 200, body, NULL);
	free(body);
	return ret;
}

static int check_auth(struct MHD_Connection *c)
{
	if (!expected_key)
		return 1;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	return h && strncmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, expected_key) == 0;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
	struct conn *cn = *con_cls;

	if (!cn) {
		cn = calloc(1, sizeof *cn);
		*con_cls = cn;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (cn->len + *upload_size > BODY_MAX) {
			cn->too_big = 1;
		} else {
			cn->body = realloc(cn->body, cn->len + *upload_size + 1);
			memcpy(cn->body + cn->len, upload, *upload_size);
			cn->len += *upload_size;
			cn->body[cn->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}

	pthread_mutex_lock(&lock);
	long seq = ++request_seq;
	pthread_mutex_unlock(&lock);
	int auth_ok = check_auth(c);

	if (strcmp(url, "/v1/models") == 0 && strcmp(method, "GET") == 0) {
		log_request(seq, "/v1/models", "", 0, 0, 200, auth_ok);
		return queue_json(c, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"test-model\","
		                  "\"object\":\"model\",\"owned_by\":\"srkit\"}]}", NULL);
	}
	if (strcmp(url, "/v1/chat/completions") != 0) {
		log_request(seq, "other", "", 0, 0, 404, auth_ok);
		return queue_error(c, 404, "not_found", "Unknown URL; try /v1/chat/completions.", NULL);
	}
	if (strcmp(method, "POST") != 0) {
		log_request(seq, "/v1/chat/completions", "", 0, 0, 405, auth_ok);
		return queue_error(c, 405, "invalid_request_error", "Use POST.", NULL);
	}
	if (cn->too_big) {
		log_request(seq, "/v1/chat/completions", "", 0, 0, 413, auth_ok);
		return queue_error(c, 413, "invalid_request_error", "The body is too large.", NULL);
	}
	return handle_chat(c, cn, seq, auth_ok);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;
	if (cn) {
		free(cn->body);
		free(cn);
	}
	*con_cls = NULL;
}

static void load_guidelines(void)
{
	char path[4096];
	const char *p = opt.guidelines_path;
	json_error_t jerr;

	if (!p) {
		const char *dir = getenv("SRKIT_DATADIR");
		if (!dir)
			return;
		snprintf(path, sizeof path, "%s/guidelines/default.json", dir);
		if (access(path, R_OK) != 0)
			return;
		p = path;
	}
	guideset = json_load_file(p, 0, &jerr);
	if (!guideset) {
		fprintf(stderr, "sr-testserver: error: cannot load guideline set '%s': %s\n", p, jerr.text);
		exit(2);
	}
	json_t *tags = json_object_get(guideset, "tags");
	if (json_string_value(json_object_get(tags, "open")))
		tag_open = json_string_value(json_object_get(tags, "open"));
	if (json_string_value(json_object_get(tags, "close")))
		tag_close = json_string_value(json_object_get(tags, "close"));
}

static int add_fault(const char *spec)
{
	char name[32];
	long every = 1, limit = 0;
	const char *colon = strchr(spec, ':');
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);

	if (nlen == 0 || nlen >= sizeof name || opt.nfaults == FAULTS_MAX)
		return -1;
	memcpy(name, spec, nlen);
	name[nlen] = '\0';
	if (colon) {
		char *end;
		every = strtol(colon + 1, &end, 10);
		if (every < 1)
			return -1;
		if (*end == ':') {
			limit = strtol(end + 1, &end, 10);
			if (limit < 1)
				return -1;
		}
		if (*end)
			return -1;
	}
	for (size_t i = 0; i < sizeof fault_names / sizeof *fault_names; i++) {
		if (strcmp(fault_names[i].name, name) == 0) {
			struct fault *f = &opt.faults[opt.nfaults++];
			f->kind = fault_names[i].kind;
			f->name = fault_names[i].name;
			f->every = every;
			f->limit = limit;
			return 0;
		}
	}
	return -1;
}

static void usage(FILE *to)
{
	fputs("Usage: sr-testserver [OPTION]...\n"
	      "Serve an OpenAI-compatible /v1/chat/completions and /v1/models on 127.0.0.1.\n\n"
	      "  -p, --port N            listen on port N (default 0: a free port)\n"
	      "      --port-file FILE    write the port number to FILE once listening\n"
	      "      --log FILE          append one JSON line per request (seq, fault, n, status)\n"
	      "      --latency MS        wait MS milliseconds before every response\n"
	      "      --fault KIND[:EVERY[:LIMIT]]\n"
	      "                          inject KIND into every EVERY-th request (default 1),\n"
	      "                          at most LIMIT times; repeatable, the first match wins.\n"
	      "                          KIND: 429 429date 408 500 503 400 401 403 404 stall\n"
	      "                          drop truncate nonjson badshape slow fewer gap\n"
	      "                          nul (content holds U+0000) nullcontent (content null)\n"
	      "      --retry-after S     Retry-After of the 429 faults, in seconds (default 1)\n"
	      "      --stall S           how long a stall lasts, in seconds (default 30)\n"
	      "      --slow-ms MS        how long a slow body takes to send (default 500)\n"
	      "      --ignore-n          return one choice whatever \"n\" asks for\n"
	      "      --split-reasoning   return the reasoning in message.reasoning_content and\n"
	      "                          only the reply in message.content, as vLLM can\n"
	      "      --require-key VAR   answer 401 unless the Bearer token equals $VAR\n"
	      "  -g, --guidelines FILE   guideline set whose perspectives the reasoning covers\n"
	      "                          (default: $SRKIT_DATADIR/guidelines/default.json)\n"
	      "  -h, --help              show this help\n\n"
	      "Prints the port on standard output; stops on SIGTERM or SIGINT.\n", to);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'P'},
		{"log", required_argument, NULL, 'l'},
		{"latency", required_argument, NULL, 'L'},
		{"fault", required_argument, NULL, 'f'},
		{"retry-after", required_argument, NULL, 'r'},
		{"stall", required_argument, NULL, 's'},
		{"slow-ms", required_argument, NULL, 'S'},
		{"ignore-n", no_argument, NULL, 'i'},
		{"split-reasoning", no_argument, NULL, 'R'},
		{"require-key", required_argument, NULL, 'k'},
		{"guidelines", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	sigset_t sigs;

	while ((ch = getopt_long(argc, argv, "p:g:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': opt.port = (unsigned)atoi(optarg); break;
		case 'P': opt.port_file = optarg; break;
		case 'l': opt.log_path = optarg; break;
		case 'L': opt.latency_ms = atol(optarg); break;
		case 'r': opt.retry_after = atol(optarg); break;
		case 's': opt.stall_s = atol(optarg); break;
		case 'S': opt.slow_ms = atol(optarg); break;
		case 'i': opt.ignore_n = 1; break;
		case 'R': opt.split_reasoning = 1; break;
		case 'k': opt.key_env = optarg; break;
		case 'g': opt.guidelines_path = optarg; break;
		case 'f':
			if (add_fault(optarg) < 0) {
				fprintf(stderr, "sr-testserver: error: invalid fault '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (opt.key_env) {
		expected_key = getenv(opt.key_env);
		if (!expected_key || !expected_key[0]) {
			fprintf(stderr, "sr-testserver: error: environment variable '%s' is not set\n",
			        opt.key_env);
			return 2;
		}
	}
	load_guidelines();
	if (opt.log_path && !(log_file = fopen(opt.log_path, "a"))) {
		fprintf(stderr, "sr-testserver: error: cannot open '%s': %s\n", opt.log_path,
		        strerror(errno));
		return 2;
	}

	/* Signals are taken by sigwait below, so block them in every thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in addr = {0};
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)opt.port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, handler, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "sr-testserver: error: cannot listen on 127.0.0.1:%u\n", opt.port);
		return 3;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned port = info ? info->port : opt.port;
	if (opt.port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", opt.port_file);
		FILE *pf = fopen(tmp, "w");
		if (!pf || fprintf(pf, "%u\n", port) < 0 || fclose(pf) != 0 ||
		    rename(tmp, opt.port_file) != 0) {
			fprintf(stderr, "sr-testserver: error: cannot write '%s'\n", opt.port_file);
			return 3;
		}
	}
	printf("%u\n", port);
	fflush(stdout);

	int sig;
	sigwait(&sigs, &sig);
	if (log_file)
		fflush(log_file);
	/* Stalled handler threads may sleep for a long time; do not join them. */
	_exit(0);
}

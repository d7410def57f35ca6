/*
 * client.c - the chat-completions client (see client.h).
 *
 * Life of a request: sr_client_submit looks every sample up in the cache
 * and queues transfers for the rest, one per contiguous run of missing
 * samples when "n" is in use, else one per sample. sr_client_run starts
 * queued transfers as far as concurrency, rpm, tpm and any 429 pause
 * allow, and drives curl. A finished transfer ends in one of three ways:
 * success (samples written to the cache, then stored in the result),
 * retry (queued again after a backoff) or failure (samples get the
 * error). A request whose samples are all settled moves to the done list,
 * and its callback runs at the end of sr_client_run.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache.h"
#include "client.h"
#include "record.h"
#include "util.h"

/* Completion tokens assumed per sample for --tpm accounting when the body
 * sets no max_tokens; corrected by the usage the response reports. */
#define TPM_DEFAULT_COMPLETION 512

struct request {
	struct sr_client *client;
	char *name;               /* for log messages: the caller's name, or "#N" */
	char *body_text;          /* the body as sent, without model, n and seed */
	size_t body_len;
	int64_t seed;             /* the base seed, or -1 */
	long max_tokens;          /* for tpm estimates, 0 when unknown */
	struct sr_cache_key key_base; /* hash of body and seed, for the cache keys */
	int n;
	sr_client_done_fn done;
	void *user;
	struct sr_client_result *res;
	int unsettled;            /* samples still without text or error */
	double first_send;        /* monotonic time of the first attempt, 0 before */
	double last_done;
	struct request *next;     /* in the done list */
	int in_done;              /* already in the done list */
	struct request *live_prev, *live_next; /* in the list of all unfinished requests */
};

struct transfer {
	struct request *req;
	int first, count;         /* samples [first, first + count) */
	int attempt;              /* attempts made so far */
	int n_probe;              /* re-sent one by one after a 400 to an "n" request */
	double not_before;        /* monotonic time before which it may not start */
	long est_tokens;          /* tokens charged to the tpm bucket */
	CURL *easy;
	struct curl_slist *headers;
	char *payload;
	struct sr_buf resp;
	int resp_too_big;
	double retry_after;       /* seconds from the Retry-After header, -1 when absent */
	double started;
	struct transfer *next;    /* in the queue */
	struct transfer *run_prev, *run_next; /* in the list of running transfers */
};

struct sr_client {
	struct sr_client_config cfg;
	char *endpoint, *model, *url, *host, *cache_path;
	char *model_json;         /* the model name as a JSON string */
	char *auth_header;        /* "Authorization: Bearer KEY", or NULL */
	const char *key;          /* the key inside auth_header, for redaction */
	CURLM *multi;
	struct sr_cache *cache;
	struct sr_rng rng;

	struct transfer *queue_head, *queue_tail; /* waiting to start, FIFO */
	struct request *done_head, *done_tail;    /* settled, callbacks not yet run */
	struct request *live;                     /* every request not yet handed back */
	struct transfer *running;                 /* transfers added to the multi handle */
	size_t pending;
	int in_flight;

	int use_n;
	int concurrency_now;
	int successes_since_cut;  /* for the additive increase after a 429 cut */
	double pause_until;       /* no transfer starts before this (after a 429) */
	double rpm_tokens, tpm_tokens, bucket_time;

	int stopped;
	int fatal;                /* SR_E* code that ends the run, or 0 */
	char fatal_message[1024];
	struct sr_client_stats st;
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void client_log(struct sr_client *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void client_log(struct sr_client *c, int level, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	if (!c->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->cfg.log(c->cfg.log_user, level, msg);
}

void sr_client_config_init(struct sr_client_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->api_key_env = "OPENAI_API_KEY";
	cfg->concurrency = 16;
	cfg->timeout = 600;
	cfg->connect_timeout = 30;
	cfg->max_retries = 8;
	cfg->backoff_base = 1;
	cfg->backoff_max = 60;
	cfg->use_n = 1;
	cfg->max_response = (size_t)64 << 20;
	cfg->fsync_interval = 1;
}

/* ---- Retry-After ---- */

double sr_retry_after_parse(const char *value, time_t now)
{
	static const char *formats[] = {
		"%a, %d %b %Y %H:%M:%S GMT",  /* IMF-fixdate */
		"%A, %d-%b-%y %H:%M:%S GMT",  /* obsolete RFC 850 form */
		"%a %b %d %H:%M:%S %Y",       /* obsolete asctime form */
	};
	const char *p = value;

	if (!value)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (isdigit((unsigned char)*p)) {
		char *end;
		errno = 0;
		double secs = strtod(p, &end);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (errno == 0 && *end == '\0' && secs >= 0 && isfinite(secs))
			return secs;
		return -1;
	}
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(p, formats[i], &tm);
		if (!end)
			continue;
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (*end)
			continue;
		time_t when = timegm(&tm);
		if (when == (time_t)-1)
			continue;
		return when > now ? (double)(when - now) : 0;
	}
	return -1;
}

/* ---- configuration ---- */

/* host[:port] of a URL, without scheme, user information, path or query. */
static char *url_host(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t len = strcspn(p, "/?#");
	const char *at = memchr(p, '@', len);
	if (at) {
		len -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	return strndup(p, len);
}

/* Cache file name for an endpoint and model: the host and model made safe
 * for a file name, then a hash of the full endpoint URL and model so that
 * two endpoints on one host do not share a file. */
static int default_cache_path(const char *endpoint, const char *host, const char *model,
                              char **out, struct sr_error *err)
{
	char dir[3072];
	struct sr_buf b = {0};
	int rc;

	if ((rc = sr_cache_default_dir(dir, sizeof dir, err)) < 0)
		return rc;
	uint64_t h = sr_hash64(endpoint, strlen(endpoint), sr_hash64(model, strlen(model), 0));
	sr_buf_printf(&b, "%s/", dir);
	const char *parts[2] = {host, model};
	for (int i = 0; i < 2; i++) {
		for (const char *s = parts[i]; *s && b.len < sizeof dir + 96; s++) {
			char ch = isalnum((unsigned char)*s) || *s == '.' || *s == '-' ? *s : '_';
			sr_buf_append(&b, &ch, 1);
		}
		sr_buf_puts(&b, "-");
	}
	if (sr_buf_printf(&b, "%016llx.jsonl", (unsigned long long)h) < 0) {
		sr_buf_release(&b);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	*out = b.data;
	return 0;
}

static int curl_global_ready;

int sr_client_new(const struct sr_client_config *cfg, struct sr_client **out, struct sr_error *err)
{
	struct sr_client *c;
	int rc;

	*out = NULL;
	if (!cfg->endpoint || !cfg->endpoint[0])
		return sr_fail(err, SR_EUSAGE, "no endpoint configured");
	if (strncmp(cfg->endpoint, "http://", 7) != 0 && strncmp(cfg->endpoint, "https://", 8) != 0)
		return sr_fail(err, SR_EUSAGE, "invalid endpoint '%s': expected an http:// or https:// URL",
		               cfg->endpoint);
	if (!cfg->model || !cfg->model[0])
		return sr_fail(err, SR_EUSAGE, "no model configured");
	if (cfg->concurrency < 1)
		return sr_fail(err, SR_EUSAGE, "invalid concurrency %d: expected at least 1",
		               cfg->concurrency);
	if (!curl_global_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return sr_fail(err, SR_EIO, "cannot initialise libcurl");
		curl_global_ready = 1;
	}
	if (!(c = calloc(1, sizeof *c)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	c->cfg = *cfg;
	c->endpoint = strdup(cfg->endpoint);
	c->model = strdup(cfg->model);
	if (!c->endpoint || !c->model)
		goto nomem;
	size_t elen = strlen(c->endpoint);
	while (elen > 0 && c->endpoint[elen - 1] == '/')
		c->endpoint[--elen] = '\0';
	if (asprintf(&c->url, "%s/chat/completions", c->endpoint) < 0) {
		c->url = NULL;
		goto nomem;
	}
	if (!(c->host = url_host(c->endpoint)))
		goto nomem;
	json_t *mj = json_string(c->model);
	c->model_json = mj ? sr_json_dumps(mj) : NULL;
	json_decref(mj);
	if (!c->model_json)
		goto nomem;

	const char *env = cfg->api_key_env ? cfg->api_key_env : "OPENAI_API_KEY";
	const char *key = getenv(env);
	/* A CR or LF in the key would end the header line and start another
	 * one, so a key with any control character is rejected. The message
	 * names the variable, never the value. */
	for (size_t i = 0; key && key[i]; i++) {
		unsigned char ch = (unsigned char)key[i];
		if (ch < 0x20 || ch == 0x7f) {
			char what[8];
			snprintf(what, sizeof what, "%s", ch == '\r' ? "CR" : ch == '\n' ? "LF" : "");
			if (!what[0])
				snprintf(what, sizeof what, "0x%02x", ch);
			rc = sr_fail(err, SR_EUSAGE, "invalid API key in $%s: it contains a control "
			             "character (%s) at byte %zu; set the variable to the key alone, "
			             "without line ends", env, what, i + 1);
			goto fail;
		}
	}
	if (key && key[0]) {
		if (asprintf(&c->auth_header, "Authorization: Bearer %s", key) < 0) {
			c->auth_header = NULL;
			goto nomem;
		}
		c->key = c->auth_header + strlen("Authorization: Bearer ");
	}

	if (!cfg->cache_path) {
		if ((rc = default_cache_path(c->endpoint, c->host, c->model, &c->cache_path, err)) < 0)
			goto fail;
	} else if (cfg->cache_path[0]) {
		if (!(c->cache_path = strdup(cfg->cache_path)))
			goto nomem;
	}
	if (c->cache_path &&
	    (rc = sr_cache_open(c->cache_path, cfg->fsync_interval, &c->cache, err)) < 0)
		goto fail;
	if (c->cache && sr_cache_repaired(c->cache))
		client_log(c, SR_CLIENT_LOG_WARN, "repaired cache '%s': removed a cut last line",
		           c->cache_path);

	if (!(c->multi = curl_multi_init()))
		goto nomem;
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->concurrency);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)cfg->concurrency);
	sr_rng_seed(&c->rng, cfg->jitter_seed);
	c->use_n = cfg->use_n;
	c->concurrency_now = cfg->concurrency;
	c->bucket_time = now_mono();
	c->rpm_tokens = cfg->rpm > 0 ? fmax(1, cfg->rpm / 60) : 0;
	c->tpm_tokens = cfg->tpm > 0 ? cfg->tpm / 60 : 0;
	*out = c;
	return 0;
nomem:
	rc = sr_fail(err, SR_ENOMEM, "out of memory");
fail:
	sr_client_free(c);
	return rc;
}

const char *sr_client_host(const struct sr_client *c)
{
	return c->host;
}

const char *sr_client_cache_path(const struct sr_client *c)
{
	return c->cache ? c->cache_path : NULL;
}

size_t sr_client_pending(const struct sr_client *c)
{
	return c->pending;
}

void sr_client_get_stats(const struct sr_client *c, struct sr_client_stats *st)
{
	*st = c->st;
	st->in_flight = c->in_flight;
	st->concurrency_now = c->concurrency_now;
	st->use_n = c->use_n;
}

/* ---- results ---- */

static void sample_release(struct sr_client_sample *s)
{
	free(s->text);
	free(s->finish_reason);
	free(s->reasoning_content);
}

void sr_client_result_free(struct sr_client_result *res)
{
	if (!res)
		return;
	for (int i = 0; i < res->n; i++)
		sample_release(&res->samples[i]);
	free(res->samples);
	free(res);
}

void sr_client_results_free(struct sr_client_result **res, size_t count)
{
	if (!res)
		return;
	for (size_t i = 0; i < count; i++)
		sr_client_result_free(res[i]);
	free(res);
}

static void set_error(struct sr_client_error *e, const char *kind, long status, int attempts,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void set_error(struct sr_client_error *e, const char *kind, long status, int attempts,
                      const char *fmt, ...)
{
	va_list ap;

	snprintf(e->kind, sizeof e->kind, "%s", kind);
	e->status = status;
	e->attempts = attempts;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

static void request_settle_check(struct request *r)
{
	struct sr_client *c = r->client;

	/* Several failures may settle the last samples: queue the request once. */
	if (r->unsettled > 0 || r->in_done)
		return;
	r->in_done = 1;
	r->next = NULL;
	if (c->done_tail)
		c->done_tail->next = r;
	else
		c->done_head = r;
	c->done_tail = r;
}

/* Give samples [first, first + count) the error e. */
static void fail_samples(struct request *r, int first, int count, const struct sr_client_error *e)
{
	for (int i = first; i < first + count; i++) {
		struct sr_client_sample *s = &r->res->samples[i];
		if (s->text || s->error.kind[0])
			continue;
		s->error = *e;
		r->unsettled--;
		r->client->st.samples_failed++;
	}
	r->last_done = now_mono();
	request_settle_check(r);
}

/* ---- cache entries ---- */

/* The body and the seed, hashed once per request. */
static struct sr_cache_key request_key_base(const struct request *r)
{
	char seed[32];
	int len = snprintf(seed, sizeof seed, "%lld", (long long)r->seed);
	struct sr_cache_key k = sr_cache_key_make("", "", r->body_text, r->body_len, 0);
	struct sr_cache_key s = sr_cache_key_make("", "", seed, (size_t)len, 0);
	k.hi ^= s.hi * 0x9E3779B97F4A7C15ULL;
	k.lo ^= s.lo * 0xC2B2AE3D27D4EB4FULL;
	return k;
}

/* The cache key of sample i: endpoint, model, body and seed, and index. */
static struct sr_cache_key sample_key(struct request *r, int i)
{
	struct sr_client *c = r->client;
	uint64_t base[2] = {r->key_base.hi, r->key_base.lo};
	return sr_cache_key_make(c->endpoint, c->model, (const char *)base, sizeof base, i);
}

/* A copy of n bytes and a terminating NUL; the bytes may hold NULs. */
static char *memdup0(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* A copy of a JSON string, U+0000 included, or NULL when v is none; its
 * length in *len when len is not NULL. */
static char *json_strdup_or_null(json_t *v, size_t *len)
{
	const char *s = json_string_value(v);
	size_t n = s ? json_string_length(v) : 0;

	if (len)
		*len = n;
	return s ? memdup0(s, n) : NULL;
}

/* Fill sample from a cache value. Returns 0, or -1 when the value lacks text. */
static int sample_from_cache(struct sr_client_sample *s, json_t *v)
{
	json_t *text = json_object_get(v, "text");

	if (!json_is_string(text))
		return -1;
	s->text = json_strdup_or_null(text, &s->len);
	s->finish_reason = json_strdup_or_null(json_object_get(v, "finish_reason"), NULL);
	s->reasoning_content = json_strdup_or_null(json_object_get(v, "reasoning_content"),
	                                           &s->reasoning_len);
	s->cached = 1;
	json_t *seed = json_object_get(v, "seed");
	s->seed = json_is_integer(seed) ? json_integer_value(seed) : -1;
	s->latency = json_number_value(json_object_get(v, "latency"));
	json_t *pt = json_object_get(v, "prompt_tokens"), *ct = json_object_get(v, "completion_tokens");
	s->prompt_tokens = json_is_integer(pt) ? (long)json_integer_value(pt) : -1;
	s->completion_tokens = json_is_integer(ct) ? (long)json_integer_value(ct) : -1;
	s->choices = (int)json_integer_value(json_object_get(v, "choices"));
	s->attempts = (int)json_integer_value(json_object_get(v, "attempts"));
	s->status = (long)json_integer_value(json_object_get(v, "status"));
	return s->text ? 0 : -1;
}

static json_t *sample_to_cache(const struct sr_client_sample *s)
{
	json_t *v = json_object();

	json_object_set_new(v, "text", json_stringn(s->text, s->len));
	if (s->finish_reason)
		json_object_set_new(v, "finish_reason", json_string(s->finish_reason));
	if (s->reasoning_content)
		json_object_set_new(v, "reasoning_content",
		                    json_stringn(s->reasoning_content, s->reasoning_len));
	if (s->seed >= 0)
		json_object_set_new(v, "seed", json_integer(s->seed));
	if (s->prompt_tokens >= 0)
		json_object_set_new(v, "prompt_tokens", json_integer(s->prompt_tokens));
	if (s->completion_tokens >= 0)
		json_object_set_new(v, "completion_tokens", json_integer(s->completion_tokens));
	json_object_set_new(v, "choices", json_integer(s->choices));
	json_object_set_new(v, "attempts", json_integer(s->attempts));
	json_object_set_new(v, "status", json_integer(s->status));
	json_object_set_new(v, "latency", json_real(round(s->latency * 1e6) / 1e6));
	return v;
}

/* ---- submitting ---- */

static void queue_push(struct sr_client *c, struct transfer *t)
{
	t->next = NULL;
	if (c->queue_tail)
		c->queue_tail->next = t;
	else
		c->queue_head = t;
	c->queue_tail = t;
}

static int queue_transfer(struct request *r, int first, int count, int n_probe)
{
	struct transfer *t = calloc(1, sizeof *t);

	if (!t)
		return SR_ENOMEM;
	t->req = r;
	t->first = first;
	t->count = count;
	t->n_probe = n_probe;
	t->retry_after = -1;
	queue_push(r->client, t);
	return 0;
}

/* Queue transfers for samples [first, first + count), all missing. */
static int queue_samples(struct request *r, int first, int count)
{
	struct sr_client *c = r->client;
	int rc;

	if (c->use_n && count > 1)
		return queue_transfer(r, first, count, 0);
	for (int i = first; i < first + count; i++)
		if ((rc = queue_transfer(r, i, 1, 0)) < 0)
			return rc;
	return 0;
}

int sr_client_submit(struct sr_client *c, json_t *body, int n,
                     sr_client_done_fn done, void *user, struct sr_error *err)
{
	return sr_client_submit_named(c, NULL, body, n, done, user, err);
}

int sr_client_submit_named(struct sr_client *c, const char *name, json_t *body, int n,
                           sr_client_done_fn done, void *user, struct sr_error *err)
{
	struct sr_client_request req = {0};
	int rc;

	if (!json_is_object(body) || !json_is_array(json_object_get(body, "messages")))
		return sr_fail(err, SR_EUSAGE, "request body must be an object with a \"messages\" array");
	if (json_object_get(body, "model") || json_object_get(body, "n"))
		return sr_fail(err, SR_EUSAGE,
		               "request body must not set \"model\" or \"n\": the client sets them");
	json_t *seed = json_object_get(body, "seed");
	json_t *mt = json_object_get(body, "max_tokens");
	if (!mt)
		mt = json_object_get(body, "max_completion_tokens");
	/* The seed travels apart from the body, so a shallow copy without it. */
	json_t *copy = json_copy(body);
	if (!copy)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	json_object_del(copy, "seed");
	char *text = sr_json_dumps(copy);
	json_decref(copy);
	if (!text)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	req.name = name;
	req.body = text;
	req.body_len = strlen(text);
	req.seed = json_is_integer(seed) && json_integer_value(seed) >= 0 ? json_integer_value(seed) : -1;
	req.max_tokens = json_is_integer(mt) ? (long)json_integer_value(mt) : 0;
	req.n = n;
	rc = sr_client_submit_request(c, &req, done, user, err);
	free(text);
	return rc;
}

/* Remove every queued transfer of r (after a failed submit). */
static void unqueue_request(struct sr_client *c, struct request *r)
{
	struct transfer **link = &c->queue_head, *prev = NULL;

	while (*link) {
		struct transfer *t = *link;
		if (t->req == r) {
			*link = t->next;
			free(t);
			continue;
		}
		prev = t;
		link = &t->next;
	}
	c->queue_tail = prev;
}

int sr_client_submit_request(struct sr_client *c, const struct sr_client_request *req,
                             sr_client_done_fn done, void *user, struct sr_error *err)
{
	struct request *r;
	int n = req->n, rc;
	char *hit = NULL;

	if (n < 1 || n > 1000000)
		return sr_fail(err, SR_EUSAGE, "invalid sample count %d", n);
	if (!req->body || req->body_len < 2 || req->body[0] != '{' ||
	    req->body[req->body_len - 1] != '}')
		return sr_fail(err, SR_EUSAGE, "request body must be a JSON object");
	if (!(r = calloc(1, sizeof *r)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	r->client = c;
	r->n = n;
	r->done = done;
	r->user = user;
	r->unsettled = n;
	r->seed = req->seed;
	r->max_tokens = req->max_tokens;
	r->body_len = req->body_len;
	r->body_text = strndup(req->body, req->body_len);
	if (req->name)
		r->name = strndup(req->name, 200);
	else if (asprintf(&r->name, "#%llu", (unsigned long long)c->st.submitted + 1) < 0)
		r->name = NULL;
	r->res = calloc(1, sizeof *r->res);
	if (r->res)
		r->res->samples = calloc((size_t)n, sizeof *r->res->samples);
	hit = calloc((size_t)n, 1);
	if (!r->body_text || !r->res || !r->res->samples || !r->name || !hit) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto fail;
	}
	r->key_base = request_key_base(r);
	r->res->user = user;
	r->res->n = n;
	for (int i = 0; i < n; i++) {
		r->res->samples[i].seed = -1;
		r->res->samples[i].prompt_tokens = -1;
		r->res->samples[i].completion_tokens = -1;
	}

	/* Take what the cache has, then queue the gaps. */
	for (int i = 0; i < n && c->cache; i++) {
		json_t *v = NULL;
		if ((rc = sr_cache_get(c->cache, sample_key(r, i), &v, err)) < 0)
			goto fail;
		if (v && sample_from_cache(&r->res->samples[i], v) == 0) {
			hit[i] = 1;
		} else if (v) {
			sample_release(&r->res->samples[i]);
			memset(&r->res->samples[i], 0, sizeof r->res->samples[i]);
			r->res->samples[i].seed = -1;
		}
		json_decref(v);
	}
	int gap_start = -1;
	for (int i = 0; i <= n; i++) {
		if (i < n && !hit[i] && gap_start < 0)
			gap_start = i;
		if ((i == n || hit[i]) && gap_start >= 0) {
			if ((rc = queue_samples(r, gap_start, i - gap_start)) < 0) {
				unqueue_request(c, r);
				sr_fail(err, rc, "out of memory");
				goto fail;
			}
			gap_start = -1;
		}
	}
	for (int i = 0; i < n; i++) {
		if (!hit[i])
			continue;
		r->unsettled--;
		r->res->ok++;
		c->st.cache_hits++;
		c->st.samples_ok++;
	}
	free(hit);
	r->live_next = c->live;
	if (c->live)
		c->live->live_prev = r;
	c->live = r;
	c->pending++;
	c->st.submitted++;
	request_settle_check(r);
	return 0;
fail:
	if (r->res) {
		for (int i = 0; r->res->samples && i < n; i++)
			sample_release(&r->res->samples[i]);
		free(r->res->samples);
		free(r->res);
	}
	free(hit);
	free(r->body_text);
	free(r->name);
	free(r);
	return rc;
}

/* ---- rate limits ---- */

static void refill_buckets(struct sr_client *c, double now)
{
	double dt = now - c->bucket_time;

	c->bucket_time = now;
	if (c->cfg.rpm > 0)
		c->rpm_tokens = fmin(fmax(1, c->cfg.rpm / 60), c->rpm_tokens + dt * c->cfg.rpm / 60);
	if (c->cfg.tpm > 0)
		c->tpm_tokens = fmin(c->cfg.tpm / 60, c->tpm_tokens + dt * c->cfg.tpm / 60);
}

static long estimate_tokens(const struct transfer *t)
{
	long per = t->req->max_tokens > 0 ? t->req->max_tokens : TPM_DEFAULT_COMPLETION;
	/* About four bytes per token for English text: an estimate only. */
	return (long)(t->req->body_len / 4) + per * t->count;
}

/* Seconds until a transfer of est tokens may start under rpm/tpm; 0 = now. */
static double rate_wait(struct sr_client *c, long est)
{
	double wait = 0;

	if (c->cfg.rpm > 0 && c->rpm_tokens < 1)
		wait = (1 - c->rpm_tokens) * 60 / c->cfg.rpm;
	if (c->cfg.tpm > 0) {
		/* A request larger than the bucket waits for a full bucket. */
		double need = fmin((double)est, c->cfg.tpm / 60);
		if (c->tpm_tokens < need)
			wait = fmax(wait, (need - c->tpm_tokens) * 60 / c->cfg.tpm);
	}
	return wait;
}

/* ---- transfers ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * nmemb;

	if (t->resp.len + len > t->req->client->cfg.max_response) {
		t->resp_too_big = 1;
		return 0;  /* makes curl fail the transfer with CURLE_WRITE_ERROR */
	}
	if (sr_buf_append(&t->resp, data, len) < 0)
		return 0;
	return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * nmemb;
	static const char name[] = "retry-after:";

	if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
		char value[128];
		size_t vlen = len - (sizeof name - 1);
		if (vlen >= sizeof value)
			vlen = sizeof value - 1;
		memcpy(value, data + sizeof name - 1, vlen);
		value[vlen] = '\0';
		t->retry_after = sr_retry_after_parse(value, time(NULL));
	}
	return len;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* The seed sent for a transfer: the body's seed for the first "n" request,
 * else one derived from it and the first sample index (31 bits, because
 * some servers keep the seed in a signed 32-bit integer). */
static int64_t transfer_seed(const struct transfer *t)
{
	if (t->req->seed < 0)
		return -1;
	if (t->count > 1 && t->first == 0)
		return t->req->seed;
	return (int64_t)(splitmix((uint64_t)t->req->seed ^ ((uint64_t)t->first << 32)) & 0x7fffffff);
}

/* The request sent: the body with "model", "n" and "seed" spliced in
 * front of its members, so the body is not serialised again. */
static char *build_payload(struct sr_client *c, struct transfer *t)
{
	struct sr_buf b = {0};
	const struct request *r = t->req;

	sr_buf_puts(&b, "{\"model\":");
	sr_buf_puts(&b, c->model_json);
	if (t->count > 1)
		sr_buf_printf(&b, ",\"n\":%d", t->count);
	int64_t seed = transfer_seed(t);
	if (seed >= 0)
		sr_buf_printf(&b, ",\"seed\":%lld", (long long)seed);
	/* Skip the body's '{' and any white space; an empty object adds nothing. */
	size_t i = 1;
	while (i < r->body_len && (r->body_text[i] == ' ' || r->body_text[i] == '\t' ||
	                           r->body_text[i] == '\n' || r->body_text[i] == '\r'))
		i++;
	if (r->body_text[i] != '}')
		sr_buf_puts(&b, ",");
	if (sr_buf_append(&b, r->body_text + i, r->body_len - i) < 0) {
		sr_buf_release(&b);
		return NULL;
	}
	return b.data;
}

static int start_transfer(struct sr_client *c, struct transfer *t, double now)
{
	t->payload = build_payload(c, t);
	t->easy = curl_easy_init();
	if (!t->payload || !t->easy)
		return SR_ENOMEM;
	t->headers = curl_slist_append(NULL, "Content-Type: application/json");
	t->headers = curl_slist_append(t->headers, "Expect:");
	if (c->auth_header)
		t->headers = curl_slist_append(t->headers, c->auth_header);
	if (!t->headers)
		return SR_ENOMEM;
	sr_buf_reset(&t->resp);
	t->resp_too_big = 0;
	t->retry_after = -1;

	CURL *e = t->easy;
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->payload);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->payload));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->cfg.timeout * 1000));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->cfg.connect_timeout * 1000));
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "srkit");
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		return SR_EIO;
	t->run_prev = NULL;
	t->run_next = c->running;
	if (c->running)
		c->running->run_prev = t;
	c->running = t;

	t->attempt++;
	t->started = now;
	if (t->req->first_send == 0)
		t->req->first_send = now;
	c->in_flight++;
	c->st.http_requests++;
	if (t->attempt > 1)
		c->st.retries++;
	client_log(c, SR_CLIENT_LOG_DEBUG, "%s: sending samples %d-%d (attempt %d) to %s",
	           t->req->name, t->first, t->first + t->count - 1, t->attempt, c->host);
	return 0;
}

static void transfer_cleanup(struct sr_client *c, struct transfer *t)
{
	if (t->easy) {
		if (t->run_prev)
			t->run_prev->run_next = t->run_next;
		else if (c->running == t)
			c->running = t->run_next;
		if (t->run_next)
			t->run_next->run_prev = t->run_prev;
		t->run_prev = t->run_next = NULL;
		curl_multi_remove_handle(c->multi, t->easy);
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	free(t->payload);
	t->payload = NULL;
}

static void transfer_free(struct sr_client *c, struct transfer *t)
{
	transfer_cleanup(c, t);
	sr_buf_release(&t->resp);
	free(t);
}

/* Start queued transfers while the limits allow. Returns the seconds until
 * the next queued transfer could start (0 when none waits on time). */
static double start_ready(struct sr_client *c, double now)
{
	double next_wait = 0;

	if (c->stopped || c->fatal)
		return 0;
	refill_buckets(c, now);
	struct transfer *prev = NULL, *t = c->queue_head;
	while (t && c->in_flight < c->concurrency_now) {
		struct transfer *next = t->next;
		if (now < c->pause_until) {
			next_wait = c->pause_until - now;
			break;
		}
		if (t->not_before > now) {
			/* Waiting on its own backoff: later transfers may go first. */
			double w = t->not_before - now;
			if (next_wait == 0 || w < next_wait)
				next_wait = w;
			prev = t;
			t = next;
			continue;
		}
		if (!c->use_n && t->count > 1) {
			/* "n" was given up after this transfer was queued: split it
			 * into single-sample transfers in its place. */
			struct transfer *last = t;
			for (int i = t->first + 1; i < t->first + t->count; i++) {
				struct transfer *single = calloc(1, sizeof *single);
				if (!single) {
					struct sr_client_error e;
					set_error(&e, "connect", 0, 0, "cannot queue a request: out of memory");
					fail_samples(t->req, i, t->first + t->count - i, &e);
					break;
				}
				single->req = t->req;
				single->first = i;
				single->count = 1;
				single->retry_after = -1;
				single->not_before = t->not_before;
				single->next = last->next;
				last->next = single;
				if (c->queue_tail == last)
					c->queue_tail = single;
				last = single;
			}
			t->count = 1;
			next = t->next;
		}
		long est = estimate_tokens(t);
		double w = rate_wait(c, est);
		if (w > 0) {
			if (next_wait == 0 || w < next_wait)
				next_wait = w;
			break;
		}
		/* Unlink and start it. */
		if (prev)
			prev->next = next;
		else
			c->queue_head = next;
		if (c->queue_tail == t)
			c->queue_tail = prev;
		t->next = NULL;
		if (c->cfg.rpm > 0)
			c->rpm_tokens -= 1;
		if (c->cfg.tpm > 0)
			c->tpm_tokens -= (double)est;
		t->est_tokens = est;
		if (start_transfer(c, t, now) < 0) {
			struct sr_client_error e;
			set_error(&e, "connect", 0, t->attempt, "cannot start a transfer: out of memory");
			fail_samples(t->req, t->first, t->count, &e);
			transfer_free(c, t);
		}
		t = next;
	}
	return next_wait;
}

/* Queue t again after a backoff, or fail its samples when out of retries. */
static void retry_or_fail(struct sr_client *c, struct transfer *t, const char *kind, long status,
                          const char *message)
{
	transfer_cleanup(c, t);
	if (t->attempt > c->cfg.max_retries || c->stopped) {
		struct sr_client_error e;
		set_error(&e, kind, status, t->attempt, "%s (after %d attempts)", message, t->attempt);
		client_log(c, SR_CLIENT_LOG_WARN, "%s: samples %d-%d failed after %d attempts: %s",
		           t->req->name, t->first, t->first + t->count - 1, t->attempt, message);
		fail_samples(t->req, t->first, t->count, &e);
		transfer_free(c, t);
		return;
	}
	double base = c->cfg.backoff_base * pow(2, t->attempt - 1);
	double delay = fmin(c->cfg.backoff_max, base);
	/* Equal jitter: half fixed, half random, so retries spread out but
	 * never come sooner than half the backoff. */
	delay = delay / 2 + sr_rng_double(&c->rng) * delay / 2;
	if (t->retry_after >= 0)
		delay = t->retry_after;
	t->not_before = now_mono() + delay;
	client_log(c, SR_CLIENT_LOG_NOTICE, "%s: retrying samples %d-%d in %.2f s "
	           "(attempt %d of %d): %s", t->req->name, t->first, t->first + t->count - 1, delay,
	           t->attempt + 1, c->cfg.max_retries + 1, message);
	queue_push(c, t);
}

/* Replace every copy of the API key in s (cap bytes) with "[redacted]". */
static void redact_key(const char *key, char *s, size_t cap)
{
	size_t klen = key ? strlen(key) : 0;
	struct sr_buf b = {0};
	const char *p = s, *hit;

	if (klen == 0 || !strstr(s, key))
		return;
	while ((hit = strstr(p, key)) != NULL) {
		sr_buf_append(&b, p, (size_t)(hit - p));
		sr_buf_puts(&b, "[redacted]");
		p = hit + klen;
	}
	sr_buf_puts(&b, p);
	snprintf(s, cap, "%s", b.data ? b.data : "[redacted]");
	sr_buf_release(&b);
}

/* The endpoint's error message from an error body, or a short excerpt,
 * with the API key removed: some endpoints echo the key they rejected. */
static void error_message(const struct sr_client *c, const struct sr_buf *b, char *out,
                          size_t cap)
{
	json_t *j = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (!msg)
		msg = json_string_value(e);
	if (!msg)
		msg = json_string_value(json_object_get(j, "message"));
	if (!msg)
		msg = json_string_value(json_object_get(j, "detail"));
	if (msg) {
		snprintf(out, cap, "%s", msg);
	} else if (b->len) {
		size_t n = b->len < 200 ? b->len : 200;
		snprintf(out, cap, "%.*s", (int)n, b->data);
	} else {
		snprintf(out, cap, "empty response body");
	}
	/* Keep the message on one line. */
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	redact_key(c->key, out, cap);
	json_decref(j);
}

static void stop_all(struct sr_client *c, const char *reason);

/* Place each choice of a response in slot[0..count): by its "index" when
 * every index is usable, else in order. Slots without a choice stay NULL. */
static void place_choices(json_t *choices, json_t **slot, int count)
{
	size_t i, k = json_array_size(choices);
	json_t *ch;
	int by_index = 1;

	json_array_foreach(choices, i, ch) {
		json_t *idx = json_object_get(ch, "index");
		json_int_t x = json_integer_value(idx);
		if (!json_is_integer(idx) || x < 0 || x >= count || slot[x]) {
			by_index = 0;
			break;
		}
		slot[x] = ch;
	}
	if (!by_index) {
		memset(slot, 0, (size_t)count * sizeof *slot);
		for (i = 0; i < k && i < (size_t)count; i++)
			slot[i] = json_array_get(choices, i);
	}
}

/* What one response says about all its choices. */
struct response_info {
	long status;
	double now;
	json_t *prompt_tokens, *completion_tokens;  /* borrowed, may be NULL */
	int choices;                                /* choices the response carried */
};

/* Write one choice to the cache, then store it as sample idx. A cache
 * failure fails the sample and marks the client fatal. */
static void store_choice(struct sr_client *c, struct transfer *t, int idx, json_t *choice,
                         const struct response_info *info)
{
	struct request *r = t->req;
	struct sr_client_sample *smp = &r->res->samples[idx];
	json_t *m = json_object_get(choice, "message");
	json_t *content = json_object_get(m, "content");
	json_t *reasoning = json_object_get(m, "reasoning_content");
	struct sr_client_sample fresh = {0};

	if (smp->text || smp->error.kind[0])
		return;  /* settled already: never deliver a sample twice */
	if (!json_is_string(reasoning))
		reasoning = json_object_get(m, "reasoning");
	/* A null content (or none) is an empty text; sr-synth marks it. */
	fresh.text = json_is_string(content) ? json_strdup_or_null(content, &fresh.len)
	                                     : memdup0("", 0);
	fresh.finish_reason = json_strdup_or_null(json_object_get(choice, "finish_reason"), NULL);
	fresh.reasoning_content = json_strdup_or_null(reasoning, &fresh.reasoning_len);
	fresh.seed = transfer_seed(t);
	fresh.latency = info->now - t->started;
	fresh.prompt_tokens = json_is_integer(info->prompt_tokens)
	                      ? (long)json_integer_value(info->prompt_tokens) : -1;
	fresh.completion_tokens = json_is_integer(info->completion_tokens)
	                          ? (long)json_integer_value(info->completion_tokens) : -1;
	fresh.choices = info->choices;
	fresh.attempts = t->attempt;
	fresh.status = info->status;
	if (!fresh.text) {
		struct sr_client_error e;
		sample_release(&fresh);
		set_error(&e, "invalid", info->status, t->attempt, "out of memory storing the response");
		fail_samples(r, idx, 1, &e);
		return;
	}
	if (c->cache) {
		struct sr_error cerr;
		json_t *v = sample_to_cache(&fresh);
		int rc = sr_cache_put(c->cache, sample_key(r, idx), v, &cerr);
		json_decref(v);
		if (rc < 0) {
			struct sr_client_error e;
			sample_release(&fresh);
			c->fatal = SR_EIO;
			snprintf(c->fatal_message, sizeof c->fatal_message, "%s", cerr.message);
			set_error(&e, "cache", info->status, t->attempt, "%s", cerr.message);
			fail_samples(r, idx, 1, &e);
			return;
		}
	}
	*smp = fresh;
	r->unsettled--;
	r->res->ok++;
	c->st.samples_ok++;
}

/* Queue the samples a response left out, one transfer per gap. */
static void request_missing(struct sr_client *c, struct transfer *t, json_t **slot)
{
	int start = -1;

	for (int s = 0; s <= t->count; s++) {
		if (s < t->count && !slot[s]) {
			if (start < 0)
				start = s;
			continue;
		}
		if (start < 0)
			continue;
		if (queue_samples(t->req, t->first + start, s - start) < 0) {
			struct sr_client_error e;
			set_error(&e, "connect", 0, t->attempt, "cannot queue a request: out of memory");
			fail_samples(t->req, t->first + start, s - start, &e);
		}
		start = -1;
	}
}

/* Parse a 2xx body and deliver its choices. Returns 0, or -1 with msg set
 * when the body is not a chat completion. */
static int deliver_choices(struct sr_client *c, struct transfer *t, long status, double now,
                           char *msg, size_t cap)
{
	struct request *r = t->req;
	json_error_t jerr;
	/* JSON allows U+0000 in strings, and a model may emit it: keep it,
	 * with the lengths, rather than calling a valid body invalid. */
	json_t *j = json_loadb(t->resp.data ? t->resp.data : "", t->resp.len, JSON_ALLOW_NUL,
	                       &jerr);
	json_t *choices = json_object_get(j, "choices");
	json_t **slot = NULL;
	int rc = -1;

	if (!json_is_object(j)) {
		snprintf(msg, cap, "response is not JSON: %s", jerr.text);
		goto out;
	}
	if (!json_is_array(choices) || json_array_size(choices) == 0) {
		snprintf(msg, cap, "response has no \"choices\" array");
		goto out;
	}
	if (!(slot = calloc((size_t)t->count, sizeof *slot))) {
		snprintf(msg, cap, "out of memory");
		goto out;
	}
	place_choices(choices, slot, t->count);
	for (int s = 0; s < t->count; s++) {
		json_t *content = json_object_get(json_object_get(slot[s], "message"), "content");
		if (slot[s] && !json_is_string(content) && !json_is_null(content)) {
			snprintf(msg, cap, "choice %d has no message content", s);
			goto out;
		}
	}

	json_t *usage = json_object_get(j, "usage");
	struct response_info info = {
		.status = status,
		.now = now,
		.prompt_tokens = json_object_get(usage, "prompt_tokens"),
		.completion_tokens = json_object_get(usage, "completion_tokens"),
	};
	for (int s = 0; s < t->count; s++)
		info.choices += slot[s] != NULL;
	if (json_is_integer(info.prompt_tokens))
		c->st.prompt_tokens += (uint64_t)json_integer_value(info.prompt_tokens);
	if (json_is_integer(info.completion_tokens))
		c->st.completion_tokens += (uint64_t)json_integer_value(info.completion_tokens);
	if (c->cfg.tpm > 0 && json_is_integer(info.prompt_tokens) &&
	    json_is_integer(info.completion_tokens))
		c->tpm_tokens += (double)t->est_tokens -
		                 (double)(json_integer_value(info.prompt_tokens) +
		                          json_integer_value(info.completion_tokens));

	for (int s = 0; s < t->count; s++)
		if (slot[s])
			store_choice(c, t, t->first + s, slot[s], &info);

	if (info.choices < t->count) {
		/* The endpoint returned fewer choices than "n" asked for: ask for
		 * the rest, one by one if it seems to ignore "n" altogether. */
		c->st.n_fallbacks++;
		if (info.choices == 1 && c->use_n) {
			c->use_n = 0;
			client_log(c, SR_CLIENT_LOG_WARN, "%s returned 1 choice for n=%d: sending one "
			           "request per sample from now on", c->host, t->count);
		}
		request_missing(c, t, slot);
	}
	r->last_done = now;
	request_settle_check(r);
	rc = 0;
out:
	free(slot);
	json_decref(j);
	return rc;
}

static void finish_transfer(struct sr_client *c, struct transfer *t, CURLcode code)
{
	struct request *r = t->req;
	long status = 0;
	char msg[512];
	double now = now_mono();

	c->in_flight--;
	r->res->attempts++;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);

	if (c->stopped) {
		retry_or_fail(c, t, "aborted", status, "the client stopped before the response");
		return;
	}
	if (code != CURLE_OK) {
		const char *kind = "connect";
		if (code == CURLE_OPERATION_TIMEDOUT) {
			kind = "timeout";
			snprintf(msg, sizeof msg, "no complete response from %s within %g s", c->host,
			         c->cfg.timeout);
		} else if (t->resp_too_big) {
			struct sr_client_error e;
			set_error(&e, "invalid", status, t->attempt, "response from %s is larger than %zu bytes",
			          c->host, c->cfg.max_response);
			transfer_cleanup(c, t);
			fail_samples(r, t->first, t->count, &e);
			transfer_free(c, t);
			return;
		} else if (code == CURLE_PARTIAL_FILE) {
			kind = "invalid";
			snprintf(msg, sizeof msg, "response from %s was cut short", c->host);
		} else {
			snprintf(msg, sizeof msg, "%s: %s", c->host, curl_easy_strerror(code));
		}
		retry_or_fail(c, t, kind, status, msg);
		return;
	}

	if (status >= 200 && status < 300) {
		if (deliver_choices(c, t, status, now, msg, sizeof msg) < 0) {
			retry_or_fail(c, t, "invalid", status, msg);
			return;
		}
		if (t->n_probe && c->use_n) {
			c->use_n = 0;
			client_log(c, SR_CLIENT_LOG_WARN, "%s rejected \"n\" but accepted single samples: "
			           "sending one request per sample from now on", c->host);
		}
		if (c->concurrency_now < c->cfg.concurrency &&
		    ++c->successes_since_cut >= c->concurrency_now) {
			c->concurrency_now++;
			c->successes_since_cut = 0;
		}
		transfer_free(c, t);
		return;
	}

	error_message(c, &t->resp, msg, sizeof msg);
	if (status == 429) {
		/* Slow everyone down: halve the concurrency and pause all starts. */
		c->st.rate_limited++;
		int before = c->concurrency_now;
		c->concurrency_now = c->concurrency_now > 1 ? c->concurrency_now / 2 : 1;
		c->successes_since_cut = 0;
		double pause = t->retry_after >= 0 ? t->retry_after
		                                   : fmin(c->cfg.backoff_max, c->cfg.backoff_base);
		if (now + pause > c->pause_until)
			c->pause_until = now + pause;
		if (before != c->concurrency_now)
			client_log(c, SR_CLIENT_LOG_NOTICE, "%s: HTTP 429, concurrency cut to %d for now",
			           c->host, c->concurrency_now);
	}
	if (status == 408 || status == 409 || status == 429 || status >= 500) {
		char full[1100];
		snprintf(full, sizeof full, "HTTP %ld from %s: %s", status, c->host, msg);
		retry_or_fail(c, t, "http", status, full);
		return;
	}
	if (status == 400 && t->count > 1 && c->use_n) {
		/* Perhaps the endpoint rejects "n": try the samples one by one. */
		client_log(c, SR_CLIENT_LOG_NOTICE, "%s: HTTP 400 for n=%d (%s): retrying one by one",
		           c->host, t->count, msg);
		int rc = 0;
		for (int i = t->first; i < t->first + t->count && rc == 0; i++)
			rc = queue_transfer(r, i, 1, 1);
		transfer_free(c, t);
		return;
	}

	struct sr_client_error e;
	const char *kind = status == 401 ? "auth" : "rejected";
	set_error(&e, kind, status, t->attempt, "HTTP %ld from %s: %s", status, c->host, msg);
	client_log(c, SR_CLIENT_LOG_WARN, "%s: %s", r->name, e.message);
	transfer_cleanup(c, t);
	fail_samples(r, t->first, t->count, &e);
	transfer_free(c, t);
	if (status == 401) {
		c->fatal = SR_EENDPOINT;
		snprintf(c->fatal_message, sizeof c->fatal_message,
		         "HTTP 401 from %s: %s (check the API key variable)", c->host, msg);
		stop_all(c, "the endpoint rejected the API key");
	}
}

/* Fail every queued and running transfer as "aborted". */
static void stop_all(struct sr_client *c, const char *reason)
{
	struct sr_client_error e;

	c->stopped = 1;
	while (c->queue_head) {
		struct transfer *t = c->queue_head;
		c->queue_head = t->next;
		set_error(&e, "aborted", 0, t->attempt, "not sent: %s", reason);
		fail_samples(t->req, t->first, t->count, &e);
		transfer_free(c, t);
	}
	c->queue_tail = NULL;

	while (c->running) {
		struct transfer *t = c->running;
		c->in_flight--;
		set_error(&e, "aborted", 0, t->attempt, "abandoned: %s", reason);
		fail_samples(t->req, t->first, t->count, &e);
		transfer_free(c, t);
	}
}

void sr_client_stop(struct sr_client *c)
{
	c->stopped = 1;
}

/* Run the callbacks of settled requests. */
static void deliver_done(struct sr_client *c)
{
	while (c->done_head) {
		struct request *r = c->done_head;
		c->done_head = r->next;
		if (!c->done_head)
			c->done_tail = NULL;
		struct sr_client_result *res = r->res;
		res->latency = r->first_send > 0 ? r->last_done - r->first_send : 0;
		for (int i = 0; i < res->n; i++)
			if (res->samples[i].error.kind[0] && !res->error.kind[0])
				res->error = res->samples[i].error;
		if (r->live_prev)
			r->live_prev->live_next = r->live_next;
		else
			c->live = r->live_next;
		if (r->live_next)
			r->live_next->live_prev = r->live_prev;
		c->pending--;
		c->st.completed++;
		sr_client_done_fn done = r->done;
		void *user = r->user;
		free(r->body_text);
		free(r->name);
		free(r);
		if (done)
			done(c, res, user);
		else
			sr_client_result_free(res);
	}
}

int sr_client_run(struct sr_client *c, int timeout_ms, struct sr_error *err)
{
	double now = now_mono();
	int running = 0;

	if (c->stopped && !c->fatal)
		stop_all(c, "the client was stopped");
	double wait = start_ready(c, now);
	if (!c->done_head && c->pending > 0) {
		int ms = timeout_ms;
		if (wait > 0 && wait * 1000 < ms)
			ms = (int)ceil(wait * 1000);
		if (c->cache && ms > 1000)
			ms = 1000;  /* wake up to fsync the cache */
		curl_multi_poll(c->multi, NULL, 0, ms, NULL);
	}
	curl_multi_perform(c->multi, &running);

	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct transfer *t = NULL;
		CURLcode code = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t)
			finish_transfer(c, t, code);
	}
	start_ready(c, now_mono());
	if (c->cache) {
		struct sr_error cerr;
		if (sr_cache_tick(c->cache, &cerr) < 0 && !c->fatal) {
			c->fatal = SR_EIO;
			snprintf(c->fatal_message, sizeof c->fatal_message, "%s", cerr.message);
		}
	}
	if (c->fatal && !c->stopped)
		stop_all(c, c->fatal == SR_EIO ? "the cache cannot be written" : "the run was stopped");
	deliver_done(c);
	if (c->fatal)
		return sr_fail(err, c->fatal, "%s", c->fatal_message);
	return (int)(c->pending > (size_t)0x7fffffff ? 0x7fffffff : c->pending);
}

/* ---- blocking batch ---- */

struct batch_slot {
	struct sr_client_result **results;
	size_t index;
};

static void batch_done(struct sr_client *c, struct sr_client_result *res, void *user)
{
	struct batch_slot *slot = user;
	slot->results[slot->index] = res;
}

int sr_client_batch(struct sr_client *c, json_t *const *bodies, size_t count, int n,
                    struct sr_client_result ***results, struct sr_error *err)
{
	struct sr_client_result **res = calloc(count ? count : 1, sizeof *res);
	struct batch_slot *slots = calloc(count ? count : 1, sizeof *slots);
	int rc = 0;

	*results = res;
	if (!res || !slots) {
		free(slots);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	size_t submitted = 0;
	for (; submitted < count; submitted++) {
		slots[submitted].results = res;
		slots[submitted].index = submitted;
		rc = sr_client_submit(c, bodies[submitted], n, batch_done, &slots[submitted], err);
		if (rc < 0)
			break;
	}
	int run_rc;
	size_t done = 0;
	do {
		run_rc = sr_client_run(c, 1000, err);
		done = 0;
		for (size_t i = 0; i < submitted; i++)
			done += res[i] != NULL;
	} while (run_rc >= 0 && done < submitted);
	/* After a fatal error every request has completed as "aborted"; run
	 * once more in case callbacks were still queued. */
	if (run_rc < 0 && done < submitted) {
		struct sr_error ignored;
		sr_client_run(c, 0, &ignored);
	}
	free(slots);
	if (rc < 0)
		return rc;
	return run_rc < 0 ? run_rc : 0;
}

void sr_client_free(struct sr_client *c)
{
	if (!c)
		return;
	while (c->queue_head) {
		struct transfer *t = c->queue_head;
		c->queue_head = t->next;
		transfer_free(c, t);
	}
	while (c->running)
		transfer_free(c, c->running);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	/* Requests left: free them without running their callbacks. */
	while (c->live) {
		struct request *r = c->live;
		c->live = r->live_next;
		sr_client_result_free(r->res);
		free(r->body_text);
		free(r->name);
		free(r);
	}
	sr_cache_close(c->cache, NULL);
	if (c->auth_header) {
		/* Wipe the key before the memory goes back to the allocator. */
		memset(c->auth_header, 0, strlen(c->auth_header));
		free(c->auth_header);
	}
	free(c->endpoint);
	free(c->model);
	free(c->model_json);
	free(c->url);
	free(c->host);
	free(c->cache_path);
	free(c);
}

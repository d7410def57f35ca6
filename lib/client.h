/*
 * client.h - a client for OpenAI-compatible chat-completions endpoints
 * (OpenAI, vLLM, llama.cpp's server, ...), built on the libcurl multi
 * interface and driven from one thread.
 *
 * A request is a chat-completions body without "model" (the client adds
 * the configured model) and without "n" (the client adds it when it requests
 * several samples at once). The client sends up to
 * `concurrency` requests at once under the rpm/tpm limits, retries
 * transient failures with exponential backoff and jitter, honours
 * Retry-After, slows every request down after a 429, and fails at once on
 * 400/401/403/404 with the endpoint's own error message. After a 401 it
 * stops: queued requests complete with error kind "aborted".
 *
 * Responses are kept in an append-only cache file (see cache.h) keyed by
 * endpoint, model, the exact request body and the sample index, so a rerun
 * after a crash sends only what is missing. A cached sample is written to
 * the kernel before its completion callback runs.
 *
 * Asynchronous use:
 *
 *   static void done(struct sr_client *c, struct sr_client_result *res, void *user)
 *   {
 *       for (int i = 0; i < res->n; i++)
 *           if (res->samples[i].text)
 *               use(user, i, res->samples[i].text, res->samples[i].len);
 *           else
 *               report(user, i, &res->samples[i].error);
 *       sr_client_result_free(res);       // the callback owns res
 *   }
 *
 *   struct sr_client_config cfg;
 *   sr_client_config_init(&cfg);
 *   cfg.endpoint = "http://127.0.0.1:8000/v1";
 *   cfg.model = "my-model";
 *   struct sr_client *c;
 *   if (sr_client_new(&cfg, &c, &err) < 0) ...
 *   json_t *body = json_pack("{s:[{s:s,s:s}],s:f}", "messages",
 *                            "role", "user", "content", "Hi", "temperature", 0.7);
 *   sr_client_submit(c, body, 4, done, my_state, &err);  // body is borrowed
 *   json_decref(body);
 *   while ((rc = sr_client_run(c, 1000, &err)) > 0)      // pending count
 *       ;                                                // (rc < 0: fatal, e.g. 401)
 *   sr_client_free(c);
 *
 * Blocking use, for tools that want all results at once:
 *
 *   struct sr_client_result **res;
 *   rc = sr_client_batch(c, bodies, count, 1, &res, &err);
 *   ... res[i]->samples[0].text ...
 *   sr_client_results_free(res, count);
 *
 * Ownership: sr_client_new returns a client freed by sr_client_free. Request
 * bodies passed in are borrowed (the client keeps its own copy). A result
 * handed to a callback, or returned by sr_client_batch, belongs to the
 * caller, who frees it with sr_client_result_free. Strings inside a result
 * belong to the result. Callbacks run only inside sr_client_run (or
 * sr_client_batch), never inside sr_client_submit, so a callback may submit
 * further requests. The client never prints: it reports through the
 * optional log callback in its configuration.
 *
 * The API key is read from the environment variable the configuration
 * names, sent only as an "Authorization: Bearer" header, and never passed
 * to the log callback, stored in results or written to the cache.
 */
#ifndef SR_CLIENT_H
#define SR_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "sr.h"

/* Log levels passed to the log callback. */
enum sr_client_log_level {
	SR_CLIENT_LOG_WARN = 0,   /* a request failed for good, a 401, a fallback */
	SR_CLIENT_LOG_NOTICE = 1, /* retries, rate-limit slow-downs */
	SR_CLIENT_LOG_DEBUG = 2,  /* every request sent and every response */
};

struct sr_client_config {
	const char *endpoint;    /* base URL ending in /v1; "/chat/completions" is appended */
	const char *model;       /* sent as "model" in every request */
	const char *api_key_env; /* name of the env variable holding the key; NULL = "OPENAI_API_KEY";
	                            an unset or empty variable sends no Authorization header */
	int concurrency;         /* maximum requests in flight (default 16) */
	double rpm;              /* requests per minute, 0 = unlimited */
	double tpm;              /* tokens per minute (prompt + completion), 0 = unlimited */
	double timeout;          /* seconds for one attempt, connect to last byte (default 600) */
	double connect_timeout;  /* seconds to connect (default 30) */
	int max_retries;         /* retries after the first attempt (default 8) */
	double backoff_base;     /* seconds before the first retry, doubled each time (default 1) */
	double backoff_max;      /* cap on one backoff wait in seconds (default 60) */
	const char *cache_path;  /* NULL = default file under $XDG_CACHE_HOME/srkit/ (else
	                            ~/.cache/srkit/), named after endpoint and model; "" = no cache */
	int use_n;               /* 1 (default): ask for several samples with the "n" parameter;
	                            0: one request per sample */
	size_t max_response;     /* largest response body accepted, in bytes (default 64 MiB) */
	double fsync_interval;   /* seconds between fsyncs of the cache (default 1) */
	uint64_t jitter_seed;    /* seeds the backoff jitter (default 0) */

	/* Optional log sink; message is one line without a newline. */
	void (*log)(void *log_user, int level, const char *message);
	void *log_user;
};

/* Fill cfg with the defaults above; endpoint and model stay NULL. */
void sr_client_config_init(struct sr_client_config *cfg);

/* Why a sample has no text. kind is one of:
 *   "connect"   connection failed or was dropped (curl's message in message)
 *   "timeout"   an attempt took longer than the timeout
 *   "http"      an HTTP status the client retries (408, 409, 429, 5xx) on every attempt
 *   "rejected"  400/403/404/other 4xx: the endpoint's error message, not retried
 *   "auth"      401: the endpoint rejected the key; the client has stopped
 *   "invalid"   the body was not chat-completions JSON, or was cut short
 *   "aborted"   not sent because the client stopped (after a 401, or sr_client_stop)
 *   "cache"     the cache could not be written, so the sample was not delivered
 * An empty kind means no error. */
struct sr_client_error {
	char kind[16];
	char message[1024];
	long status;     /* last HTTP status, 0 when no response came */
	int attempts;    /* HTTP attempts made for this sample */
};

/* One sample of a request. */
struct sr_client_sample {
	char *text;               /* the choice's message content, NUL-terminated; NULL on failure */
	size_t len;               /* bytes in text */
	char *finish_reason;      /* "stop", "length", ...; NULL when the endpoint sent none */
	char *reasoning_content;  /* reasoning the endpoint returned apart from the content
	                             (message.reasoning_content or message.reasoning), or NULL */
	size_t reasoning_len;     /* bytes in reasoning_content (text and reasoning may hold
	                             U+0000, so use the lengths, not strlen) */
	int cached;               /* 1 when read from the cache, 0 when received now */
	int64_t seed;             /* "seed" sent with the request that produced it; -1 when none */
	double latency;           /* seconds from sending the successful attempt to its last byte */
	long prompt_tokens;       /* usage of the response that carried it; -1 when unknown */
	long completion_tokens;   /* (a response with n choices reports usage for all of them) */
	int choices;              /* samples that response carried (usage is shared by them) */
	int attempts;             /* HTTP attempts made for the response that carried it */
	long status;              /* HTTP status of that response */
	struct sr_client_error error;
};

struct sr_client_result {
	void *user;               /* the pointer passed to sr_client_submit */
	int n;                    /* samples requested */
	int ok;                   /* samples with text */
	struct sr_client_sample *samples; /* [n] */
	int attempts;             /* HTTP attempts made for this request, all samples */
	double latency;           /* seconds from the first send to the last response; 0 if all cached */
	struct sr_client_error error; /* the first sample error; empty kind when ok == n */
};

/* Counters since sr_client_new. */
struct sr_client_stats {
	uint64_t submitted;      /* requests submitted */
	uint64_t completed;      /* requests whose callback has run */
	uint64_t samples_ok;     /* samples delivered with text */
	uint64_t samples_failed; /* samples delivered with an error */
	uint64_t cache_hits;     /* samples read from the cache */
	uint64_t http_requests;  /* HTTP attempts sent */
	uint64_t retries;        /* attempts that were retries */
	uint64_t rate_limited;   /* 429 responses */
	uint64_t n_fallbacks;    /* requests re-asked because the endpoint returned fewer choices */
	uint64_t prompt_tokens, completion_tokens;
	int in_flight;           /* HTTP transfers now running */
	int concurrency_now;     /* current limit after 429 slow-downs */
	int use_n;               /* whether "n" is still in use (0 after the endpoint rejected it) */
};

struct sr_client;

typedef void (*sr_client_done_fn)(struct sr_client *c, struct sr_client_result *res, void *user);

/* Create a client: checks the configuration (endpoint and model set, an
 * http or https URL), opens the cache (creating its directory, repairing a
 * cut last line) and reads the key from the environment. SR_EUSAGE for a
 * bad configuration, SR_EIO when the cache cannot be opened. */
int sr_client_new(const struct sr_client_config *cfg, struct sr_client **out, struct sr_error *err);
/* Free the client: pending requests are dropped without callbacks, and the
 * cache is flushed and fsync'd. Accepts NULL. */
void sr_client_free(struct sr_client *c);

/* Queue a request for n samples (n >= 1). body is borrowed: a JSON object
 * with "messages" and any sampling parameters, but without "model" and "n".
 * If body has an integer "seed" and a sample is requested on its own, the
 * client sends a seed derived from it and the sample index, so that the
 * samples differ. With "n" the seed is sent unchanged. Samples found in the
 * cache need no request. done runs exactly once for every accepted request,
 * from sr_client_run, unless the client is freed first. Returns 0, or SR_EUSAGE (bad body or n) or SR_ENOMEM. */
int sr_client_submit(struct sr_client *c, json_t *body, int n,
                     sr_client_done_fn done, void *user, struct sr_error *err);
/* The same, with a name for the request (such as the record id, copied)
 * that log messages about it carry. */
int sr_client_submit_named(struct sr_client *c, const char *name, json_t *body, int n,
                           sr_client_done_fn done, void *user, struct sr_error *err);

/* A request whose body is already serialised, for callers that build it
 * from bytes they have (sr-synth splices the record's request). */
struct sr_client_request {
	const char *name;      /* for log messages (copied), or NULL */
	const char *body;      /* a JSON object without "model", "n" and "seed"; not checked */
	size_t body_len;
	int64_t seed;          /* the base seed (see sr_client_submit), or -1 for none */
	long max_tokens;       /* the body's completion limit, for tpm estimates; 0 = unknown */
	int n;                 /* samples, at least 1 */
};

/* The same as sr_client_submit_named for a serialised body (copied). The
 * cache keys hash the body bytes, so the same record must give the same
 * bytes on every run. */
int sr_client_submit_request(struct sr_client *c, const struct sr_client_request *req,
                             sr_client_done_fn done, void *user, struct sr_error *err);

/* Make progress: start transfers, wait up to timeout_ms for network
 * activity or the next retry, handle finished transfers and run callbacks.
 * Returns the number of requests still pending (0 = idle), or a negative
 * code: SR_EENDPOINT after a 401 (err contains the endpoint's message, and
 * every pending request has been completed as "aborted"), SR_EIO when the cache
 * cannot be written. */
int sr_client_run(struct sr_client *c, int timeout_ms, struct sr_error *err);

/* Requests submitted whose callback has not run yet. */
size_t sr_client_pending(const struct sr_client *c);

/* Stop sending: queued and in-flight requests complete as "aborted" at the
 * next sr_client_run. It is not async-signal-safe, so call it from the
 * main loop, for example after a signal handler has set a flag. */
void sr_client_stop(struct sr_client *c);

/* Submit count bodies (borrowed) for n samples each, run until all are
 * done and return a new array of count results, in the order of bodies,
 * in *results. Free it with sr_client_results_free. Returns 0 when every
 * request completed (each result records whether it succeeded), or a
 * negative code as sr_client_run does. *results is set in both cases, with
 * NULL for a body that could not be submitted. */
int sr_client_batch(struct sr_client *c, json_t *const *bodies, size_t count, int n,
                    struct sr_client_result ***results, struct sr_error *err);

void sr_client_result_free(struct sr_client_result *res);
void sr_client_results_free(struct sr_client_result **res, size_t count);

void sr_client_get_stats(const struct sr_client *c, struct sr_client_stats *st);

/* The endpoint's host (and port, if given) without scheme, user
 * information, path or query string, for records and messages. Borrowed. */
const char *sr_client_host(const struct sr_client *c);
/* The cache file in use, or NULL when caching is off. Borrowed. */
const char *sr_client_cache_path(const struct sr_client *c);

/* Parse a Retry-After header value: delay-seconds or an HTTP date (RFC
 * 9110, IMF-fixdate and the two obsolete forms). now is the current Unix
 * time. Returns the delay in seconds (0 for a date in the past) or -1 when
 * the value is neither. */
double sr_retry_after_parse(const char *value, time_t now);

#endif

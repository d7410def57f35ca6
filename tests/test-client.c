/* Unit tests for lib/client.c against a real sr-testserver on 127.0.0.1:
 * "n" and its fallbacks, retries under each injected fault, Retry-After,
 * immediate failures, 401 stopping the run, the cache, rpm limiting and
 * the Retry-After parser. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "t.h"

static char dir[] = "/tmp/test-client-XXXXXX";
static pid_t server_pid;
static char endpoint[128];
static char log_path[600];

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *server_binary(void)
{
	static char path[4096];
	const char *b = getenv("SR_BUILDDIR");
	snprintf(path, sizeof path, "%s/tests/sr-testserver", b ? b : ".");
	return access(path, X_OK) == 0 ? path : "sr-testserver";
}

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

/* Start sr-testserver with the given extra options (NULL-terminated). */
static int start_server(const char *first, ...)
{
	const char *argv[32];
	int argc = 0;
	char port_file[600];
	va_list ap;

	stop_server();
	snprintf(port_file, sizeof port_file, "%s/port", dir);
	snprintf(log_path, sizeof log_path, "%s/requests.log", dir);
	unlink(port_file);
	unlink(log_path);
	argv[argc++] = server_binary();
	argv[argc++] = "--port-file";
	argv[argc++] = port_file;
	argv[argc++] = "--log";
	argv[argc++] = log_path;
	va_start(ap, first);
	for (const char *a = first; a && argc < 30; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	server_pid = fork();
	if (server_pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(port_file, "r");
		unsigned port;
		if (f && fscanf(f, "%u", &port) == 1) {
			fclose(f);
			snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%u/v1", port);
			return 0;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	fprintf(stderr, "sr-testserver did not start\n");
	return -1;
}

/* Lines in the server's request log that contain needle ("" = all). */
static int log_count(const char *needle)
{
	FILE *f = fopen(log_path, "r");
	char line[1024];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void config(struct sr_client_config *cfg, const char *cache)
{
	static char cache_path[600];

	sr_client_config_init(cfg);
	cfg->endpoint = endpoint;
	cfg->model = "test-model";
	cfg->api_key_env = "SR_TEST_CLIENT_KEY";
	cfg->backoff_base = 0.02;
	cfg->backoff_max = 0.2;
	cfg->max_retries = 4;
	cfg->timeout = 5;
	if (cache) {
		snprintf(cache_path, sizeof cache_path, "%s/%s", dir, cache);
		cfg->cache_path = cache_path;
	} else {
		cfg->cache_path = "";
	}
}

static json_t *body_for(const char *query)
{
	return json_pack("{s:[{s:s,s:s}],s:f,s:i}", "messages", "role", "user", "content", query,
	                 "temperature", 0.7, "seed", 42);
}

/* Run count requests of n samples each; returns the results array. */
static struct sr_client_result **run_batch(struct sr_client_config *cfg, int count, int n,
                                           int *rc_out, struct sr_client_stats *st)
{
	struct sr_client *c;
	struct sr_error err;
	struct sr_client_result **res = NULL;
	json_t *bodies[64];
	char q[64];

	if (sr_client_new(cfg, &c, &err) < 0) {
		fprintf(stderr, "sr_client_new: %s\n", err.message);
		*rc_out = -100;
		return NULL;
	}
	for (int i = 0; i < count; i++) {
		snprintf(q, sizeof q, "How do I bake bread number %d?", i);
		bodies[i] = body_for(q);
	}
	*rc_out = sr_client_batch(c, bodies, (size_t)count, n, &res, &err);
	if (st)
		sr_client_get_stats(c, st);
	for (int i = 0; i < count; i++)
		json_decref(bodies[i]);
	sr_client_free(c);
	return res;
}

static int all_ok(struct sr_client_result **res, int count, int n)
{
	for (int i = 0; i < count; i++) {
		if (!res || !res[i] || res[i]->ok != n)
			return 0;
		for (int s = 0; s < n; s++)
			if (!res[i]->samples[s].text || !strstr(res[i]->samples[s].text, "</think>"))
				return 0;
	}
	return 1;
}

static void test_n_parameter(void)
{
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;

	start_server(NULL);
	config(&cfg, NULL);
	struct sr_client_result **res = run_batch(&cfg, 2, 3, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 2, 3));
	CHECK_INT(log_count("\"n\":3,\"choices\":3"), 2);
	CHECK_INT(st.http_requests, 2);
	/* Choices of one request differ and report the seed sent. */
	CHECK(strcmp(res[0]->samples[0].text, res[0]->samples[1].text) != 0);
	CHECK_INT(res[0]->samples[0].seed, 42);
	CHECK_INT(res[0]->samples[2].choices, 3);
	CHECK_STR(res[0]->samples[1].finish_reason, "stop");
	sr_client_results_free(res, 2);

	/* --no-n: one request per sample, each with its own derived seed. */
	config(&cfg, NULL);
	cfg.use_n = 0;
	res = run_batch(&cfg, 2, 3, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 2, 3));
	CHECK_INT(st.http_requests, 6);
	CHECK(res[0]->samples[0].seed != 42);
	CHECK(res[0]->samples[0].seed >= 0);
	CHECK(res[0]->samples[0].seed != res[0]->samples[1].seed);
	CHECK(strcmp(res[0]->samples[0].text, res[0]->samples[1].text) != 0);
	sr_client_results_free(res, 2);
}

static void test_ignored_n(void)
{
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;

	/* An endpoint that ignores "n": the rest is requested one by one. */
	start_server("--ignore-n", NULL);
	config(&cfg, NULL);
	cfg.concurrency = 1;
	struct sr_client_result **res = run_batch(&cfg, 2, 3, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 2, 3));
	CHECK_INT(st.use_n, 0);
	CHECK_INT(st.n_fallbacks, 1);
	/* One n=3 request, then singles: 2 for the first prompt, 3 for the second. */
	CHECK_INT(st.http_requests, 6);
	CHECK(strcmp(res[0]->samples[0].text, res[0]->samples[1].text) != 0);
	sr_client_results_free(res, 2);

	/* A response without the choice of index 1: only that one is requested
	 * again, and no sample is delivered twice. */
	start_server("--fault", "gap:1:1", NULL);
	config(&cfg, NULL);
	res = run_batch(&cfg, 1, 4, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 1, 4));
	CHECK_INT(st.http_requests, 2);
	CHECK_INT(st.samples_ok, 4);
	CHECK_INT(log_count("\"n\":4,\"choices\":3"), 1);
	CHECK_INT(log_count("\"n\":1,\"choices\":1"), 1);
	CHECK(strcmp(res[0]->samples[1].text, res[0]->samples[2].text) != 0);
	sr_client_results_free(res, 1);

	/* An endpoint that returns one choice fewer: the missing one is requested. */
	start_server("--fault", "fewer:1:1", NULL);
	config(&cfg, NULL);
	res = run_batch(&cfg, 1, 4, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 1, 4));
	CHECK_INT(st.http_requests, 2);
	CHECK_INT(st.use_n, 1);
	sr_client_results_free(res, 1);
}

/* Each transient fault on every second request: all samples arrive. */
static void test_transient_faults(void)
{
	static const char *faults[] = {"500:2", "503:2", "408:2", "drop:2", "truncate:2",
	                               "nonjson:2", "badshape:2", "429:2:2"};

	for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
		struct sr_client_config cfg;
		struct sr_client_stats st;
		int rc;

		start_server("--fault", faults[i], "--slow-ms", "100", "--retry-after", "0", NULL);
		config(&cfg, NULL);
		cfg.concurrency = 3;
		struct sr_client_result **res = run_batch(&cfg, 6, 2, &rc, &st);
		if (rc != 0 || !all_ok(res, 6, 2) || st.retries == 0)
			fprintf(stderr, "fault %s: rc %d, retries %llu\n", faults[i], rc,
			        (unsigned long long)st.retries);
		CHECK_INT(rc, 0);
		CHECK(all_ok(res, 6, 2));
		CHECK(st.retries > 0);
		CHECK_INT(st.samples_ok, 12);
		/* libcurl itself resends once on a reused connection that the
		 * server closed, so only the other faults match one to one. */
		if (strncmp(faults[i], "drop", 4) != 0)
			CHECK_INT(st.http_requests, log_count("\"seq\""));
		sr_client_results_free(res, 6);
	}

	/* A slow body within the timeout is no failure. */
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;
	start_server("--fault", "slow:2", "--slow-ms", "200", NULL);
	config(&cfg, NULL);
	struct sr_client_result **res = run_batch(&cfg, 4, 1, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 4, 1));
	CHECK_INT(st.retries, 0);
	CHECK_INT(log_count("\"fault\":\"slow\""), 2);
	sr_client_results_free(res, 4);
}

static void test_retry_after(void)
{
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;
	const char *kinds[] = {"429:1:1", "429date:1:1"};

	for (int k = 0; k < 2; k++) {
		start_server("--fault", kinds[k], "--retry-after", "1", NULL);
		config(&cfg, NULL);
		double t0 = now_mono();
		struct sr_client_result **res = run_batch(&cfg, 1, 1, &rc, &st);
		double elapsed = now_mono() - t0;
		CHECK_INT(rc, 0);
		CHECK(all_ok(res, 1, 1));
		CHECK_INT(st.rate_limited, 1);
		CHECK_INT(st.http_requests, 2);
		/* An HTTP date has whole seconds, so it may round down by up to one. */
		CHECK(elapsed >= (k == 0 ? 0.95 : 0.0));
		CHECK(elapsed < 3.5);
		sr_client_results_free(res, 1);
	}

	/* A 429 slows every request: the second one waits too. */
	start_server("--fault", "429:1:1", "--retry-after", "1", NULL);
	config(&cfg, NULL);
	cfg.concurrency = 1;
	double t0 = now_mono();
	struct sr_client_result **res = run_batch(&cfg, 2, 1, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(now_mono() - t0 >= 0.95);
	CHECK_INT(st.http_requests, 3);
	sr_client_results_free(res, 2);
}

static void test_permanent_failures(void)
{
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;

	/* 400: no retry, the endpoint's message is kept. */
	start_server("--fault", "400:1:1", NULL);
	config(&cfg, NULL);
	cfg.concurrency = 1;
	struct sr_client_result **res = run_batch(&cfg, 2, 1, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK_INT(res[0]->ok, 0);
	CHECK_STR(res[0]->error.kind, "rejected");
	CHECK_INT(res[0]->error.status, 400);
	CHECK_INT(res[0]->error.attempts, 1);
	CHECK(strstr(res[0]->error.message, "Injected fault: this request is invalid.") != NULL);
	CHECK_INT(res[1]->ok, 1);
	sr_client_results_free(res, 2);

	/* 404 and 403 likewise. */
	start_server("--fault", "404", NULL);
	config(&cfg, NULL);
	res = run_batch(&cfg, 1, 1, &rc, &st);
	CHECK_STR(res[0]->error.kind, "rejected");
	CHECK_INT(res[0]->error.status, 404);
	CHECK_INT(st.http_requests, 1);
	sr_client_results_free(res, 1);

	/* Out of retries: every attempt gets 503. */
	start_server("--fault", "503", NULL);
	config(&cfg, NULL);
	cfg.max_retries = 2;
	res = run_batch(&cfg, 1, 2, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK_INT(res[0]->ok, 0);
	CHECK_STR(res[0]->samples[1].error.kind, "http");
	CHECK_INT(res[0]->samples[1].error.attempts, 3);
	CHECK_INT(res[0]->samples[1].error.status, 503);
	CHECK_INT(log_count("\"seq\""), 3);
	sr_client_results_free(res, 1);

	/* Stalls past the timeout: "timeout" after the retries. */
	start_server("--fault", "stall", "--stall", "3", NULL);
	config(&cfg, NULL);
	cfg.max_retries = 1;
	cfg.timeout = 0.3;
	res = run_batch(&cfg, 1, 1, &rc, &st);
	CHECK_STR(res[0]->error.kind, "timeout");
	CHECK_INT(res[0]->error.attempts, 2);
	sr_client_results_free(res, 1);

	/* A single stall is retried and succeeds. */
	start_server("--fault", "stall:1:1", "--stall", "3", NULL);
	config(&cfg, NULL);
	cfg.timeout = 0.5;
	res = run_batch(&cfg, 1, 1, &rc, &st);
	CHECK(all_ok(res, 1, 1));
	CHECK_INT(st.retries, 1);
	sr_client_results_free(res, 1);
}

static void test_auth(void)
{
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;

	setenv("SR_TEST_SERVER_KEY", "sk-test-secret-123", 1);
	start_server("--require-key", "SR_TEST_SERVER_KEY", NULL);

	setenv("SR_TEST_CLIENT_KEY", "sk-test-secret-123", 1);
	config(&cfg, NULL);
	struct sr_client_result **res = run_batch(&cfg, 2, 1, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 2, 1));
	CHECK_INT(log_count("\"auth\":true"), 2);
	sr_client_results_free(res, 2);

	/* A wrong key: 401 stops the run, the rest is aborted. */
	setenv("SR_TEST_CLIENT_KEY", "sk-wrong", 1);
	config(&cfg, NULL);
	cfg.concurrency = 1;
	res = run_batch(&cfg, 5, 1, &rc, &st);
	CHECK_INT(rc, SR_EENDPOINT);
	CHECK_STR(res[0]->error.kind, "auth");
	CHECK_INT(res[0]->error.status, 401);
	/* The server echoes the key it rejected; the client redacts it. */
	CHECK(strstr(res[0]->error.message, "Incorrect API key provided: [redacted].") != NULL);
	CHECK(strstr(res[0]->error.message, "sk-wrong") == NULL);
	CHECK_STR(res[4]->error.kind, "aborted");
	/* Two requests from the first client, one from this one. */
	CHECK_INT(log_count("\"seq\""), 3);
	sr_client_results_free(res, 5);
	unsetenv("SR_TEST_CLIENT_KEY");
}

static void test_cache(void)
{
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;

	start_server(NULL);
	config(&cfg, "c/cache.jsonl");
	struct sr_client_result **res = run_batch(&cfg, 3, 2, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 3, 2));
	char *first = strdup(res[2]->samples[1].text);
	sr_client_results_free(res, 3);
	CHECK_INT(log_count("\"seq\""), 3);

	/* Same requests again: all from the cache, nothing sent. */
	config(&cfg, "c/cache.jsonl");
	res = run_batch(&cfg, 3, 2, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 3, 2));
	CHECK_INT(st.cache_hits, 6);
	CHECK_INT(st.http_requests, 0);
	CHECK_INT(res[2]->samples[1].cached, 1);
	CHECK_STR(res[2]->samples[1].text, first);
	CHECK_STR(res[2]->samples[1].finish_reason, "stop");
	sr_client_results_free(res, 3);

	/* More samples per request: only the new indices are sent, with "n" = 2. */
	config(&cfg, "c/cache.jsonl");
	res = run_batch(&cfg, 3, 4, &rc, &st);
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 3, 4));
	CHECK_INT(st.cache_hits, 6);
	CHECK_INT(st.http_requests, 3);
	/* Three n=2 requests from the first run, three now. */
	CHECK_INT(log_count("\"n\":2"), 6);
	sr_client_results_free(res, 3);
	free(first);

	/* A key in the environment never reaches the cache file. */
	setenv("SR_TEST_CLIENT_KEY", "sk-never-in-cache-987", 1);
	config(&cfg, "c/cache2.jsonl");
	res = run_batch(&cfg, 2, 1, &rc, &st);
	sr_client_results_free(res, 2);
	unsetenv("SR_TEST_CLIENT_KEY");
	char cmd[800];
	snprintf(cmd, sizeof cmd, "grep -q sk-never-in-cache '%s/c/cache2.jsonl'", dir);
	CHECK(system(cmd) != 0);
	snprintf(cmd, sizeof cmd, "test -s '%s/c/cache2.jsonl'", dir);
	CHECK(system(cmd) == 0);
}

static void test_rpm(void)
{
	struct sr_client_config cfg;
	struct sr_client_stats st;
	int rc;

	start_server(NULL);
	config(&cfg, NULL);
	cfg.rpm = 120;  /* two per second, a burst of two */
	double t0 = now_mono();
	struct sr_client_result **res = run_batch(&cfg, 5, 1, &rc, &st);
	double elapsed = now_mono() - t0;
	CHECK_INT(rc, 0);
	CHECK(all_ok(res, 5, 1));
	CHECK(elapsed >= 1.4);
	CHECK(elapsed < 4);
	sr_client_results_free(res, 5);

	/* tpm: each request is estimated at body/4 + max_tokens tokens. */
	config(&cfg, NULL);
	cfg.tpm = 12000;  /* 200 tokens per second, a bucket of 200 */
	struct sr_client *c;
	struct sr_error err;
	CHECK_INT(sr_client_new(&cfg, &c, &err), 0);
	json_t *b[3];
	for (int i = 0; i < 3; i++) {
		b[i] = body_for("Tell me about bread.");
		json_object_set_new(b[i], "max_tokens", json_integer(400));
	}
	t0 = now_mono();
	CHECK_INT(sr_client_batch(c, b, 3, 1, &res, &err), 0);
	elapsed = now_mono() - t0;
	/* About 425 tokens are charged for each request and the unused part
	 * refunded from the usage reported (about 150 tokens are used), so the
	 * second and third requests wait for about 0.8 s and 1.8 s. */
	CHECK(elapsed >= 1.0);
	CHECK(elapsed < 6);
	CHECK(all_ok(res, 3, 1));
	sr_client_results_free(res, 3);
	for (int i = 0; i < 3; i++)
		json_decref(b[i]);
	sr_client_free(c);
}

static void test_config_errors(void)
{
	struct sr_client_config cfg;
	struct sr_client *c;
	struct sr_error err;

	sr_client_config_init(&cfg);
	cfg.cache_path = "";
	CHECK_INT(sr_client_new(&cfg, &c, &err), SR_EUSAGE);
	cfg.endpoint = "ftp://example.invalid/v1";
	cfg.model = "m";
	CHECK_INT(sr_client_new(&cfg, &c, &err), SR_EUSAGE);
	CHECK(strstr(err.message, "ftp://") != NULL);
	cfg.endpoint = "https://user:pw@api.example.invalid:8443/v1?key=abc";
	CHECK_INT(sr_client_new(&cfg, &c, &err), 0);
	CHECK_STR(sr_client_host(c), "api.example.invalid:8443");
	json_t *bad = json_pack("{s:[],s:s}", "messages", "model", "x");
	CHECK_INT(sr_client_submit(c, bad, 1, NULL, NULL, &err), SR_EUSAGE);
	json_decref(bad);
	CHECK_INT(sr_client_submit(c, NULL, 1, NULL, NULL, &err), SR_EUSAGE);
	sr_client_free(c);
}

static void test_retry_after_parse(void)
{
	time_t now = 784111777;  /* Sun, 06 Nov 1994 08:49:37 GMT */

	CHECK(sr_retry_after_parse("120", now) == 120);
	CHECK(sr_retry_after_parse(" 0 ", now) == 0);
	CHECK(sr_retry_after_parse("1.5", now) == 1.5);
	CHECK(sr_retry_after_parse("Sun, 06 Nov 1994 08:49:47 GMT", now) == 10);
	CHECK(sr_retry_after_parse("Sunday, 06-Nov-94 08:50:37 GMT", now) == 60);
	CHECK(sr_retry_after_parse("Sun Nov  6 08:49:40 1994", now) == 3);
	CHECK(sr_retry_after_parse("Sun, 06 Nov 1994 08:00:00 GMT", now) == 0);
	CHECK(sr_retry_after_parse("soon", now) == -1);
	CHECK(sr_retry_after_parse("-5", now) == -1);
	CHECK(sr_retry_after_parse("10 seconds", now) == -1);
	CHECK(sr_retry_after_parse(NULL, now) == -1);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 99;
	}
	signal(SIGPIPE, SIG_IGN);
	unsetenv("SR_TEST_CLIENT_KEY");
	test_retry_after_parse();
	test_config_errors();
	test_n_parameter();
	test_ignored_n();
	test_transient_faults();
	test_retry_after();
	test_permanent_failures();
	test_auth();
	test_cache();
	test_rpm();
	stop_server();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return t_result();
}

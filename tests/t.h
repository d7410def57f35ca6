/*
 * t.h - a minimal unit-test harness. Each CHECK prints the failing
 * expression with file and line; main returns t_result() so automake's
 * harness sees 0 (pass), 1 (fail) or 77 (skip).
 */
#ifndef SR_T_H
#define SR_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failures, t_checks;

#define CHECK(cond) do { t_checks++; if (!(cond)) { t_failures++; \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_INT(a, b) do { long long t_a = (long long)(a), t_b = (long long)(b); t_checks++; \
	if (t_a != t_b) { t_failures++; fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
	__FILE__, __LINE__, #a, t_a, #b, t_b); } } while (0)
#define CHECK_STR(a, b) do { const char *t_a = (a), *t_b = (b); t_checks++; \
	if (!t_a || !t_b || strcmp(t_a, t_b) != 0) { t_failures++; \
	fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
	t_a ? t_a : "(null)", t_b ? t_b : "(null)"); } } while (0)
#define CHECK_MEM(a, alen, b, blen) do { size_t t_al = (alen), t_bl = (blen); t_checks++; \
	if (t_al != t_bl || memcmp((a), (b), t_al) != 0) { t_failures++; \
	fprintf(stderr, "%s:%d: %s (%zu bytes) differs from %s (%zu bytes)\n", __FILE__, __LINE__, \
	#a, t_al, #b, t_bl); } } while (0)

static inline int t_result(void)
{
	fprintf(stderr, "%d checks, %d failed\n", t_checks, t_failures);
	return t_failures ? 1 : 0;
}

/* Path of a file under tests/ in the source tree. */
static inline const char *t_srcpath(const char *rel)
{
	static char buf[4096];
	const char *src = getenv("SR_SRCDIR");
	snprintf(buf, sizeof buf, "%s/%s", src ? src : ".", rel);
	return buf;
}

#endif

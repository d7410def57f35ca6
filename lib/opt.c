/* opt.c - overflow-checked number parsing for options, and --version. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config.h"
#include "sr.h"
#include "opt.h"

int sr_parse_u64(const char *s, int allow_suffix, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return SR_EUSAGE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return SR_EUSAGE;
	if (*end) {
		if (!allow_suffix)
			return SR_EUSAGE;
		switch (toupper((unsigned char)*end)) {
		case 'K': mult = 1ULL << 10; break;
		case 'M': mult = 1ULL << 20; break;
		case 'G': mult = 1ULL << 30; break;
		case 'T': mult = 1ULL << 40; break;
		default: return SR_EUSAGE;
		}
		end++;
		if (*end && strcasecmp(end, "iB") != 0 && strcasecmp(end, "B") != 0)
			return SR_EUSAGE;
		if (v > UINT64_MAX / mult)
			return SR_EUSAGE;
	}
	*out = (uint64_t)v * mult;
	return 0;
}

int sr_parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;
	if (!s || !*s || isspace((unsigned char)*s))
		return SR_EUSAGE;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE || *end || v < min || v > max)
		return SR_EUSAGE;
	*out = v;
	return 0;
}

int sr_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;
	if (!s || !*s || isspace((unsigned char)*s))
		return SR_EUSAGE;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || *end || !isfinite(v) || v < min || v > max)
		return SR_EUSAGE;
	*out = v;
	return 0;
}

void sr_print_version(const char *prog)
{
	printf("%s (srkit) %s\n", prog, PACKAGE_VERSION);
}

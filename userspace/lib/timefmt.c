// SPDX-License-Identifier: LGPL-2.1-or-later
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

#define NS 1000000000ull

void time_format(uint64_t ns, char buf[TIME_RFC3339_LEN])
{
	time_t sec = ns / NS;
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, TIME_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned long long)(ns % NS));
}

static int parse_duration(const char *s, uint64_t now_ns, uint64_t *ns)
{
	static const struct { char unit; uint64_t sec; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || !*end || end[1])
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (*end != units[i].unit)
			continue;
		if (n > now_ns / NS / units[i].sec)
			return -EINVAL;
		*ns = now_ns - n * units[i].sec * NS;
		return 0;
	}
	return -EINVAL;
}

/* Digits of exactly n characters. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		v = v * 10 + (*p)[i] - '0';
	}
	*p += n;
	*out = v;
	return 0;
}

int time_parse(const char *s, uint64_t now_ns, uint64_t *ns)
{
	struct tm tm = { 0 };
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	uint64_t frac = 0;
	time_t t;

	if (*s == '@') {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(s + 1, &end, 10);
		if (errno || end == s + 1 || *end || v > UINT64_MAX / NS)
			return -EINVAL;
		*ns = v * NS;
		return 0;
	}
	if (!strcmp(s, "now")) {
		*ns = now_ns;
		return 0;
	}
	if (parse_duration(s, now_ns, ns) == 0)
		return 0;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -EINVAL;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				return -EINVAL;
			if (*p == '.') {
				uint64_t scale = NS;

				for (p++; isdigit((unsigned char)*p); p++) {
					scale /= 10;
					frac += (*p - '0') * scale;
				}
			}
		}
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -EINVAL;
		off = sign * (oh * 3600 + om * 60);
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm) - off;
	if (t < 0)
		return -EINVAL;
	*ns = (uint64_t)t * NS + frac;
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <string.h>

#include "severity.h"

static const char *const names[SEV_COUNT] = {
	[SEV_INFO] = "info",
	[SEV_LOW] = "low",
	[SEV_MEDIUM] = "medium",
	[SEV_HIGH] = "high",
	[SEV_CRITICAL] = "critical",
};

const char *severity_name(enum severity s)
{
	return names[s];
}

int severity_rank(const char *name)
{
	for (int s = SEV_INFO; s < SEV_COUNT; s++)
		if (!strcmp(name, names[s]))
			return s;
	return -1;
}

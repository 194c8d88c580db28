/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How much a record matters, the scale every audit record's "severity"
 * uses: the guard grades opens on it, the daemon's own records are "info",
 * and the tools filter and count by it.
 */
#ifndef LW_SEVERITY_H
#define LW_SEVERITY_H

enum severity {
	SEV_INFO,		/* routine; management access by an allowlisted helper */
	SEV_LOW,		/* read-only open of a shared image */
	SEV_MEDIUM,		/* read-only open of an exclusive image */
	SEV_HIGH,		/* write open of a shared image; unknown access */
	SEV_CRITICAL,		/* write open of an exclusively locked image */
	SEV_COUNT,
};

const char *severity_name(enum severity s);
/* The severity called name, or -1. */
int severity_rank(const char *name);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An error as libvirt reports it. Clients (lockd.so, virt-admin) print
 * `message` and may look at the rest, so every field is filled the way
 * libvirt's virReportError family fills it.
 */
#ifndef LW_ERROR_H
#define LW_ERROR_H

#include "lock_protocol.h"

struct lw_err {
	int code;		/* enum lw_err_code; ERR_OK: no error */
	int domain;		/* enum lw_err_domain */
	char *message;
	char *str1, *str2, *str3;
	int int1, int2;
};

/* Like virReportError: message is the code's template filled with detail.
 * The first error reported sticks; later ones (from cleanup) are dropped. */
__attribute__((format(printf, 4, 5)))
void lw_err_set(struct lw_err *e, int domain, int code, const char *fmt, ...);

/* Like virReportSystemError: detail is fmt + ": " + strerror(errnum). */
__attribute__((format(printf, 4, 5)))
void lw_err_sys(struct lw_err *e, int domain, int errnum, const char *fmt, ...);

/* Like virCheckFlags' virReportInvalidArg from function func. */
void lw_err_flags(struct lw_err *e, int domain, const char *func, unsigned int unsupported);

void lw_err_clear(struct lw_err *e);

#endif

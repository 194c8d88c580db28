// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

/* The "with detail" templates of libvirt's virErrorMsg for the codes we raise. */
static const char *err_template(int code)
{
	switch (code) {
	case ERR_INTERNAL_ERROR:	return "internal error: %s";
	case ERR_NO_SUPPORT:		return "this function is not supported by the connection driver: %s";
	case ERR_INVALID_ARG:		return "invalid argument: %s";
	case ERR_OPERATION_DENIED:	return "operation forbidden: %s";
	case ERR_OPERATION_INVALID:	return "Requested operation is not valid: %s";
	case ERR_OPERATION_UNSUPPORTED:	return "Operation not supported: %s";
	case ERR_RESOURCE_BUSY:		return "resource busy: %s";
	case ERR_NO_SERVER:		return "Server not found: %s";
	case ERR_NO_CLIENT:		return "Client not found: %s";
	default:			return "%s";	/* SYSTEM_ERROR, RPC */
	}
}

static void err_fill(struct lw_err *e, int domain, int code, char *detail, int int1)
{
	const char *tmpl = err_template(code);

	e->code = code;
	e->domain = domain;
	e->str1 = xstrdup(tmpl);
	e->str2 = detail;
	e->str3 = NULL;
	e->int1 = int1;
	e->int2 = -1;
	/* The template is one of ours and has exactly one %s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	e->message = xasprintf(tmpl, detail);
#pragma GCC diagnostic pop
}

void lw_err_set(struct lw_err *e, int domain, int code, const char *fmt, ...)
{
	va_list ap;
	char *detail;

	if (e->code != ERR_OK)
		return;
	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	err_fill(e, domain, code, detail, -1);
}

void lw_err_sys(struct lw_err *e, int domain, int errnum, const char *fmt, ...)
{
	va_list ap;
	char *what, *detail;

	if (e->code != ERR_OK)
		return;
	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	detail = xasprintf("%s: %s", what, strerror(errnum));
	free(what);
	err_fill(e, domain, ERR_SYSTEM_ERROR, detail, errnum);
}

void lw_err_flags(struct lw_err *e, int domain, const char *func, unsigned int unsupported)
{
	if (e->code != ERR_OK)
		return;
	e->code = ERR_INVALID_ARG;
	e->domain = domain;
	e->message = xasprintf("unsupported flags (0x%x) in function %s", unsupported, func);
	e->str1 = xstrdup(func);
	e->str2 = xstrdup("flags");
	e->str3 = NULL;
	e->int1 = 0;
	e->int2 = 0;
}

void lw_err_clear(struct lw_err *e)
{
	free(e->message);
	free(e->str1);
	free(e->str2);
	free(e->str3);
	memset(e, 0, sizeof(*e));
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The configuration parser, on any text: config_load hands config_parse a
 * NUL-terminated file without embedded NULs, so the input is cut at its
 * first NUL. A parse may fail, but never crash or leak, and a failure
 * always says why.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Unknown keys are warnings: formatted, not shown. */
	return log_setup(LOG_LVL_DEBUG, NULL, "1:file:/dev/null", false, false) < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size), *why = NULL;
	struct config cfg;

	config_defaults(&cfg);
	if (config_parse(&cfg, "fuzz.conf", text, &why) < 0 && !why)
		abort();
	free(why);
	config_free(&cfg);
	free(text);
	return 0;
}

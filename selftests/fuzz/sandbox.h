/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A file system sandbox for fuzz targets that run the daemon's real code.
 * A fuzzed request names any path on the host, and with AUTOCREATE the
 * daemon creates that file and later unlinks it: outside the sandbox the
 * fuzzer would delete the host's files. Landlock confines every write to a
 * fresh scratch directory (the working directory of the target) and to
 * the directories libFuzzer writes (its corpus and artifacts).
 */
#ifndef LW_FUZZ_SANDBOX_H
#define LW_FUZZ_SANDBOX_H

#include <stdbool.h>

/*
 * Enter the sandbox; call from LLVMFuzzerInitialize with its arguments.
 * Aborts when the sandbox cannot be set up: fuzzing without it is not
 * safe.
 */
void sandbox_enter(int *argc, char ***argv);
/* Quiet (the default): the log goes to /dev/null at debug level, so every
 * message is still formatted; else warnings and errors go to stderr. */
void sandbox_quiet(bool quiet);
/* Remove everything an input created in the scratch directory. */
void sandbox_wipe(void);
/* The scratch directory's absolute path. */
const char *sandbox_dir(void);

#endif

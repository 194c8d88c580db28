/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Before a re-exec: would the new image start? An exec that fails leaves
 * the daemon serving, but an image that starts and then cannot load its
 * configuration would hold every inherited lock unserved; so the old
 * image asks first. The file to run must be an executable ELF of this
 * machine (or a #! script), and `FILE ARGS... --check-config` must exit 0
 * saying "...: OK": the new image reading the configuration it will read,
 * with its own parser and checks. libvirt's virtlockd, the image a give-back
 * (the package's removal) runs, has no such check: its configuration is
 * read with this image's parser instead.
 */
#ifndef LW_EXECCHECK_H
#define LW_EXECCHECK_H

/*
 * argv as the re-exec will run it; argv[0] found in PATH as execvp finds
 * it; config: the file it reads without -f. 0 with *path (allocated: what
 * to execv), or -errno with *why (allocated: which file, what is wrong).
 */
int exec_check(char *const *argv, const char *config, char **path, char **why);

#endif

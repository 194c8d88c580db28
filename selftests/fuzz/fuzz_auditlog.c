// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The audit log as its readers meet it on disk, where whoever could write
 * there may have left anything: a segment (plain or gzip, told by its
 * content) read line by line and verified as lockwarden-audit verify does,
 * and the last record and the tip file read as the daemon does at start
 * to continue the chain. The input's first line is the tip file, and when
 * it reads as one, the tip exported off the disk (SEQ:HASH); the rest is
 * the log. Records are checked against a fixed key (mkseeds.py's).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditlog.h"
#include "sandbox.h"
#include "util.h"

#define LOG "audit.jsonl"
#define KEY "lockwarden-fuzz-audit-key-000000"

static struct hmac_sha256_ctx key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sandbox_enter(argc, argv);
	hmac_sha256_set_key(&key, sizeof(KEY) - 1, (const uint8_t *)KEY);
	return 0;
}

static void put_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write_all(fd, p, n) < 0)
		abort();
	close(fd);
}

static void verify(const char *anchor)
{
	struct audit_verify v;
	struct audit_reader *r;
	char *line, *why = NULL;
	size_t len;
	int rc;

	auditlog_verify_init(&v);
	v.have_tip = auditlog_tip_read(LOG, &v.tip_seq, v.tip_hash) == 0;
	v.have_anchor = auditlog_anchor_parse(anchor, &v.anchor) == 0;
	v.key = &key;
	if (auditlog_reader_open(LOG, &r) < 0)
		abort();
	while ((rc = auditlog_reader_next(r, &line, &len, &why)) > 0) {
		auditlog_verify_line(&v, LOG, 0, auditlog_reader_lineno(r), line, len, &why);
		free(why);
	}
	if (rc < 0) {
		auditlog_verify_problem(&v, why);
		free(why);
	}
	auditlog_verify_segment_end(&v, LOG, 0, auditlog_reader_lineno(r),
				    auditlog_reader_partial(r), &why);
	free(why);
	auditlog_reader_close(r);
	auditlog_verify_end(&v, &why);
	free(why);
	auditlog_verify_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tip = nl ? (size_t)(nl - data) + 1 : size;
	char *tip_path = auditlog_tip_path(LOG);
	char *anchor = xstrndup((const char *)data, nl ? tip - 1 : tip);
	struct audit_rec rec;
	size_t partial;

	put_file(tip_path, data, tip);
	put_file(LOG, data + tip, size - tip);
	verify(anchor);
	free(anchor);
	if (auditlog_last_record(LOG, &rec, &partial) == 0)
		auditlog_rec_free(&rec);
	free(tip_path);
	sandbox_wipe();
	return 0;
}

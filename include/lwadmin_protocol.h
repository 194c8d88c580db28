/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lockwarden's own admin program (LWADMIN_PROGRAM, lock_protocol.h) on the
 * admin socket, spoken by lockwardenctl with libvirt's framing. Replies
 * that describe something are one XDR string holding a JSON document, so
 * the tool and the daemon share no struct layouts and fields can be added
 * without a new version.
 */
#ifndef LW_LWADMIN_PROTOCOL_H
#define LW_LWADMIN_PROTOCOL_H

enum lwadmin_proc {
	LWADMIN_PROC_STATUS	= 1,	/* () -> string: the status object (daemon_status) */
	LWADMIN_PROC_LOCKS	= 2,	/* () -> string: [ {resource, lockspace, path, mode, owners} ] */
	LWADMIN_PROC_CLIENTS	= 3,	/* () -> string: [ {id, socket, pid, uid, ...} ] */
	LWADMIN_PROC_VIOLATIONS	= 4,	/* (u64 since ns, u32 limit) -> string: [ audit records ] */
	LWADMIN_PROC_REEXEC	= 5,	/* () -> (): re-exec as on SIGUSR1, after the reply */
	LWADMIN_PROC_TEST_ALERT	= 6,	/* () -> (): raise a critical "alert_test" event */
};

#endif

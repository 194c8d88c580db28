/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wire contract with libvirt: message framing, the lock program
 * (0xEA7BEEF v1, what lockd.so speaks), keepalive and the admin program,
 * and the error numbers libvirt clients decode. Values are libvirt's.
 */
#ifndef LW_LOCK_PROTOCOL_H
#define LW_LOCK_PROTOCOL_H

/* Framing: a 4-byte big-endian total length, a 24-byte header, XDR body. */
#define RPC_LEN_SIZE		4
#define RPC_HDR_SIZE		24
#define RPC_MESSAGE_MAX		33554432	/* libvirt's own limit */
#define RPC_STRING_MAX		4194304

enum rpc_type {
	RPC_CALL		= 0,
	RPC_REPLY		= 1,
	RPC_MESSAGE		= 2,
	RPC_STREAM		= 3,
	RPC_CALL_WITH_FDS	= 4,
	RPC_REPLY_WITH_FDS	= 5,
	RPC_STREAM_HOLE		= 6,
};

enum rpc_status {
	RPC_OK			= 0,
	RPC_ERROR		= 1,
	RPC_CONTINUE		= 2,
};

/* The lock program. */
#define LOCK_PROGRAM		0xEA7BEEF
#define LOCK_PROGRAM_VERSION	1
#define LOCK_STRING_MAX		65536
#define LOCK_UUID_LEN		16

enum lock_proc {
	LOCK_PROC_REGISTER		= 1,
	LOCK_PROC_RESTRICT		= 2,
	LOCK_PROC_NEW			= 3,
	LOCK_PROC_CREATE_RESOURCE	= 4,
	LOCK_PROC_DELETE_RESOURCE	= 5,
	LOCK_PROC_ACQUIRE_RESOURCE	= 6,
	LOCK_PROC_RELEASE_RESOURCE	= 7,
	LOCK_PROC_CREATE_LOCKSPACE	= 8,
};

enum lock_acquire_flags {
	LOCK_ACQUIRE_SHARED	= 1 << 0,
	LOCK_ACQUIRE_AUTOCREATE	= 1 << 1,
};

/* Keepalive: PING and PONG travel as RPC_MESSAGE. */
#define KEEPALIVE_PROGRAM	0x6b656570
#define KEEPALIVE_VERSION	1
#define KEEPALIVE_PROC_PING	1
#define KEEPALIVE_PROC_PONG	2

/* libvirt's admin program, spoken on the admin socket. */
#define ADMIN_PROGRAM		0x06900690
#define ADMIN_PROGRAM_VERSION	1

/* lockwarden's own admin program (lockwardenctl), also on the admin socket. */
#define LWADMIN_PROGRAM		0x4C574144	/* "LWAD" */
#define LWADMIN_PROGRAM_VERSION	1

/* virErrorDomain values used on the wire. */
enum lw_err_domain {
	ERR_FROM_NONE		= 0,
	ERR_FROM_RPC		= 7,
	ERR_FROM_CONF		= 9,
	ERR_FROM_LOCKING	= 42,
	ERR_FROM_LOCKSPACE	= 51,
	ERR_FROM_ADMIN		= 62,
};

/* virErrorNumber values used on the wire. */
enum lw_err_code {
	ERR_OK			= 0,
	ERR_INTERNAL_ERROR	= 1,
	ERR_NO_SUPPORT		= 3,
	ERR_INVALID_ARG		= 8,
	ERR_OPERATION_DENIED	= 29,
	ERR_SYSTEM_ERROR	= 38,
	ERR_RPC			= 39,
	ERR_OPERATION_INVALID	= 55,
	ERR_OPERATION_UNSUPPORTED = 84,
	ERR_RESOURCE_BUSY	= 87,
	ERR_NO_SERVER		= 95,
	ERR_NO_CLIENT		= 96,
};

#define ERR_LEVEL_ERROR		2

#endif

#!/usr/bin/env python3
# Write the seed corpora of the fuzz targets into selftests/fuzz/corpus/:
# well-formed sessions and near misses, from which the fuzzers mutate.
# Re-run after changing it; the seeds are committed, what the fuzzers find
# later is not.
import copy
import gzip
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

LOCK_PROGRAM, KEEPALIVE = 0xEA7BEEF, 0x6B656570
CALL, REPLY, MESSAGE, STREAM, CALL_WITH_FDS = 0, 1, 2, 3, 4
REGISTER, RESTRICT, NEW, CREATE, DELETE, ACQUIRE, RELEASE, CREATE_LS = range(1, 9)
SHARED, AUTOCREATE = 1, 2
CLIENT_FRAME_MAX = 262144


def u32(v):
    return struct.pack('>I', v & 0xFFFFFFFF)


def string(s):
    b = s.encode()
    return u32(len(b)) + b + b'\0' * (-len(b) % 4)


def frame(proc, body=b'', prog=LOCK_PROGRAM, vers=1, typ=CALL, serial=1, status=0):
    hdr = u32(prog) + u32(vers) + u32(proc) + u32(typ) + u32(serial) + u32(status)
    return u32(4 + len(hdr) + len(body)) + hdr + body


def register(pid=4242, name='vm1', owner_id=1):
    return frame(REGISTER, bytes(range(16)) + string(name) + u32(owner_id) + u32(pid) + u32(0))


def res(proc, path, name, flags=0, serial=2):
    return frame(proc, string(path) + string(name) + u32(flags), serial=serial)


def session(*frames, cut=255, admin=False):
    # byte 0: read size (255: large reads), byte 1: which socket
    return bytes([cut, 1 if admin else 0]) + b''.join(frames)


RPC = {
    'default_lockspace': session(register(), res(ACQUIRE, '', 'disk.img', AUTOCREATE),
                                 res(RELEASE, '', 'disk.img', 0, 3)),
    'indirect_shared': session(register(), frame(NEW, string('ls') + u32(0)),
                               res(ACQUIRE, 'ls', 'a', SHARED | AUTOCREATE),
                               res(ACQUIRE, 'ls', 'a', SHARED | AUTOCREATE, 3),
                               res(RELEASE, 'ls', 'a', 0, 4), res(RELEASE, 'ls', 'a', 0, 5)),
    'exclusive_busy': session(register(), frame(CREATE_LS, string('ls')),
                              res(ACQUIRE, 'ls', 'b', AUTOCREATE),
                              res(ACQUIRE, 'ls', 'b', AUTOCREATE, 3),
                              res(DELETE, 'ls', 'b', 0, 4)),
    'restricted': session(register(), frame(RESTRICT, u32(0)),
                          res(ACQUIRE, '', 'disk.img', AUTOCREATE)),
    'unregistered': session(res(ACQUIRE, '', 'disk.img', AUTOCREATE), frame(RESTRICT, u32(0))),
    'create_delete': session(register(), frame(CREATE_LS, string('ls')),
                             res(CREATE, 'ls', 'c'), res(DELETE, 'ls', 'c', 0, 3),
                             res(CREATE, 'ls', '../escape', 0, 4)),
    'bad_flags': session(register(), res(ACQUIRE, '', 'x', 0x80), frame(NEW, string('') + u32(0))),
    'keepalive': session(frame(1, prog=KEEPALIVE, typ=MESSAGE), register()),
    'routing': session(frame(1, prog=0x12345678), frame(1, vers=2), frame(99),
                       frame(REGISTER, typ=REPLY), frame(REGISTER, typ=STREAM),
                       frame(REGISTER, status=1), register()),
    'with_fds': session(register(), frame(ACQUIRE, typ=CALL_WITH_FDS)),
    'byte_reads': session(register(), res(ACQUIRE, '', 'disk.img', AUTOCREATE), cut=0),
    'admin_socket': session(register(), frame(1, prog=0x06900690), admin=True),
    'truncated': session(register(), res(ACQUIRE, '', 'disk.img', AUTOCREATE)[:30]),
    # The limits: 65536-byte strings (one byte more does not decode), a
    # frame of CLIENT_FRAME_MAX bytes, and a length word one byte over it.
    'string_limit': session(register(), res(ACQUIRE, '', 'n' * 65536, AUTOCREATE),
                            res(ACQUIRE, '', 'n' * 65537, AUTOCREATE, 3)),
    'frame_limit': session(register(), frame(REGISTER, b'\0' * (CLIENT_FRAME_MAX - 28))),
    'frame_over': session(register(), u32(CLIENT_FRAME_MAX + 1) + b'\0' * 24),
}

CONFIG = {
    'virtlockd': b'''# virtlockd.conf
log_level = 3
log_filters = "3:lockspace 1:rpc"
log_outputs = "3:stderr 2:file:/var/log/lockwarden.log 4:syslog:lockwardend"
max_clients = 1024
admin_max_clients = 5
audit_log = "/var/log/lockwarden/audit.jsonl"
''',
    'syntax': b'''unknown_key = [ "a", 'b',
  "c" ]   # a list
log_filters = """1:a
2:b"""
max_clients = +12;
admin_max_clients=-1
''',
    'errors': b'log_level = 9\nmax_clients = "x"\naudit_log = "relative"\n',
}


GENESIS = '0' * 64


def sealed(records):
    """Lines of an audit log: each object gets seq, prev and hash, as
    auditlog_seal() writes them; returns (text, last seq, last hash)."""
    prev, out = GENESIS, []
    for seq, body in enumerate(records, 1):
        inner = body[1:-1]
        line = '{"seq":%d%s,"prev":"%s"' % (seq, ',' + inner if inner else '', prev)
        prev = hashlib.sha256(line.encode()).hexdigest()
        out.append('%s,"hash":"%s"}\n' % (line, prev))
    return ''.join(out).encode(), len(records), prev


def audit_seed(records, tip=True, gz=False, cut=0):
    text, seq, last = sealed(records)
    if cut:
        text = text[:-cut]
    if gz:
        text = gzip.compress(text, mtime=0)
    head = ('%020d %s\n' % (seq, last)).encode() if tip else b'\n'
    return head + text


EVENTS = [
    '{"event":"daemon_start","time":"2026-01-01T00:00:00.000000000Z","pid":42}',
    '{"event":"lock_acquire","resource":"/srv/a.img","owner_pid":7,"shared":false}',
    '{"event":"audit_segment_removed","last_seq":1,"last_hash":"%s"}' % ('ab' * 32),
    '{"event":"lock_release","resource":"/srv/a.img","owner_pid":7}',
    '{}',
]

AUDITLOG = {
    'chain': audit_seed(EVENTS),
    'gzip': audit_seed(EVENTS, gz=True),
    'no_tip': audit_seed(EVENTS, tip=False),
    'cut_short': audit_seed(EVENTS, cut=10),
    'gzip_cut': audit_seed(EVENTS, gz=True)[:-20],
    # Valid records (their hashes match) with members of unexpected types:
    # only a seed can reach them, a fuzzer cannot forge the hash.
    'odd_types': audit_seed(['{"event":null}', '{"event":7,"last_seq":"x"}',
                             '{"event":"audit_segment_removed","last_seq":null,'
                             '"last_hash":null}',
                             '{"event":"audit_segment_removed","last_seq":"9",'
                             '"last_hash":"%s"}' % ('cd' * 32)]),
}


# The re-exec state, as fuzz_state's fixture hands it over: listening
# sockets 200 and 201, clients 202 and 203, ls/res 204 (OFD, exclusive),
# disk.img 205 (OFD, shared), posix.img 206 (POSIX), the pid file 207;
# 4000000000 and 40000002NN stand for the device and fd 2NN's inode.
def server(fd, clients, next_id=1):
    return {'min_workers': 0, 'max_workers': 0, 'priority_workers': 0, 'max_clients': 1024,
            'max_anonymous_clients': 1024, 'keepaliveInterval': 4294967295,
            'keepaliveCount': 0, 'next_client_id': next_id,
            'services': [{'auth': 0, 'readonly': False, 'nrequests_client_max': 1,
                          'socks': [{'fd': fd, 'errfd': -1, 'pid': 0, 'isClient': False,
                                     'unlinkUNIX': True}]}],
            'clients': clients}


def client(fd, cid, owner=None):
    c = {'id': cid, 'auth': 0, 'auth_pending': False, 'readonly': False, 'nrequests_max': 1,
         'conn_time': 1795300980, 'sock': {'fd': fd, 'errfd': -1, 'pid': 0, 'isClient': True,
                                           'unlinkUNIX': False}}
    if owner is not None:
        c['privateData'] = {'restricted': False, 'ownerPid': owner, 'ownerId': 1 if owner else 0,
                            'ownerName': 'vm1', 'ownerUUID': '00112233-4455-6677-8899-aabbccddeeff'}
    return c


def resource(name, path, fd, flags, ours=None):
    r = {'name': name, 'path': path, 'fd': fd, 'lockHeld': True, 'flags': flags, 'owners': [4242]}
    if ours is not None:
        r['lockwarden'] = [ours, 4000000000, 4000000000 + fd, fd - 200]   # posix, dev, ino, id
    return r


# What virtlockd 9.0 writes (its own re-exec, or ours taking it over).
VIRTLOCKD_STATE = {
    'daemon': {'servers': {'admin': server(201, []),
                           'virtlockd': server(200, [client(202, 1, 4242)], 2)}},
    'defaultLockspace': {'resources': [resource('posix.img', 'posix.img', 206, 0)]},
    'lockspaces': [{'directory': 'ls', 'resources': []}],
    'magic': '1',
}
OURS_STATE = copy.deepcopy(VIRTLOCKD_STATE)
OURS_STATE['daemon']['servers']['admin']['clients'] = [client(203, 2)]
OURS_STATE['daemon']['servers']['virtlockd']['clients'][0]['lockwarden'] = {
    'rx': 'AAAAHA==', 'tx': '', 'connect_time_ns': 1795300980000000000,
    'owner': {'start': 123456, 'pidfd': -1}}   # identity taken at REGISTER (no pidfd here)
OURS_STATE['defaultLockspace']['resources'] = [
    resource('disk.img', 'disk.img', 205, 1, False), resource('posix.img', 'posix.img', 206, 0, True)]
OURS_STATE['lockspaces'][0]['resources'] = [resource('res', 'ls/res', 204, 2, False)]
OURS_STATE['lockwarden'] = {'next_resource_id': 9, 'pidfile': {'path': 'virtlockd.pid', 'fd': 207},
                            'victims': []}
OLD_LAYOUT = {'server': server(200, [client(202, 1, 4242)]),
              'defaultLockspace': {'resources': []}, 'lockspaces': [], 'magic': '1'}
ARRAY_LAYOUT = copy.deepcopy(VIRTLOCKD_STATE)
ARRAY_LAYOUT['daemon']['servers'] = [server(200, []), server(201, [])]
TWICE = copy.deepcopy(OURS_STATE)
TWICE['lockspaces'].append({'directory': 'ls', 'resources': [resource('x', 'ls/x', 200, 0)]})
TWICE['lockwarden']['victims'] = [{'pidfd': 5, 'pid': 1, 'sent_kill': False}]

STATE = {name: json.dumps(st, indent=1).encode() for name, st in {
    'virtlockd9': VIRTLOCKD_STATE, 'ours': OURS_STATE, 'old_layout': OLD_LAYOUT,
    'servers_array': ARRAY_LAYOUT, 'named_twice': TWICE}.items()}


def write(target, seeds):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


write('rpc', RPC)
write('config', CONFIG)
write('auditlog', AUDITLOG)
write('state', STATE)

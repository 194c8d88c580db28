#!/usr/bin/env python3
"""backlog.py SOCK N BYTES: N connections to SOCK each write BYTES of calls
to a procedure that does not exist (each answered by an error reply four
times its size) and never read. Returns once no connection can write more
for 2 s; then waits for a line on stdin, holding every connection open."""
import socket
import struct
import sys
import time

path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hdr = struct.pack('>7I', 28, 0xEA7BEEF, 1, 99, 0, 1, 0)
data = hdr * (size // len(hdr))
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.setblocking(False)
    conns.append([s, 0])
last = time.monotonic()
while time.monotonic() - last < 2:
    for c in conns:
        if c[1] < len(data):
            try:
                c[1] += c[0].send(data[c[1]:c[1] + 65536])
                last = time.monotonic()
            except BlockingIOError:
                pass
    if all(c[1] >= len(data) for c in conns):
        break
    time.sleep(0.01)
print(sum(c[1] for c in conns), flush=True)
sys.stdin.readline()

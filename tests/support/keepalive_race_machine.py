"""A machine workload (stdlib only, on $PORT) that plays the keep-alive race against the proxy: it
answers the first request on every connection with keep-alive, and resets the connection when a
second request arrives on it, as a server does whose idle timeout fired just as the request came in.
A proxy that reuses pooled connections must send the request again on a fresh one.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading


def _serve(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        served = 0
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            if served:
                # Close with RST (linger 0) and the request unread, like a timed-out keep-alive.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(buf) < length:
                buf += conn.recv(65536)
            buf = buf[length:]
            body = json.dumps({"machine_id": os.environ.get("FLY_MACHINE_ID"), "path": head.split(b" ")[1].decode()}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            served += 1


def main() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(os.environ["PORT"])))
    server.listen(128)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()

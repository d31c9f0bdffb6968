"""A UDP OSC peer on 127.0.0.1 for tests and benchmarks: a socket on an ephemeral port and a
thread that decodes every datagram it receives (python-osc, not the product's own decoder) and
hands each message to ``on_message(arrival_time, address, args)``; each user keeps what it needs."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket


class OscPeer:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def on_message(self, t: float, address: str, args: list[Any]) -> None:  # receive thread
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            t = time.monotonic()
            for m in OscPacket(data).messages:
                self.on_message(t, m.message.address, list(m.message.params))

    def send(self, port: int, address: str, *args: Any) -> None:
        self.sock.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", port))

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()

"""The rate limit holds: a loopback responder counts when each query arrives, and every 10-second window of a
scan at --rate R carries R×10 queries within ±5 % (after the first query; no initial burst)."""
import socket
import subprocess
import threading
import time

from conftest import free_ports

RATE = 3000
NAMES = 34_000  # a little over 11 s at RATE


class Responder(threading.Thread):
    """Answers every query with NXDOMAIN at once and records arrival times."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.arrivals = []
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                query, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            self.arrivals.append(time.monotonic())
            # Header: same id, QR=1 RD RA, RCODE=3; one question, no records; the question copied.
            qend = 12
            while query[qend] != 0:
                qend += 1 + query[qend]
            qend += 5
            reply = query[:2] + b"\x81\x83" + b"\x00\x01\x00\x00\x00\x00\x00\x00" + query[12:qend]
            self.sock.sendto(reply, peer)


def test_rate_holds_in_every_ten_second_window(mxscan_bin, tmp_path):
    (port,) = free_ports(1)
    responder = Responder(port)
    responder.start()
    names = tmp_path / "names.txt"
    names.write_text("".join(f"n{i}.rate-test.example\n" for i in range(NAMES)))
    try:
        proc = subprocess.run([mxscan_bin, "scan", str(names), "-o", str(tmp_path / "out.parquet"),
                               "--resolver", f"127.0.0.1:{port}", "--rate", str(RATE), "--mx-only",
                               "--timeout", "2s", "--retries", "0", "--quiet"], capture_output=True, timeout=120)
    finally:
        responder.stop = True
        responder.join()
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    arrivals = responder.arrivals
    assert len(arrivals) == NAMES, f"{len(arrivals)} queries for {NAMES} names"
    start = arrivals[0]
    # No initial flood: the first 100 ms carry the 10 ms burst plus 100 ms at the rate (and slack for the
    # responder's own scheduling), not a second's worth.
    first = sum(1 for t in arrivals if t - start < 0.100)
    assert first <= RATE // 100 + RATE // 10 + 50, f"initial burst: {first} queries in the first 100 ms"
    # Every 10-second window starting on a 100 ms step, while the scan ran.
    end = arrivals[-1]
    worst = []
    step = 0.1
    i = j = 0
    t0 = start
    while t0 + 10 <= end:
        while arrivals[i] < t0:
            i += 1
        while j < len(arrivals) and arrivals[j] < t0 + 10:
            j += 1
        worst.append((j - i) / 10)
        t0 += step
    assert worst, "the scan ran less than 10 s"
    low, high = min(worst), max(worst)
    print(f"\n10 s windows: {low:.1f}..{high:.1f} q/s for --rate {RATE}")
    assert RATE * 0.95 <= low and high <= RATE * 1.05, f"10 s windows ranged {low:.0f}..{high:.0f} q/s for --rate {RATE}"

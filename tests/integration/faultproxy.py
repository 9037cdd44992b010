"""A fault-injecting DNS proxy for tests, loopback only: clients talk to it as to a resolver, it relays to the
real one (UDP and TCP) and on the way drops, duplicates, delays/reorders, forges, mangles and truncates.

    proxy = FaultProxy(upstream=("127.0.0.1", 53531), loss=0.3, forge=0.5, ...); proxy.start(); ...; proxy.stop()

Forgeries carry the right question and a poisoned answer (A 6.6.6.6, or MX to `poisoned.invalid-mx.example`):
with the right id from another source port or from another loopback address (127.0.0.2) at the resolver's
port, or from the right address and port with a wrong id. Malformed
packets come from the right address and port with the right id: short, bad counts, a compression loop,
a label running past the end. Truncated answers keep header and question, with TC set and no records (as a
server does when the answer does not fit), so the client must ask again over TCP. Over TCP the proxy serves
any number of queries per connection, or with tcp_stall accepts them and never answers. With rcode set,
the proxy is a lying resolver: it answers every UDP query itself with that RCODE. Counters tell what
was done.
"""
import asyncio
import collections
import random
import socket
import struct
import threading

POISON_A = bytes([6, 6, 6, 6])
POISON_MX = b"\x08poisoned\x0einvalid-mx-com\x07example\x00"


def question_end(msg):
    pos = 12
    while pos < len(msg) and msg[pos] != 0:
        pos += 1 + msg[pos]
    return pos + 5


def forged_answer(query, qid):
    """A response to `query` with id `qid` and a poisoned record for its question."""
    qend = question_end(query)
    qtype = struct.unpack(">H", query[qend - 4:qend - 2])[0]
    if qtype == 15:
        rdata = b"\x00\x0a" + POISON_MX
        rtype = 15
    else:
        rdata, rtype = POISON_A, 1
    answer = b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 3600, len(rdata)) + rdata
    return struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + query[12:qend] + answer


def malformed(query, kind):
    qid = query[:2]
    if kind == 0:
        return qid + b"\x81"  # short
    if kind == 1:  # answer count far beyond the data
        return qid + b"\x81\x80\x00\x01\x00\x40\x00\x00\x00\x00" + query[12:question_end(query)]
    if kind == 2:  # a compression pointer to itself in the question
        return qid + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x0f\x00\x01"
    # a label that runs past the end
    return qid + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc"


def truncated(answer):
    """The answer cut to header and question, TC set, every count but the question's zero."""
    qend = question_end(answer)
    flags = struct.unpack(">H", answer[2:4])[0] | 0x0200
    return answer[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + answer[12:qend]


class FaultProxy:
    def __init__(self, upstream, loss=0.0, duplicate=0.0, delay=0.0, forge=0.0, mangle=0.0, truncate=0.0,
                 tcp_stall=False, rcode=None, seed=1):
        self.upstream = upstream
        self.loss, self.duplicate, self.delay, self.forge, self.mangle = loss, duplicate, delay, forge, mangle
        self.truncate, self.tcp_stall, self.rcode = truncate, tcp_stall, rcode
        self.rng = random.Random(seed)
        self.counts = collections.Counter()
        # One port for UDP and TCP, both bound here and kept: a port picked and released could be taken by
        # someone's outgoing connection before the proxy binds it again.
        while True:
            self.udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp_sock.bind(("127.0.0.1", 0))
            self.port = self.udp_sock.getsockname()[1]
            self.tcp_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.tcp_sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp_sock.close()
                self.tcp_sock.close()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._setup())
        self.ready.set()
        self.loop.run_forever()

    async def _setup(self):
        loop = self.loop
        proxy = self

        class Front(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                proxy.front = transport
                # Only the configured faults: no losses from a small buffer.
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

            def datagram_received(self, data, client):
                proxy._from_client(data, client)

        class Back(asyncio.DatagramProtocol):
            def __init__(self, client):
                self.client = client

            def datagram_received(self, data, _):
                proxy._from_upstream(data, self.client)

        class Forger(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                proxy.forger = transport

        self.Back = Back
        self.backs = {}
        await loop.create_datagram_endpoint(Front, sock=self.udp_sock)
        await loop.create_datagram_endpoint(Forger, local_addr=("127.0.0.1", 0))

        class AddressForger(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                proxy.address_forger = transport

        # The resolver's port on another loopback address: only the source address gives it away.
        await loop.create_datagram_endpoint(AddressForger, local_addr=("127.0.0.2", self.port))
        await asyncio.start_server(self._tcp, sock=self.tcp_sock)

    def _from_client(self, data, client):
        self.counts["queries"] += 1
        if self.rcode is not None and len(data) > 12:
            # A lying resolver: every query answered at once with this RCODE (SERVFAIL, REFUSED), no records.
            flags = 0x8180 | self.rcode
            self.front.sendto(data[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + data[12:question_end(data)],
                              client)
            self.counts["rcode"] += 1
            return
        if len(data) > 12 and self.rng.random() < self.forge:
            qid = struct.unpack(">H", data[:2])[0]
            # The right id from the wrong port or the wrong address, and a wrong id from the right port.
            self.forger.sendto(forged_answer(data, qid), client)
            self.address_forger.sendto(forged_answer(data, qid), client)
            self.front.sendto(forged_answer(data, qid ^ (1 + self.rng.randrange(0xfffe))), client)
            self.counts["forged"] += 3
        if len(data) > 12 and self.rng.random() < self.mangle:
            self.front.sendto(malformed(data, self.rng.randrange(4)), client)
            self.counts["malformed"] += 1
        if self.rng.random() < self.loss:
            self.counts["dropped_queries"] += 1
            return
        back = self.backs.get(client)
        if back is None:
            transport_future = self.loop.create_datagram_endpoint(lambda: self.Back(client),
                                                                  remote_addr=self.upstream)
            task = self.loop.create_task(transport_future)
            self.backs[client] = task
            task.add_done_callback(lambda t: t.result()[0].sendto(data))
            return
        if back.done():
            back.result()[0].sendto(data)
        else:
            back.add_done_callback(lambda t: t.result()[0].sendto(data))

    def _from_upstream(self, data, client):
        if self.rng.random() < self.loss:
            self.counts["dropped_answers"] += 1
            return
        if len(data) > 12 and self.rng.random() < self.truncate:
            data = truncated(data)
            self.counts["truncated"] += 1
        copies = 2 if self.rng.random() < self.duplicate else 1
        self.counts["duplicated"] += copies - 1
        for _ in range(copies):
            if self.rng.random() < self.delay:
                self.counts["delayed"] += 1
                self.loop.call_later(self.rng.uniform(0.01, 0.3), self.front.sendto, data, client)
            else:
                self.front.sendto(data, client)

    async def _tcp(self, reader, writer):
        self.counts["tcp_connections"] += 1
        up_writer = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            while True:
                length = await reader.readexactly(2)
                query = await reader.readexactly(struct.unpack(">H", length)[0])
                self.counts["tcp_queries"] += 1
                if self.tcp_stall:
                    continue
                up_writer.write(length + query)
                await up_writer.drain()
                length = await up_reader.readexactly(2)
                answer = await up_reader.readexactly(struct.unpack(">H", length)[0])
                writer.write(length + answer)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if up_writer is not None:
                up_writer.close()
            writer.close()

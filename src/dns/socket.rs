//! UDP sockets for the query engine: several sockets (several random source
//! ports, RFC 5452 §9.2), large buffers, and batched `sendmmsg`/`recvmmsg`
//! so one system call moves up to [`BATCH`] datagrams.

use std::io;
use std::mem::{MaybeUninit, size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams per system call.
pub const BATCH: usize = 64;
/// Receive buffer per datagram: larger than the EDNS size we advertise, so
/// an oversized answer is seen (and parsed) rather than cut.
const DATAGRAM: usize = 4096;
/// Socket buffers: bursts of answers must not overflow while the engine is
/// busy (Linux caps this at net.core.rmem_max, then doubles it).
const RECV_BUFFER: usize = 8 << 20;
const SEND_BUFFER: usize = 4 << 20;

/// Pending ICMP errors reported in a row before the datagram being sent is
/// given up (see [`UdpPool::send_batch`]).
const MAX_REFUSALS: usize = 4;

/// What [`UdpPool::send_batch`] did with a batch.
#[derive(Debug, Default)]
pub struct SendReport {
    /// Datagrams dealt with, from the front of the batch: sent, or failed
    /// and skipped. Fewer than the batch only when the socket buffer is full.
    pub done: usize,
    /// Datagrams the kernel would not send (index into the batch, why):
    /// lost, like a datagram dropped on the way.
    pub failed: Vec<(usize, io::Error)>,
    /// Datagrams whose send reported `ECONNREFUSED` (index into the batch;
    /// a datagram may appear more than once): on a connected socket, an
    /// earlier datagram to the same destination met a closed port. The
    /// datagram itself was sent again (or, after repeated refusals, is in
    /// `failed`).
    pub refused: Vec<usize>,
}

/// Sockets bound (errors reported) but not yet registered with a tokio
/// runtime: the scan binds every engine's sockets before anything is sent,
/// and each engine thread registers its own with its runtime.
#[derive(Debug)]
pub struct UnregisteredPool {
    sockets: Vec<std::net::UdpSocket>,
    dual_stack: bool,
    connected: bool,
}

impl UnregisteredPool {
    /// Bind `count` sockets on ephemeral ports, able to reach every
    /// resolver in `resolvers` (IPv4-only, or dual-stack if any is IPv6).
    pub fn bind(count: usize, resolvers: &[SocketAddr]) -> io::Result<Self> {
        let dual_stack = resolvers.iter().any(SocketAddr::is_ipv6);
        let mut sockets = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let (domain, local): (Domain, SocketAddr) = if dual_stack {
                (Domain::IPV6, (Ipv6Addr::UNSPECIFIED, 0).into())
            } else {
                (Domain::IPV4, (Ipv4Addr::UNSPECIFIED, 0).into())
            };
            let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
            if dual_stack {
                socket.set_only_v6(false)?;
            }
            // Best effort: a host with a small rmem_max still works.
            let _ = socket.set_recv_buffer_size(RECV_BUFFER);
            let _ = socket.set_send_buffer_size(SEND_BUFFER);
            socket.set_nonblocking(true)?;
            socket.bind(&local.into())?;
            if let [only] = resolvers {
                // With one resolver the sockets are connected to it: the
                // kernel then skips a route lookup per datagram and drops
                // datagrams from any other source before we see them.
                let peer = match only {
                    SocketAddr::V4(v4) if dual_stack => {
                        SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
                    }
                    other => *other,
                };
                socket.connect(&peer.into())?;
            }
            sockets.push(socket.into());
        }
        Ok(Self { sockets, dual_stack, connected: resolvers.len() == 1 })
    }

    /// Number of sockets.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// No sockets (never, after `bind`).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Register the sockets with the current tokio runtime (must be called
    /// inside one).
    pub fn register(self) -> io::Result<UdpPool> {
        let sockets = self.sockets.into_iter().map(UdpSocket::from_std).collect::<io::Result<_>>()?;
        Ok(UdpPool { sockets, dual_stack: self.dual_stack, connected: self.connected })
    }
}

/// The engine's sockets.
#[derive(Debug)]
pub struct UdpPool {
    sockets: Vec<UdpSocket>,
    dual_stack: bool,
    connected: bool,
}

impl UdpPool {
    /// Bind `count` sockets on ephemeral ports, able to reach every
    /// resolver in `resolvers` (IPv4-only, or dual-stack if any is IPv6).
    /// Must be called inside a tokio runtime.
    pub fn bind(count: usize, resolvers: &[SocketAddr]) -> io::Result<Self> {
        UnregisteredPool::bind(count, resolvers)?.register()
    }

    /// Number of sockets.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// No sockets (never, after `bind`).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Resolves when some socket may be readable; returns its index.
    pub async fn readable(&self) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            for (i, s) in self.sockets.iter().enumerate() {
                if let std::task::Poll::Ready(r) = s.poll_recv_ready(cx) {
                    return std::task::Poll::Ready(r.map(|()| i));
                }
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// Send `packets` from socket `index` with as few calls as possible.
    ///
    /// A datagram the kernel refuses (no route, a bad address) is skipped
    /// and listed in [`SendReport::failed`]; the rest of the batch still
    /// goes out. `sendmmsg(2)` reports an error only when it sent nothing,
    /// so the call after a partial send starts at the datagram that failed
    /// and the error is its own.
    ///
    /// `ECONNREFUSED` on a connected socket is not about the datagram being
    /// sent: it is the ICMP port unreachable an earlier datagram drew
    /// (RFC 1122 §4.1.3.3: UDP passes ICMP errors up), pending on the socket
    /// and cleared by reporting it. It is listed in
    /// [`SendReport::refused`] and the datagram is sent again.
    ///
    /// Stops early, with [`SendReport::done`] short of the batch, only when
    /// the socket buffer is full (the rest should wait for writability).
    pub fn send_batch(&self, index: usize, packets: &[(SocketAddr, &[u8])]) -> SendReport {
        let socket = &self.sockets[index];
        let mut report = SendReport::default();
        let mut refusals = 0;
        while report.done < packets.len() {
            let chunk = &packets[report.done..packets.len().min(report.done + BATCH)];
            // Straight to the kernel first: tokio only knows a socket is
            // writable after its reactor has polled it once. On EAGAIN the
            // same call through `try_io` clears tokio's readiness, so that
            // `writable()` then really waits.
            let direct = sendmmsg(socket.as_raw_fd(), chunk, self.dual_stack, self.connected);
            let result = match direct {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.try_io(Interest::WRITABLE, || {
                    sendmmsg(socket.as_raw_fd(), chunk, self.dual_stack, self.connected)
                }),
                other => other,
            };
            match result {
                Ok(n) => {
                    report.done += n;
                    refusals = 0;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Each refusal is an earlier datagram's ICMP error, so they
                // run out; the bound only guarantees progress.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && refusals < MAX_REFUSALS => {
                    report.refused.push(report.done);
                    refusals += 1;
                }
                Err(e) => {
                    report.failed.push((report.done, e));
                    report.done += 1;
                    refusals = 0;
                }
            }
        }
        report
    }

    /// Wait until socket `index` can take more datagrams.
    pub async fn writable(&self, index: usize) -> io::Result<()> {
        self.sockets[index].writable().await
    }

    /// Receive up to [`BATCH`] datagrams from socket `index` without
    /// waiting; 0 when none is queued.
    pub fn recv_batch(&self, index: usize, batch: &mut RecvBatch) -> io::Result<usize> {
        let socket = &self.sockets[index];
        batch.count = 0;
        match socket.try_io(Interest::READABLE, || recvmmsg(socket.as_raw_fd(), batch)) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(0),
            // An ICMP error drawn by an earlier send (port or host
            // unreachable...) surfaces here on a connected socket: the
            // resolver's trouble, not the socket's; the query times out.
            Err(e) if is_icmp_error(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Whether `e` is an ICMP error about an earlier datagram, which Linux
/// keeps pending on a connected UDP socket and reports on its next call
/// (RFC 1122 §4.1.3.3; the errnos of `icmp_err_convert` and
/// `icmpv6_err_convert`), rather than a fault of the socket itself.
fn is_icmp_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::ENOPROTOOPT
                | libc::EPROTO
                | libc::EACCES
                | libc::EMSGSIZE
                | libc::EOPNOTSUPP
        )
    )
}

/// Reusable buffers for one `recvmmsg` call.
pub struct RecvBatch {
    data: Vec<u8>,
    lens: [usize; BATCH],
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
    count: usize,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch").field("count", &self.count).finish()
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self {
            data: vec![0; BATCH * DATAGRAM],
            lens: [0; BATCH],
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            addrs: Box::new(unsafe { zeroed() }),
            count: 0,
        }
    }
}

impl RecvBatch {
    /// Datagram `i` of the last receive: source and payload. `None` for a
    /// source that is neither IPv4 nor IPv6.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        if i >= self.count {
            return None;
        }
        let addr = from_sockaddr(&self.addrs[i])?;
        Some((addr, &self.data[i * DATAGRAM..i * DATAGRAM + self.lens[i]]))
    }
}

fn recvmmsg(fd: i32, batch: &mut RecvBatch) -> io::Result<usize> {
    // SAFETY: every pointer below points into `batch`, which outlives the
    // call; lengths are the sizes of those buffers. Each header is built
    // whole (one small zeroed value per slot, not a memset of the arrays).
    unsafe {
        let base = batch.data.as_mut_ptr();
        let mut iovs: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: base.add(i * DATAGRAM).cast(),
            iov_len: DATAGRAM,
        });
        let mut hdrs: [libc::mmsghdr; BATCH] = std::array::from_fn(|i| {
            let mut hdr: libc::mmsghdr = zeroed();
            hdr.msg_hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = &mut iovs[i];
            hdr.msg_hdr.msg_iovlen = 1;
            hdr
        });
        let n = libc::recvmmsg(fd, hdrs.as_mut_ptr(), BATCH as u32, libc::MSG_DONTWAIT, std::ptr::null_mut());
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (len, hdr) in batch.lens.iter_mut().zip(&hdrs).take(n) {
            // A datagram larger than the buffer is cut (MSG_TRUNC); the
            // parser then sees a short message and drops it.
            *len = (hdr.msg_len as usize).min(DATAGRAM);
        }
        batch.count = n;
        Ok(n)
    }
}

fn sendmmsg(
    fd: i32,
    packets: &[(SocketAddr, &[u8])],
    dual_stack: bool,
    connected: bool,
) -> io::Result<usize> {
    let n = packets.len().min(BATCH);
    // Only the first `n` slots are written and handed to the kernel: the
    // engine sends a few datagrams at a time, and zeroing all BATCH slots
    // (13 KiB) on every call was 4 % of a scan's instructions.
    let mut addrs = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; BATCH];
    let mut iovs = [const { MaybeUninit::<libc::iovec>::uninit() }; BATCH];
    let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; BATCH];
    // SAFETY: as in recvmmsg; the payload slices are only read by the
    // kernel, and it reads only the `n` headers written below (and through
    // them the `n` addresses and iovecs, also written).
    unsafe {
        for (i, (dest, payload)) in packets[..n].iter().enumerate() {
            // Zeroed first: sin_zero and sin6_flowinfo must be 0.
            let addr = addrs[i].write(zeroed());
            let len = to_sockaddr(*dest, dual_stack, addr);
            let iov = iovs[i].write(libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            });
            let mut hdr: libc::mmsghdr = zeroed();
            if !connected {
                hdr.msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
                hdr.msg_hdr.msg_namelen = len;
            }
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdrs[i].write(hdr);
        }
        let sent =
            libc::sendmmsg(fd, hdrs.as_mut_ptr().cast::<libc::mmsghdr>(), n as u32, libc::MSG_DONTWAIT);
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

/// Write `addr` into `out`; on a dual-stack socket IPv4 goes as v4-mapped.
fn to_sockaddr(addr: SocketAddr, dual_stack: bool, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    let addr = match addr {
        SocketAddr::V4(v4) if dual_stack => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        other => other,
    };
    match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: v6.ip().octets() };
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Read a source address; v4-mapped IPv6 comes back as IPv4 so it compares
/// equal to the resolver address the user gave.
fn from_sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6 = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, sin6.sin6_scope_id)),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        for (addr, dual) in [
            ("127.0.0.1:5353", false),
            ("127.0.0.1:53", true),
            ("[::1]:8053", true),
            ("[2001:db8::5]:53", false),
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            // SAFETY: zeroed sockaddr_storage is valid.
            let mut s: libc::sockaddr_storage = unsafe { zeroed() };
            to_sockaddr(addr, dual, &mut s);
            assert_eq!(from_sockaddr(&s), Some(addr));
        }
    }

    #[tokio::test]
    async fn batches_cross_loopback() {
        let echo = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = echo.local_addr().unwrap();
        let pool = UdpPool::bind(1, &[dest]).unwrap();
        let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 20 + i as usize]).collect();
        let packets: Vec<(SocketAddr, &[u8])> = payloads.iter().map(|p| (dest, p.as_slice())).collect();
        let report = pool.send_batch(0, &packets);
        assert_eq!(report.done, 100);
        assert!(report.failed.is_empty() && report.refused.is_empty(), "{report:?}");
        let mut buf = [0u8; 512];
        let mut from = None;
        for i in 0..100u8 {
            let (n, src) = echo.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], payloads[i as usize].as_slice());
            echo.send_to(&buf[..n], src).unwrap();
            from = Some(src);
        }
        let mut batch = RecvBatch::default();
        let mut got = 0;
        while got < 100 {
            pool.readable().await.unwrap();
            let n = pool.recv_batch(0, &mut batch).unwrap();
            for i in 0..n {
                let (src, data) = batch.get(i).unwrap();
                assert_eq!(src, dest);
                assert_eq!(data, payloads[got].as_slice());
                got += 1;
            }
        }
        assert!(from.is_some());
    }

    /// A loopback socket to receive on, and its address.
    fn listener() -> (std::net::UdpSocket, SocketAddr) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    #[tokio::test]
    async fn a_failed_datagram_loses_only_itself() {
        let (rx, dest) = listener();
        // Two resolvers: the socket is not connected, so each datagram has its
        // own destination. An IPv6 destination on an IPv4 socket, and port 0,
        // are refused by the kernel (EAFNOSUPPORT, EINVAL) without leaving
        // the host.
        let (_other, other) = listener();
        let pool = UdpPool::bind(1, &[dest, other]).unwrap();
        let v6: SocketAddr = "[::1]:53".parse().unwrap();
        let port0: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let payloads: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 12]).collect();
        let dests = [dest, dest, v6, dest, dest, port0, dest, dest];
        let packets: Vec<(SocketAddr, &[u8])> =
            dests.iter().zip(&payloads).map(|(d, p)| (*d, p.as_slice())).collect();
        let report = pool.send_batch(0, &packets);
        assert_eq!(report.done, 8, "{report:?}");
        let failed: Vec<usize> = report.failed.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, [2, 5], "{report:?}");
        assert!(report.refused.is_empty());
        let mut buf = [0u8; 64];
        for i in [0u8, 1, 3, 4, 6, 7] {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 12], "datagram {i} arrives, in order");
        }
    }

    #[tokio::test]
    async fn a_pending_icmp_error_is_no_receive_error() {
        let closed = listener().1;
        let pool = UdpPool::bind(1, &[closed]).unwrap();
        assert_eq!(pool.send_batch(0, &[(closed, b"x".as_slice())]).done, 1);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut batch = RecvBatch::default();
        assert_eq!(pool.recv_batch(0, &mut batch).unwrap(), 0);
        assert!(is_icmp_error(&io::Error::from_raw_os_error(libc::EHOSTUNREACH)));
        assert!(!is_icmp_error(&io::Error::from_raw_os_error(libc::EBADF)));
    }

    #[tokio::test]
    async fn connection_refused_does_not_stop_the_batch() {
        // A closed loopback port: bind, note the address, close.
        let closed = listener().1;
        let pool = UdpPool::bind(1, &[closed]).unwrap();
        assert!(pool.connected);
        let first = pool.send_batch(0, &[(closed, b"first".as_slice())]);
        assert_eq!((first.done, first.failed.len()), (1, 0));
        // Let the ICMP port unreachable come back and wait on the socket.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 12]).collect();
        let packets: Vec<(SocketAddr, &[u8])> = payloads.iter().map(|p| (closed, p.as_slice())).collect();
        let report = pool.send_batch(0, &packets);
        assert_eq!(report.done, 10, "{report:?}");
        assert!(!report.refused.is_empty(), "the pending error is reported: {report:?}");
        assert!(report.failed.is_empty(), "and costs no datagram: {report:?}");
    }
}

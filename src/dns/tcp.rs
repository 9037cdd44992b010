//! DNS over TCP, for answers that came back truncated over UDP (RFC 7766
//! §5). Connections are pooled per resolver and reused for one query after
//! another (RFC 7766 §6.2.1: clients SHOULD reuse a connection for several
//! queries rather than open one per query); the number in use at once is
//! bounded, and every exchange has a deadline. Each message is framed with
//! a two-octet length (RFC 1035 §4.2.2).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Connections in use at the same time, over all resolvers; truncation is
/// rare, and a resolver should not see a connection flood from one scanner.
pub const MAX_CONNECTIONS: usize = 32;
/// Idle connections kept per resolver for reuse.
const MAX_IDLE: usize = 8;
/// An idle connection older than this is closed rather than reused: servers
/// close idle clients after a while (Unbound's `tcp-idle-timeout` is 30 s,
/// RFC 7766 §6.2.3 lets them go shorter), and a closed one costs a retry.
const IDLE_LIMIT: Duration = Duration::from_secs(10);

/// Why a TCP exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TCP: {detail}")]
pub struct TcpError {
    /// The deadline passed (the lookup then counts as a timeout).
    pub timed_out: bool,
    /// What happened.
    pub detail: String,
}

impl TcpError {
    fn io(e: &io::Error) -> Self {
        Self { timed_out: false, detail: e.to_string() }
    }
}

/// Counters for the summary.
#[derive(Debug, Default)]
pub struct TcpCounters {
    /// Connections opened.
    pub connections: AtomicU64,
    /// Exchanges that went over a reused connection.
    pub reused: AtomicU64,
}

/// Pooled TCP connections to the resolvers.
#[derive(Debug)]
pub struct TcpPool {
    timeout: Duration,
    in_use: Semaphore,
    idle: Mutex<HashMap<SocketAddr, Vec<(TcpStream, Instant)>>>,
    /// What the pool did.
    pub counters: TcpCounters,
}

impl TcpPool {
    /// A pool whose exchanges (connect included) each get `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            in_use: Semaphore::new(MAX_CONNECTIONS),
            idle: Mutex::new(HashMap::new()),
            counters: TcpCounters::default(),
        }
    }

    /// Send `query` to `dest` and read one response, within the timeout
    /// (waiting for a free connection slot does not count against it).
    pub async fn query(&self, dest: SocketAddr, query: &[u8]) -> Result<Vec<u8>, TcpError> {
        let _slot = self.in_use.acquire().await.expect("the semaphore is never closed");
        let deadline = tokio::time::Instant::now() + self.timeout;
        let exchange = async {
            // A reused connection may have been closed by the server since:
            // then one fresh connection is tried before giving up.
            if let Some(mut stream) = self.take_idle(dest)
                && let Ok(response) = exchange(&mut stream, query).await
            {
                self.counters.reused.fetch_add(1, Relaxed);
                self.put_idle(dest, stream);
                return Ok(response);
            }
            let mut stream = TcpStream::connect(dest).await.map_err(|e| TcpError::io(&e))?;
            self.counters.connections.fetch_add(1, Relaxed);
            stream.set_nodelay(true).map_err(|e| TcpError::io(&e))?;
            let response = exchange(&mut stream, query).await.map_err(|e| TcpError::io(&e))?;
            self.put_idle(dest, stream);
            Ok(response)
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .unwrap_or_else(|_| Err(TcpError { timed_out: true, detail: "no answer in time".into() }))
    }

    fn take_idle(&self, dest: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.idle.lock().expect("not poisoned");
        let list = idle.get_mut(&dest)?;
        while let Some((stream, since)) = list.pop() {
            if since.elapsed() < IDLE_LIMIT {
                return Some(stream);
            }
        }
        None
    }

    fn put_idle(&self, dest: SocketAddr, stream: TcpStream) {
        let mut idle = self.idle.lock().expect("not poisoned");
        let list = idle.entry(dest).or_default();
        if list.len() < MAX_IDLE {
            list.push((stream, Instant::now()));
        }
    }
}

/// One framed query out, one framed response in.
async fn exchange(stream: &mut TcpStream, query: &[u8]) -> io::Result<Vec<u8>> {
    let len = u16::try_from(query.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    let len = u16::from_be_bytes(prefix) as usize;
    let mut response = vec![0u8; len];
    stream.read_exact(&mut response).await?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each framed query with the query itself, on as
    /// many connections as it is given, and counts the connections.
    async fn echo_server(answer: bool) -> (SocketAddr, std::sync::Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(AtomicU64::new(0));
        let count = std::sync::Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Relaxed);
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    loop {
                        let mut len = [0u8; 2];
                        if stream.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let n = u16::from_be_bytes(len) as usize;
                        if stream.read_exact(&mut buf[..n]).await.is_err() {
                            return;
                        }
                        if answer {
                            stream.write_all(&len).await.unwrap();
                            stream.write_all(&buf[..n]).await.unwrap();
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn queries_in_turn_share_one_connection() {
        let (addr, accepted) = echo_server(true).await;
        let pool = TcpPool::new(Duration::from_secs(2));
        for i in 0..5u8 {
            assert_eq!(pool.query(addr, &[i, 1, 2]).await.unwrap(), vec![i, 1, 2]);
        }
        assert_eq!(accepted.load(Relaxed), 1);
        assert_eq!(pool.counters.connections.load(Relaxed), 1);
        assert_eq!(pool.counters.reused.load(Relaxed), 4);
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let (addr, _) = echo_server(false).await;
        let pool = TcpPool::new(Duration::from_millis(100));
        let started = Instant::now();
        let err = pool.query(addr, &[1, 2, 3]).await.unwrap_err();
        assert!(err.timed_out, "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_closed_idle_connection_is_replaced() {
        // A server that answers one query per connection and closes it.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).await.unwrap();
                let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                stream.read_exact(&mut buf).await.unwrap();
                stream.write_all(&len).await.unwrap();
                stream.write_all(&buf).await.unwrap();
            }
        });
        let pool = TcpPool::new(Duration::from_secs(2));
        for i in 0..3u8 {
            assert_eq!(pool.query(addr, &[i]).await.unwrap(), vec![i]);
        }
        assert_eq!(pool.counters.connections.load(Relaxed), 3);
        assert_eq!(pool.counters.reused.load(Relaxed), 0);
        let refused = TcpPool::new(Duration::from_secs(1));
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(!refused.query(closed, &[1]).await.unwrap_err().timed_out);
    }
}

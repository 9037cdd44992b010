//! DNS over TCP, for answers that came back truncated over UDP (RFC 7766
//! §5). One connection per query, a bounded number at once; each message is
//! framed with a two-octet length (RFC 1035 §4.2.2).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::wire::MAX_MESSAGE;

/// TCP queries open at the same time; truncation is rare, and a resolver
/// should not see a connection flood from one scanner.
pub const MAX_CONNECTIONS: usize = 32;

/// Send `query` to `dest` over TCP and read one response, all within
/// `timeout`.
pub async fn query(dest: SocketAddr, query: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    tokio::time::timeout(timeout, exchange(dest, query))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TCP query timed out"))?
}

async fn exchange(dest: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let len = u16::try_from(query.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
    let mut stream = TcpStream::connect(dest).await?;
    stream.set_nodelay(true)?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    let len = u16::from_be_bytes(prefix) as usize;
    debug_assert!(len <= MAX_MESSAGE);
    let mut response = vec![0u8; len];
    stream.read_exact(&mut response).await?;
    Ok(response)
}

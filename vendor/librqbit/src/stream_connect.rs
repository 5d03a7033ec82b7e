use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use librqbit_dualstack_sockets::ConnectOpts;
use librqbit_utp::{BindDevice, UtpSocketUdp};
use serde::Serialize;
use tracing::debug;

use crate::{
    Error, PeerConnectionOptions, Result,
    type_aliases::{BoxAsyncReadVectored, BoxAsyncWrite},
    vectored_traits::AsyncReadVectoredIntoCompat,
};

#[derive(Debug, Clone, Copy, Serialize)]
pub enum ConnectionKind {
    #[serde(rename = "tcp")]
    Tcp,
    #[serde(rename = "utp")]
    Utp,
    #[serde(rename = "socks")]
    Socks,
    // hearth: a connection made by an `ExternalConnector` (or accepted outside librqbit).
    #[serde(rename = "external")]
    External,
}

impl std::fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionKind::Tcp => f.write_str("tcp"),
            ConnectionKind::Utp => f.write_str("uTP"),
            ConnectionKind::Socks => f.write_str("socks"),
            ConnectionKind::External => f.write_str("external"),
        }
    }
}

pub struct ConnectionOptions {
    // socks5://[username:password@]host:port
    // If set, all outgoing connections will go through the proxy over TCP.
    pub proxy_url: Option<String>,
    // TCP outgoing connections are enabled by default
    pub enable_tcp: bool,
    pub peer_opts: Option<PeerConnectionOptions>,
    // hearth: peers whose address the connector claims are reached through it, not TCP/uTP.
    pub external: Option<Arc<dyn ExternalConnector>>,
    // hearth: runs on every TCP and uTP peer connection before the BitTorrent handshake.
    pub stream_hook: Option<Arc<dyn StreamHook>>,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            enable_tcp: true,
            proxy_url: None,
            peer_opts: None,
            external: None,
            stream_hook: None,
        }
    }
}

// hearth: a byte stream to a peer made outside librqbit (e.g. over another transport).
pub type ExternalStream = (
    Box<dyn tokio::io::AsyncRead + Unpin + Send + 'static>,
    Box<dyn tokio::io::AsyncWrite + Unpin + Send + 'static>,
);

// hearth: connects to the peers whose addresses it claims, in place of a TCP or uTP dial.
// The addresses may be synthetic names for peers reachable some other way; the session and
// the torrents treat them as any other peer address.
pub trait ExternalConnector: Send + Sync + 'static {
    /// True when outgoing connections to `addr` must go through this connector.
    fn handles(&self, addr: SocketAddr) -> bool;
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> futures::future::BoxFuture<'static, std::io::Result<ExternalStream>>;
}

// hearth: the two halves of a peer connection as a `StreamHook` sees them.
pub type PeerReader = Box<dyn tokio::io::AsyncRead + Unpin + Send + 'static>;
pub type PeerWriter = Box<dyn tokio::io::AsyncWrite + Unpin + Send + 'static>;

// hearth: a hook around the peer connections made or accepted over TCP and uTP (never the
// external connector's), run before the BitTorrent handshake: it may replace the byte stream,
// e.g. by an encrypted one (MSE/PE). It sees the torrent of an outgoing connection and every
// torrent of the session for an incoming one.
pub trait StreamHook: Send + Sync + 'static {
    fn outgoing(
        &self,
        addr: SocketAddr,
        info_hash: [u8; 20],
        read: PeerReader,
        write: PeerWriter,
    ) -> futures::future::BoxFuture<'static, std::io::Result<(PeerReader, PeerWriter)>>;
    /// After `outgoing` failed: connect again and talk plain BitTorrent without the hook.
    fn plain_after_failure(&self) -> bool;
    fn incoming(
        &self,
        addr: SocketAddr,
        info_hashes: Vec<[u8; 20]>,
        read: PeerReader,
        write: PeerWriter,
    ) -> futures::future::BoxFuture<'static, std::io::Result<(PeerReader, PeerWriter)>>;
}

impl std::fmt::Debug for dyn StreamHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamHook")
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SocksProxyConfig {
    pub host: String,
    pub port: u16,
    pub username_password: Option<(String, String)>,
}

#[derive(Default, Debug, Clone)]
pub(crate) struct StreamConnectorArgs {
    pub enable_tcp: bool,
    pub socks_proxy_config: Option<SocksProxyConfig>,
    pub utp_socket: Option<Arc<UtpSocketUdp>>,
    pub bind_device: Option<BindDevice>,
    pub ipv4_only: bool,
    pub external: Option<Arc<dyn ExternalConnector>>,
    // hearth: see `StreamHook`.
    pub stream_hook: Option<Arc<dyn StreamHook>>,
}

impl std::fmt::Debug for dyn ExternalConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExternalConnector")
    }
}

impl SocksProxyConfig {
    /// socks5h:// resolves hostnames via the proxy; socks5:// resolves them locally.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let url = ::url::Url::parse(url).context("invalid proxy URL")?;
        match url.scheme() {
            "socks5" | "socks5h" => {}
            other => anyhow::bail!("unsupported proxy URL scheme \"{other}\""),
        }
        let host = url.host_str().context("missing host")?;
        let port = url.port().context("missing port")?;
        let up = url
            .password()
            .map(|p| (url.username().to_owned(), p.to_owned()));
        Ok(Self {
            host: host.to_owned(),
            port,
            username_password: up,
        })
    }

    async fn connect(
        &self,
        addr: SocketAddr,
    ) -> tokio_socks::Result<(
        impl tokio::io::AsyncRead + Unpin + 'static,
        impl tokio::io::AsyncWrite + Unpin + 'static,
    )> {
        let proxy_addr = (self.host.as_str(), self.port);

        let stream = if let Some((username, password)) = self.username_password.as_ref() {
            tokio_socks::tcp::Socks5Stream::connect_with_password(
                proxy_addr,
                addr,
                username.as_str(),
                password.as_str(),
            )
            .await?
        } else {
            tokio_socks::tcp::Socks5Stream::connect(proxy_addr, addr).await?
        };

        Ok(tokio::io::split(stream))
    }
}

gen_stats!(SingleStatAtomic SingleStatSnapshot, [
    attempts u64,
    successes u64,
    errors u64
], []);
gen_stats!(PerFamilyAtomic PerFamilySnapshot, [], [
    v4 SingleStatAtomic SingleStatSnapshot,
    v6 SingleStatAtomic SingleStatSnapshot
]);
gen_stats!(ConnectStatsAtomic ConnectStatsSnapshot, [], [
    socks PerFamilyAtomic PerFamilySnapshot,
    external PerFamilyAtomic PerFamilySnapshot,
    tcp PerFamilyAtomic PerFamilySnapshot,
    utp PerFamilyAtomic PerFamilySnapshot
]);

#[derive(Debug)]
pub(crate) struct StreamConnector {
    proxy_config: Option<SocksProxyConfig>,
    enable_tcp: bool,
    bind_device: Option<BindDevice>,
    utp_socket: Option<Arc<librqbit_utp::UtpSocketUdp>>,
    stats: ConnectStatsAtomic,
    ipv4_only: bool,
    external: Option<Arc<dyn ExternalConnector>>,
    stream_hook: Option<Arc<dyn StreamHook>>,
}

impl StreamConnector {
    pub async fn new(config: StreamConnectorArgs) -> anyhow::Result<Self> {
        #[allow(clippy::single_match)]
        match (
            config.socks_proxy_config.is_some(),
            config.enable_tcp,
            config.utp_socket.is_some(),
        ) {
            (false, false, false) => {
                bail!("no way to connect to peers, enable TCP, uTP or socks proxy")
            }
            _ => {
                // TODO: maybe validate other combinations. For now there's no way to disable TCP
            }
        }

        Ok(Self {
            proxy_config: config.socks_proxy_config,
            enable_tcp: config.enable_tcp,
            utp_socket: config.utp_socket,
            bind_device: config.bind_device,
            stats: Default::default(),
            ipv4_only: config.ipv4_only,
            external: config.external,
            stream_hook: config.stream_hook,
        })
    }

    // hearth: the hook for connections of this kind, if any (see `StreamHook`).
    pub(crate) fn hook_for(&self, kind: ConnectionKind) -> Option<&Arc<dyn StreamHook>> {
        match kind {
            ConnectionKind::Tcp | ConnectionKind::Utp => self.stream_hook.as_ref(),
            ConnectionKind::Socks | ConnectionKind::External => None,
        }
    }

    // hearth: runs the hook on a new outgoing connection; when it fails and the hook allows
    // it, connects again without it.
    pub(crate) async fn connect_hooked(
        &self,
        addr: SocketAddr,
        info_hash: [u8; 20],
        handshake_timeout: std::time::Duration,
    ) -> Result<(ConnectionKind, BoxAsyncReadVectored, BoxAsyncWrite)> {
        let (kind, read, write) = self.connect(addr).await?;
        let Some(hook) = self.hook_for(kind) else {
            return Ok((kind, read, write));
        };
        let read: PeerReader = read;
        let hooked = tokio::time::timeout(
            handshake_timeout,
            hook.outgoing(addr, info_hash, read, write),
        )
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer did not finish the handshake",
            ))
        });
        match hooked {
            Ok((r, w)) => Ok((kind, Box::new(r.into_vectored_compat()), w)),
            Err(e) if hook.plain_after_failure() => {
                debug!(
                    ?addr,
                    "stream hook failed ({e:#}), connecting again without it"
                );
                self.connect(addr).await
            }
            Err(e) => Err(Error::Anyhow(anyhow::anyhow!("{e:#}"))),
        }
    }

    fn get_stat(&self, kind: ConnectionKind, is_v6: bool) -> &SingleStatAtomic {
        let stat = match kind {
            ConnectionKind::Tcp => &self.stats.tcp,
            ConnectionKind::Utp => &self.stats.utp,
            ConnectionKind::Socks => &self.stats.socks,
            ConnectionKind::External => &self.stats.external,
        };
        if is_v6 { &stat.v6 } else { &stat.v4 }
    }

    async fn with_stat<R, E>(
        &self,
        kind: ConnectionKind,
        is_v6: bool,
        fut: impl Future<Output = std::result::Result<R, E>>,
    ) -> std::result::Result<R, E> {
        let stat = self.get_stat(kind, is_v6);
        stat.attempts(1);
        fut.await
            .inspect(|_| stat.successes(1))
            .inspect_err(|_| stat.errors(1))
    }

    async fn tcp_connect(
        &self,
        addr: SocketAddr,
    ) -> librqbit_dualstack_sockets::Result<tokio::net::TcpStream> {
        self.with_stat(
            ConnectionKind::Tcp,
            addr.is_ipv6(),
            librqbit_dualstack_sockets::tcp_connect(
                addr,
                ConnectOpts {
                    // Setting source port doesn't work with cloudflare warp on linux
                    // source_port: self.tcp_source_port,
                    source_port: None,
                    bind_device: self.bind_device.as_ref(),
                },
            ),
        )
        .await
    }

    pub fn stats(&self) -> &ConnectStatsAtomic {
        &self.stats
    }

    pub async fn connect(
        &self,
        addr: SocketAddr,
    ) -> Result<(ConnectionKind, BoxAsyncReadVectored, BoxAsyncWrite)> {
        // hearth: addresses the external connector claims never reach TCP, uTP or a proxy.
        if let Some(external) = self.external.as_ref().filter(|e| e.handles(addr)) {
            let (r, w) = self
                .with_stat(
                    ConnectionKind::External,
                    addr.is_ipv6(),
                    external.connect(addr),
                )
                .await
                .map_err(|e| Error::Anyhow(anyhow::anyhow!("external connect to {addr}: {e}")))?;
            debug!(?addr, "connected through the external connector");
            return Ok((
                ConnectionKind::External,
                Box::new(r.into_vectored_compat()),
                w,
            ));
        }

        if addr.port() == 0 {
            return Err(Error::Anyhow(anyhow::anyhow!(
                "invalid peer address (port 0): {}",
                addr
            )));
        }

        if self.ipv4_only && addr.is_ipv6() {
            return Err(Error::Anyhow(anyhow::anyhow!(
                "ipv6 disabled, skipping connection to {}",
                addr
            )));
        }

        if let Some(proxy) = self.proxy_config.as_ref() {
            let (r, w) = self
                .with_stat(ConnectionKind::Socks, addr.is_ipv6(), proxy.connect(addr))
                .await?;
            debug!(?addr, "connected through SOCKS5");
            return Ok((
                ConnectionKind::Socks,
                Box::new(r.into_vectored_compat()),
                Box::new(w),
            ));
        }

        // Try to connect over TCP first. If in 1 second we haven't connected, try uTP also (if configured).
        // Whoever connects first wins.
        let tcp_connect = async {
            if !self.enable_tcp {
                return Ok(None);
            }
            let conn = self.tcp_connect(addr).await?;
            debug!(?addr, "connected over TCP");
            Ok::<_, librqbit_dualstack_sockets::Error>(Some(conn))
        };

        let tcp_failed_notify = tokio::sync::Notify::new();

        let utp_connect = async {
            let sock = match self.utp_socket.as_ref() {
                Some(sock) => sock,
                None => return Ok(None),
            };

            // Give TCP priority as it's more mature and simpler.
            if self.enable_tcp {
                // wait until either 1 second has passed or TCP failed.
                tokio::select! {
                    _ = tcp_failed_notify.notified() => {},
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }

            let conn = self
                .with_stat(ConnectionKind::Utp, addr.is_ipv6(), sock.connect(addr))
                .await?;

            debug!(?addr, "connected over uTP");
            Ok(Some(conn))
        };

        tokio::pin!(tcp_connect);
        tokio::pin!(utp_connect);

        let mut tcp_err: Option<Option<librqbit_dualstack_sockets::Error>> = None;
        let mut utp_err: Option<Option<librqbit_utp::Error>> = None;

        // wait until all fail, or one succeeds.
        loop {
            if let (Some(tcp), Some(utp)) = (tcp_err.as_mut(), utp_err.as_mut()) {
                match (tcp.take(), utp.take()) {
                    (Some(tcp), Some(utp)) => return Err(Error::Connect { tcp, utp }),
                    (Some(tcp), None) => return Err(Error::TcpConnect(tcp)),
                    (None, Some(utp)) => return Err(Error::UtpConnect(utp)),
                    (None, None) => return Err(Error::ConnectDisabled),
                }
            }
            tokio::select! {
                tcp_res = &mut tcp_connect, if tcp_err.is_none() => {
                    match tcp_res {
                        Ok(Some(stream)) => {
                            // hearth: TCP_NODELAY until data flows (NodelayTcpReadHalf).
                            let (r, w) = NodelayTcpReadHalf::split(stream);
                            return Ok((ConnectionKind::Tcp, Box::new(r), Box::new(w)));
                        },
                        Ok(None) => {
                            tcp_err = Some(None);
                            tcp_failed_notify.notify_waiters();
                        }
                        Err(e) => {
                            // hearth: a refused TCP connection means the host answered and
                            // nothing listens there: no uTP try, which would only time out.
                            // (Clients that listen on uTP listen on TCP as well.)
                            if matches!(
                                &e,
                                librqbit_dualstack_sockets::Error::Connect(io)
                                    if io.kind() == std::io::ErrorKind::ConnectionRefused
                            ) {
                                utp_err.get_or_insert(None);
                            }
                            tcp_err = Some(Some(e));
                            tcp_failed_notify.notify_waiters();
                        }
                    }
                },
                utp_res = &mut utp_connect, if utp_err.is_none() => {
                    match utp_res {
                        Ok(Some(stream)) => {
                            let (r, w) = stream.split();
                            return Ok((ConnectionKind::Utp, Box::new(r), Box::new(w)));
                        },
                        Ok(None) => {
                            utp_err = Some(None);
                        }
                        Err(e) => {
                            utp_err = Some(Some(e));
                        }
                    }
                },
            };
        }
    }
}

// hearth: the read half of a peer TCP stream, which sets TCP_NODELAY when the stream is made
// (connect and accept) and clears it again, back to Nagle's algorithm, once the peer has sent
// NAGLE_AFTER_BYTES. TCP_NODELAY removes the ~40 ms stall at the start of a connection: our
// extended handshake, unchoke, interested and first requests are small writes that Nagle
// holds until the peer ACKs the first one, and a peer with nothing to send back delays that
// ACK. Once data flows towards us, the ACKs ride on it and Nagle packs our requests into a
// few segments; with TCP_NODELAY kept, every 17-byte request is a segment of its own, which
// cost ~7% of 1 -> 1 throughput on loopback (the sender is woken once per request). A stream
// that mostly carries our uploads keeps TCP_NODELAY, which measured no cost.
pub(crate) struct NodelayTcpReadHalf {
    inner: tokio::net::tcp::OwnedReadHalf,
    // Bytes received while TCP_NODELAY is set; None once it is cleared (or was never set).
    received: Option<usize>,
}

const NAGLE_AFTER_BYTES: usize = 256 * 1024;

impl NodelayTcpReadHalf {
    /// Sets TCP_NODELAY on `stream` (best effort, like any socket option) and splits it.
    pub fn split(stream: tokio::net::TcpStream) -> (Self, tokio::net::tcp::OwnedWriteHalf) {
        let received = stream.set_nodelay(true).is_ok().then_some(0);
        let (inner, write) = stream.into_split();
        (Self { inner, received }, write)
    }

    fn on_read(&mut self, n: usize) {
        if let Some(received) = self.received.as_mut() {
            *received += n;
            if *received >= NAGLE_AFTER_BYTES {
                let _ = self.inner.as_ref().set_nodelay(false);
                self.received = None;
            }
        }
    }
}

impl tokio::io::AsyncRead for NodelayTcpReadHalf {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = res {
            this.on_read(buf.filled().len() - before);
        }
        res
    }
}

impl crate::vectored_traits::AsyncReadVectored for NodelayTcpReadHalf {
    fn poll_read_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        vec: &mut [std::io::IoSliceMut<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let res = std::pin::Pin::new(&mut this.inner).poll_read_vectored(cx, vec);
        if let std::task::Poll::Ready(Ok(n)) = res {
            this.on_read(n);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_socks5() {
        let c = SocksProxyConfig::parse("socks5://myhost:1234").unwrap();
        assert_eq!(c.host, "myhost");
        assert_eq!(c.port, 1234);
        assert_eq!(c.username_password, None);
    }

    #[test]
    fn test_parse_socks5h() {
        let c = SocksProxyConfig::parse("socks5h://myhost:1234").unwrap();
        assert_eq!(c.host, "myhost");
        assert_eq!(c.port, 1234);
    }

    #[test]
    fn test_parse_with_password() {
        let c = SocksProxyConfig::parse("socks5h://user:pass@myhost:1234").unwrap();
        assert_eq!(c.host, "myhost");
        assert_eq!(c.port, 1234);
        assert_eq!(
            c.username_password,
            Some(("user".to_owned(), "pass".to_owned()))
        );
    }

    #[test]
    fn test_parse_rejects_other_schemes() {
        for url in [
            "http://myhost:1234",
            "socks4://myhost:1234",
            "socks4a://myhost:1234",
        ] {
            assert!(SocksProxyConfig::parse(url).is_err(), "should reject {url}");
        }
    }

    #[test]
    fn test_parse_rejects_garbage() {
        assert!(SocksProxyConfig::parse("not a url").is_err());
        assert!(SocksProxyConfig::parse("socks5://").is_err());
    }

    // hearth: TCP_NODELAY is set on a new stream and cleared once data flows towards us.
    #[tokio::test]
    async fn test_nodelay_until_data_flows() {
        use crate::vectored_traits::AsyncReadVectoredExt;
        use tokio::io::AsyncWriteExt;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), async {
            listener.accept().await.unwrap().0
        });
        let (mut read, _write) = NodelayTcpReadHalf::split(client.unwrap());
        assert!(read.inner.as_ref().nodelay().unwrap());

        let (_server_read, mut server_write) = server.into_split();
        let sender = tokio::spawn(async move {
            let data = vec![7u8; NAGLE_AFTER_BYTES];
            server_write.write_all(&data).await.unwrap();
            server_write
        });
        let mut buf = vec![0u8; 16384];
        let mut got = 0;
        while got < NAGLE_AFTER_BYTES {
            assert!(read.inner.as_ref().nodelay().unwrap(), "cleared at {got}");
            let n = read
                .read_vectored(&mut [std::io::IoSliceMut::new(&mut buf)])
                .await
                .unwrap();
            assert!(n > 0);
            got += n;
        }
        assert!(!read.inner.as_ref().nodelay().unwrap());
        sender.await.unwrap();
    }
}

//! MSE/PE, BitTorrent's Message Stream Encryption (the "encrypted handshake" of Vuze,
//! libtorrent, Transmission, aria2): a Diffie-Hellman exchange over the 768-bit prime, RC4
//! keys derived from the shared secret and the info hash (first 1024 bytes of each key
//! stream discarded), then either an RC4 stream or plain text, as the two sides agree
//! (`crypto_provide` / `crypto_select`), with random padding to hide lengths.
//!
//! [`initiate`] runs the side that connected, [`accept`] the side that was connected to;
//! [`is_plain_handshake`] tells a plain BitTorrent handshake from the start of an MSE one.
//! Both return an [`MseRead`] / [`MseWrite`] pair that carries the BitTorrent stream from
//! then on (decrypting, encrypting, or passing bytes through). [`Encryption`] is the
//! setting: prefer (encrypted handshakes, RC4 when the other side asks for it), require
//! (RC4 only), off (plain BitTorrent only).
//!
//! The exchange, A the initiator, B the receiver, S the shared secret, SKEY the info hash:
//! ```text
//! A->B: Ya, PadA
//! B->A: Yb, PadB
//! A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!       ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! B->A: ENCRYPT(VC, crypto_select, len(padD), padD), then the stream
//! ```

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use num_bigint::BigUint;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The 768-bit MSE prime (the generator is 2).
const P: [u8; 96] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x3A, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
];
/// Bytes of a public key (and of the shared secret).
pub const KEY_LEN: usize = 96;
/// Longest padding the protocol allows (PadA, PadB, PadC, PadD).
pub const MAX_PAD: usize = 512;
/// The verification constant: eight zero bytes.
const VC: [u8; 8] = [0; 8];
/// `crypto_provide` / `crypto_select` bits.
pub const CRYPTO_PLAINTEXT: u32 = 0x01;
pub const CRYPTO_RC4: u32 = 0x02;
/// Key stream bytes thrown away before use (RC4-drop1024).
const RC4_DISCARD: usize = 1024;
/// Our own padding is shorter than the protocol allows: enough to vary the lengths.
const OUR_PAD: usize = 128;
/// The plain handshake starts with these 20 bytes.
const PLAIN_PREFIX: &[u8; 20] = b"\x13BitTorrent protocol";

/// Whether to encrypt BitTorrent connections (`bt_encryption` in hearth.toml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    /// Encrypted handshakes out (plain text again if the peer does not speak MSE), both kinds
    /// in; the stream itself is RC4 when the other side asks for it.
    #[default]
    Prefer,
    /// MSE with RC4 only, both ways; peers that cannot do it are not talked to.
    Require,
    /// Plain BitTorrent only.
    Off,
}

impl Encryption {
    /// What an initiator offers.
    pub fn provide(self) -> u32 {
        match self {
            Encryption::Prefer => CRYPTO_RC4 | CRYPTO_PLAINTEXT,
            Encryption::Require => CRYPTO_RC4,
            Encryption::Off => CRYPTO_PLAINTEXT,
        }
    }

    /// What a receiver picks from `provide`: plain text when both are offered and the
    /// stream need not be encrypted (as libtorrent does), RC4 otherwise; `None` when
    /// nothing acceptable is offered.
    pub fn select(self, provide: u32) -> Option<u32> {
        let rc4 = provide & CRYPTO_RC4 != 0;
        let plain = provide & CRYPTO_PLAINTEXT != 0;
        match self {
            Encryption::Require => rc4.then_some(CRYPTO_RC4),
            Encryption::Prefer if plain => Some(CRYPTO_PLAINTEXT),
            Encryption::Prefer => rc4.then_some(CRYPTO_RC4),
            Encryption::Off => None,
        }
    }

    /// Plain (unencrypted) BitTorrent handshakes are accepted.
    pub fn accepts_plain(self) -> bool {
        self != Encryption::Require
    }
}

/// RC4, the stream cipher of MSE.
#[derive(Clone)]
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    pub fn new(key: &[u8]) -> Self {
        let mut s = [0u8; 256];
        for (i, b) in s.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
            s.swap(i, j as usize);
        }
        Rc4 { s, i: 0, j: 0 }
    }

    /// XORs the next key stream bytes into `data`.
    pub fn apply(&mut self, data: &mut [u8]) {
        let (mut i, mut j, s) = (self.i, self.j, &mut self.s);
        for b in data {
            i = i.wrapping_add(1);
            j = j.wrapping_add(s[i as usize]);
            s.swap(i as usize, j as usize);
            *b ^= s[s[i as usize].wrapping_add(s[j as usize]) as usize];
        }
        self.i = i;
        self.j = j;
    }

    fn discard(&mut self, n: usize) {
        let mut junk = vec![0u8; n];
        self.apply(&mut junk);
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn prime() -> BigUint {
    BigUint::from_bytes_be(&P)
}

fn to_key_bytes(n: &BigUint) -> [u8; KEY_LEN] {
    let b = n.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    out[KEY_LEN - b.len()..].copy_from_slice(&b);
    out
}

/// A Diffie-Hellman key pair: a 160-bit private exponent and `2^x mod P`.
pub struct KeyPair {
    private: BigUint,
    pub public: [u8; KEY_LEN],
}

impl KeyPair {
    pub fn generate() -> Self {
        let mut x = [0u8; 20];
        rand::thread_rng().fill_bytes(&mut x);
        Self::from_private(&x)
    }

    fn from_private(x: &[u8]) -> Self {
        let private = BigUint::from_bytes_be(x);
        let public = BigUint::from(2u32).modpow(&private, &prime());
        KeyPair {
            private,
            public: to_key_bytes(&public),
        }
    }

    /// The shared secret with the holder of `their`, refusing the degenerate keys (0, 1,
    /// P-1 and anything not below P) that would make the secret guessable.
    pub fn shared(&self, their: &[u8; KEY_LEN]) -> io::Result<[u8; KEY_LEN]> {
        let p = prime();
        let y = BigUint::from_bytes_be(their);
        let one = BigUint::from(1u32);
        if y <= one || y >= &p - &one {
            return Err(bad("the peer's public key is degenerate"));
        }
        Ok(to_key_bytes(&y.modpow(&self.private, &p)))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("MSE: {what}"))
}

/// The two RC4 streams of a connection: (ours to encrypt, theirs to decrypt).
fn ciphers(secret: &[u8; KEY_LEN], skey: &[u8; 20], initiator: bool) -> (Rc4, Rc4) {
    let mut a = Rc4::new(&sha1(&[b"keyA", secret, skey]));
    let mut b = Rc4::new(&sha1(&[b"keyB", secret, skey]));
    a.discard(RC4_DISCARD);
    b.discard(RC4_DISCARD);
    if initiator {
        (a, b)
    } else {
        (b, a)
    }
}

fn random_pad() -> Vec<u8> {
    let mut rng = rand::thread_rng();
    let mut pad = vec![0u8; rng.gen_range(0..=OUR_PAD)];
    rng.fill_bytes(&mut pad);
    pad
}

/// Reads from `inner` with what was read ahead kept for later.
struct Reader<'a, R> {
    inner: &'a mut R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Reader<'_, R> {
    /// Makes sure at least `n` bytes are buffered.
    async fn fill(&mut self, n: usize) -> io::Result<()> {
        let mut chunk = [0u8; 1024];
        while self.buf.len() < n {
            let got = self.inner.read(&mut chunk).await?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "MSE: the peer closed the connection during the handshake",
                ));
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        Ok(())
    }

    async fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.fill(n).await?;
        Ok(self.buf.drain(..n).collect())
    }

    /// Skips bytes until just past `pattern`, which must start within `max_skip` bytes.
    async fn sync(&mut self, pattern: &[u8], max_skip: usize) -> io::Result<()> {
        for skip in 0..=max_skip {
            self.fill(skip + pattern.len()).await?;
            if &self.buf[skip..skip + pattern.len()] == pattern {
                self.buf.drain(..skip + pattern.len());
                return Ok(());
            }
        }
        Err(bad("no synchronisation marker within the padding"))
    }
}

/// Is this the start of a plain BitTorrent handshake (rather than an MSE public key)?
/// `start` holds the connection's first bytes (20 decide).
pub fn is_plain_handshake(start: &[u8]) -> bool {
    start.len() >= PLAIN_PREFIX.len() && start[..PLAIN_PREFIX.len()] == PLAIN_PREFIX[..]
}

/// Bytes that open a plain handshake: read this many before calling [`is_plain_handshake`].
pub const SNIFF_LEN: usize = PLAIN_PREFIX.len();

/// Runs the initiator's side for the torrent `info_hash`, offering `provide`
/// ([`CRYPTO_RC4`], [`CRYPTO_PLAINTEXT`] or both). Returns the stream and what the peer
/// selected.
pub async fn initiate<R, W>(
    mut r: R,
    mut w: W,
    info_hash: [u8; 20],
    provide: u32,
) -> io::Result<(MseRead<R>, MseWrite<W>, u32)>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let keys = KeyPair::generate();
    let mut first = keys.public.to_vec();
    first.extend_from_slice(&random_pad());
    w.write_all(&first).await?;
    w.flush().await?;

    let mut rd = Reader {
        inner: &mut r,
        buf: Vec::new(),
    };
    let yb: [u8; KEY_LEN] = rd.take(KEY_LEN).await?.try_into().expect("96 bytes");
    let secret = keys.shared(&yb)?;
    let (mut enc, mut dec) = ciphers(&secret, &info_hash, true);

    let mut msg = sha1(&[b"req1", &secret]).to_vec();
    let req2 = sha1(&[b"req2", &info_hash]);
    let req3 = sha1(&[b"req3", &secret]);
    msg.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
    let pad_c = random_pad();
    let mut tail = VC.to_vec();
    tail.extend_from_slice(&provide.to_be_bytes());
    tail.extend_from_slice(&(pad_c.len() as u16).to_be_bytes());
    tail.extend_from_slice(&pad_c);
    tail.extend_from_slice(&0u16.to_be_bytes()); // no initial payload
    enc.apply(&mut tail);
    msg.extend_from_slice(&tail);
    w.write_all(&msg).await?;
    w.flush().await?;

    // B's answer starts after PadB with VC encrypted under B's key.
    let mut vc = VC;
    dec.apply(&mut vc);
    rd.sync(&vc, MAX_PAD).await?;
    let mut head = rd.take(6).await?;
    dec.apply(&mut head);
    let select = u32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
    let pad_d = usize::from(u16::from_be_bytes([head[4], head[5]]));
    if pad_d > MAX_PAD {
        return Err(bad("padding longer than 512 bytes"));
    }
    if select.count_ones() != 1 || select & provide == 0 {
        return Err(bad(&format!(
            "the peer selected {select:#x}, not one of {provide:#x}"
        )));
    }
    let mut pad = rd.take(pad_d).await?;
    dec.apply(&mut pad);
    let rest = std::mem::take(&mut rd.buf);
    Ok(finish(r, w, select, enc, dec, Vec::new(), rest))
}

/// Runs the receiver's side. `start` are the bytes already read from the connection (the
/// sniffed ones); `info_hashes` the torrents the peer may ask for; `policy` decides what to
/// select. Returns the stream and the info hash the peer asked for.
pub async fn accept<R, W>(
    mut r: R,
    mut w: W,
    start: Vec<u8>,
    info_hashes: &[[u8; 20]],
    policy: Encryption,
) -> io::Result<(MseRead<R>, MseWrite<W>, [u8; 20])>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut rd = Reader {
        inner: &mut r,
        buf: start,
    };
    let ya: [u8; KEY_LEN] = rd.take(KEY_LEN).await?.try_into().expect("96 bytes");
    let keys = KeyPair::generate();
    let secret = keys.shared(&ya)?;
    let mut first = keys.public.to_vec();
    first.extend_from_slice(&random_pad());
    w.write_all(&first).await?;
    w.flush().await?;

    rd.sync(&sha1(&[b"req1", &secret]), MAX_PAD).await?;
    let xored = rd.take(20).await?;
    let req3 = sha1(&[b"req3", &secret]);
    let req2: Vec<u8> = xored.iter().zip(req3).map(|(a, b)| a ^ b).collect();
    let skey = *info_hashes
        .iter()
        .find(|h| sha1(&[b"req2", &h[..]])[..] == req2[..])
        .ok_or_else(|| bad("the peer asked for a torrent we do not have"))?;
    let (mut enc, mut dec) = ciphers(&secret, &skey, false);

    let mut head = rd.take(14).await?;
    dec.apply(&mut head);
    if head[..8] != VC {
        return Err(bad("wrong verification constant"));
    }
    let provide = u32::from_be_bytes(head[8..12].try_into().expect("4 bytes"));
    let pad_c = usize::from(u16::from_be_bytes([head[12], head[13]]));
    if pad_c > MAX_PAD {
        return Err(bad("padding longer than 512 bytes"));
    }
    let mut pad_and_len = rd.take(pad_c + 2).await?;
    dec.apply(&mut pad_and_len);
    let ia_len = usize::from(u16::from_be_bytes([
        pad_and_len[pad_c],
        pad_and_len[pad_c + 1],
    ]));
    let mut ia = rd.take(ia_len).await?;
    dec.apply(&mut ia);
    let select = policy
        .select(provide)
        .ok_or_else(|| bad(&format!("the peer offers {provide:#x}, nothing we accept")))?;

    let pad_d = random_pad();
    let mut answer = VC.to_vec();
    answer.extend_from_slice(&select.to_be_bytes());
    answer.extend_from_slice(&(pad_d.len() as u16).to_be_bytes());
    answer.extend_from_slice(&pad_d);
    enc.apply(&mut answer);
    w.write_all(&answer).await?;
    w.flush().await?;
    let rest = std::mem::take(&mut rd.buf);
    let (r, w, _) = finish(r, w, select, enc, dec, ia, rest);
    Ok((r, w, skey))
}

fn finish<R, W>(
    r: R,
    w: W,
    select: u32,
    enc: Rc4,
    dec: Rc4,
    plain: Vec<u8>,
    raw: Vec<u8>,
) -> (MseRead<R>, MseWrite<W>, u32) {
    let rc4 = select == CRYPTO_RC4;
    let mut dec = rc4.then_some(dec);
    let mut head = plain;
    let mut raw = raw;
    if let Some(d) = dec.as_mut() {
        d.apply(&mut raw);
    }
    head.extend_from_slice(&raw);
    (
        MseRead {
            inner: r,
            head,
            head_pos: 0,
            dec,
        },
        MseWrite {
            inner: w,
            enc: rc4.then_some(enc),
            pending: Vec::new(),
            pending_pos: 0,
        },
        select,
    )
}

/// The plain reading side of a connection whose first bytes were already read (`head`).
pub fn replay<R>(r: R, head: Vec<u8>) -> MseRead<R> {
    MseRead {
        inner: r,
        head,
        head_pos: 0,
        dec: None,
    }
}

/// The reading side after the handshake: bytes read ahead first, then the connection,
/// decrypted when RC4 was selected.
pub struct MseRead<R> {
    inner: R,
    head: Vec<u8>,
    head_pos: usize,
    dec: Option<Rc4>,
}

impl<R: AsyncRead + Unpin> AsyncRead for MseRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.head_pos < this.head.len() {
            let n = (this.head.len() - this.head_pos).min(buf.remaining());
            buf.put_slice(&this.head[this.head_pos..this.head_pos + n]);
            this.head_pos += n;
            if this.head_pos == this.head.len() {
                this.head = Vec::new();
                this.head_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(dec)) = (&res, this.dec.as_mut()) {
            dec.apply(&mut buf.filled_mut()[before..]);
        }
        res
    }
}

/// The writing side after the handshake: encrypts when RC4 was selected. Encrypted bytes
/// the connection did not take yet wait in `pending` (the key stream has moved on).
pub struct MseWrite<W> {
    inner: W,
    enc: Option<Rc4>,
    pending: Vec<u8>,
    pending_pos: usize,
}

/// Most plain bytes taken (and encrypted) in one write.
const WRITE_CHUNK: usize = 64 * 1024;

impl<W: AsyncWrite + Unpin> MseWrite<W> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_pos < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.pending_pos..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_pos += n;
        }
        self.pending.clear();
        self.pending_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for MseWrite<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.enc.is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        std::task::ready!(this.poll_drain(cx))?;
        let n = buf.len().min(WRITE_CHUNK);
        // Drained: `pending` is empty and takes exactly these bytes, encrypted.
        this.pending.extend_from_slice(&buf[..n]);
        if let Some(enc) = this.enc.as_mut() {
            enc.apply(&mut this.pending);
        }
        // Start sending now; what does not fit waits for the next call or the flush.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The engine's hook for TCP and uTP peer connections: encrypted handshakes out, both kinds
/// in, as `policy` says (with [`Encryption::Off`] no hook is installed).
pub struct MseHook {
    pub policy: Encryption,
}

impl librqbit::StreamHook for MseHook {
    fn outgoing(
        &self,
        _addr: std::net::SocketAddr,
        info_hash: [u8; 20],
        read: librqbit::PeerReader,
        write: librqbit::PeerWriter,
    ) -> futures::future::BoxFuture<'static, io::Result<(librqbit::PeerReader, librqbit::PeerWriter)>>
    {
        let provide = self.policy.provide();
        Box::pin(async move {
            let (r, w, _) = initiate(read, write, info_hash, provide).await?;
            Ok((
                Box::new(r) as librqbit::PeerReader,
                Box::new(w) as librqbit::PeerWriter,
            ))
        })
    }

    fn plain_after_failure(&self) -> bool {
        self.policy == Encryption::Prefer
    }

    fn incoming(
        &self,
        _addr: std::net::SocketAddr,
        info_hashes: Vec<[u8; 20]>,
        mut read: librqbit::PeerReader,
        write: librqbit::PeerWriter,
    ) -> futures::future::BoxFuture<'static, io::Result<(librqbit::PeerReader, librqbit::PeerWriter)>>
    {
        let policy = self.policy;
        Box::pin(async move {
            let mut start = vec![0u8; SNIFF_LEN];
            read.read_exact(&mut start).await?;
            if is_plain_handshake(&start) {
                if !policy.accepts_plain() {
                    return Err(bad("plain handshakes are refused (encryption is required)"));
                }
                return Ok((Box::new(replay(read, start)) as librqbit::PeerReader, write));
            }
            let (r, w, _) = accept(read, write, start, &info_hashes, policy).await?;
            Ok((
                Box::new(r) as librqbit::PeerReader,
                Box::new(w) as librqbit::PeerWriter,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc4_matches_the_published_test_vectors() {
        // RFC 6229, key 0x0102030405, key stream bytes 0..16.
        let mut c = Rc4::new(&[1, 2, 3, 4, 5]);
        let mut z = [0u8; 16];
        c.apply(&mut z);
        assert_eq!(hex::encode(z), "b2396305f03dc027ccc3524a0a1118a8");
        // The classic "Key"/"Plaintext" vector.
        let mut m = *b"Plaintext";
        Rc4::new(b"Key").apply(&mut m);
        assert_eq!(hex::encode(m), "bbf316e8d940af0ad3");
        // RFC 6229, key 0x0102030405, offset 1024 (what MSE uses after its discard).
        let mut c = Rc4::new(&[1, 2, 3, 4, 5]);
        c.discard(1024);
        let mut z = [0u8; 16];
        c.apply(&mut z);
        assert_eq!(hex::encode(z), "30abbcc7c20b01609f23ee2d5f6bb7df");
    }

    #[test]
    fn both_sides_derive_the_same_secret() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        assert_eq!(a.shared(&b.public).unwrap(), b.shared(&a.public).unwrap());
        assert_ne!(a.public, b.public);
        // 2^1 mod P is 2.
        let one = KeyPair::from_private(&[1]);
        let mut two = [0u8; KEY_LEN];
        two[KEY_LEN - 1] = 2;
        assert_eq!(one.public, two);
    }

    #[test]
    fn degenerate_public_keys_are_refused() {
        let a = KeyPair::generate();
        let mut k = [0u8; KEY_LEN];
        assert!(a.shared(&k).is_err());
        k[KEY_LEN - 1] = 1;
        assert!(a.shared(&k).is_err());
        assert!(a.shared(&P).is_err());
        let mut p_minus_1 = P;
        p_minus_1[KEY_LEN - 1] -= 1;
        assert!(a.shared(&p_minus_1).is_err());
        assert!(a.shared(&[0xff; KEY_LEN]).is_err());
    }

    #[test]
    fn the_keys_follow_the_spec() {
        // keyA = SHA1("keyA" + S + SKEY), RC4 with 1024 bytes dropped; the receiver
        // decrypts with the initiator's key and the other way round.
        let s = [7u8; KEY_LEN];
        let skey = [9u8; 20];
        let (mut a_enc, mut a_dec) = ciphers(&s, &skey, true);
        let (mut b_enc, mut b_dec) = ciphers(&s, &skey, false);
        let mut manual = Rc4::new(&sha1(&[b"keyA", &s, &skey]));
        manual.discard(1024);
        let mut x = *b"hello, peer";
        let mut y = x;
        a_enc.apply(&mut x);
        manual.apply(&mut y);
        assert_eq!(x, y);
        b_dec.apply(&mut x);
        assert_eq!(&x, b"hello, peer");
        let mut z = *b"and back";
        b_enc.apply(&mut z);
        a_dec.apply(&mut z);
        assert_eq!(&z, b"and back");
    }

    #[test]
    fn policies_provide_and_select() {
        use Encryption::*;
        assert_eq!(Prefer.provide(), CRYPTO_RC4 | CRYPTO_PLAINTEXT);
        assert_eq!(Require.provide(), CRYPTO_RC4);
        assert_eq!(
            Prefer.select(CRYPTO_RC4 | CRYPTO_PLAINTEXT),
            Some(CRYPTO_PLAINTEXT)
        );
        assert_eq!(Prefer.select(CRYPTO_RC4), Some(CRYPTO_RC4));
        assert_eq!(Prefer.select(CRYPTO_PLAINTEXT), Some(CRYPTO_PLAINTEXT));
        assert_eq!(
            Require.select(CRYPTO_RC4 | CRYPTO_PLAINTEXT),
            Some(CRYPTO_RC4)
        );
        assert_eq!(Require.select(CRYPTO_PLAINTEXT), None);
        assert_eq!(Off.select(CRYPTO_RC4), None);
        assert_eq!(Prefer.select(0), None);
        assert!(!Require.accepts_plain());
        assert!(Prefer.accepts_plain() && Off.accepts_plain());
        let parsed: Encryption = toml::from_str::<toml::Value>("x = \"require\"")
            .unwrap()
            .get("x")
            .unwrap()
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(parsed, Require);
    }

    #[test]
    fn a_plain_handshake_is_told_from_a_public_key() {
        let mut hs = b"\x13BitTorrent protocol".to_vec();
        hs.extend_from_slice(&[0; 48]);
        assert!(is_plain_handshake(&hs));
        assert!(!is_plain_handshake(&KeyPair::generate().public));
        assert!(!is_plain_handshake(b"\x13BitTorrent"));
    }

    /// Runs both sides over an in-memory pipe, then sends `n` bytes each way.
    async fn exchange(provide: u32, policy: Encryption, n: usize) -> io::Result<u32> {
        let hash = [5u8; 20];
        let (a, b) = tokio::io::duplex(4096);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let receiver = tokio::spawn(async move {
            let mut br = br;
            let mut start = vec![0u8; SNIFF_LEN];
            br.read_exact(&mut start).await?;
            assert!(!is_plain_handshake(&start));
            accept(br, bw, start, &[[1u8; 20], hash], policy).await
        });
        let (mut ar, mut aw, select) = initiate(ar, aw, hash, provide).await?;
        let (mut br, mut bw, skey) = receiver.await.unwrap()?;
        assert_eq!(skey, hash);
        let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        let d2 = data.clone();
        let send = tokio::spawn(async move {
            aw.write_all(&d2).await.unwrap();
            aw.flush().await.unwrap();
            aw
        });
        let mut got = vec![0u8; n];
        br.read_exact(&mut got).await?;
        assert!(got == data, "A to B");
        bw.write_all(b"answer").await?;
        bw.flush().await?;
        let mut answer = [0u8; 6];
        ar.read_exact(&mut answer).await?;
        assert_eq!(&answer, b"answer");
        send.await.unwrap();
        Ok(select)
    }

    #[tokio::test]
    async fn rc4_streams_carry_bytes_both_ways() {
        let sel = exchange(CRYPTO_RC4, Encryption::Prefer, 300_000)
            .await
            .unwrap();
        assert_eq!(sel, CRYPTO_RC4);
        let sel = exchange(CRYPTO_RC4 | CRYPTO_PLAINTEXT, Encryption::Require, 70_000)
            .await
            .unwrap();
        assert_eq!(sel, CRYPTO_RC4);
    }

    #[tokio::test]
    async fn plaintext_after_an_encrypted_handshake() {
        let sel = exchange(CRYPTO_RC4 | CRYPTO_PLAINTEXT, Encryption::Prefer, 100_000)
            .await
            .unwrap();
        assert_eq!(sel, CRYPTO_PLAINTEXT);
    }

    #[tokio::test]
    async fn a_receiver_that_requires_rc4_refuses_plaintext_only() {
        assert!(exchange(CRYPTO_PLAINTEXT, Encryption::Require, 10)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn an_unknown_torrent_is_refused() {
        let (a, b) = tokio::io::duplex(4096);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let receiver = tokio::spawn(async move {
            accept(br, bw, Vec::new(), &[[1u8; 20]], Encryption::Prefer).await
        });
        let initiator = tokio::spawn(initiate(ar, aw, [2u8; 20], CRYPTO_RC4));
        assert!(receiver.await.unwrap().is_err());
        assert!(initiator.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_peer_without_mse_fails_the_initiator_quickly() {
        // A plain BitTorrent peer reads our 96+ bytes as a bad handshake and hangs up.
        let (a, b) = tokio::io::duplex(4096);
        let (ar, aw) = tokio::io::split(a);
        tokio::spawn(async move {
            let mut b = b;
            let mut hs = [0u8; 68];
            let _ = b.read_exact(&mut hs).await;
        });
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            initiate(ar, aw, [2u8; 20], CRYPTO_RC4),
        )
        .await
        .expect("fails, does not hang");
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn replay_puts_sniffed_bytes_back() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(b"world").await.unwrap();
        drop(a);
        let mut r = replay(b, b"hello ".to_vec());
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "hello world");
    }
}

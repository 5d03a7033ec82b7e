//! Wire codec for Hearth's request-response protocols: one JSON value per stream direction,
//! read to end-of-stream with a hard size limit. Anything malformed or oversized fails the
//! stream with `InvalidData`; the connection and the node carry on.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::{de::DeserializeOwned, Serialize};

/// A size-limited JSON codec for `request_response`.
pub struct JsonCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _t: PhantomData<fn() -> (Req, Resp)>,
}

/// Checks a request's bytes before they are accepted: the owner of a protocol whose messages
/// the network only carries says which are well-formed.
pub type RequestCheck = fn(&[u8]) -> bool;

/// A protocol whose requests the network carries as bytes for their owner (a feature),
/// size-limited and checked by the owner's [`RequestCheck`] in the connection's task; the
/// answers are JSON. Requests that fail the check fail the stream, like malformed JSON.
#[derive(Clone)]
pub struct CheckedCodec<Resp> {
    max_request: usize,
    max_response: usize,
    check: RequestCheck,
    _t: PhantomData<fn() -> Resp>,
}

impl<Resp> CheckedCodec<Resp> {
    pub fn new(max_request: usize, max_response: usize, check: RequestCheck) -> Self {
        Self {
            max_request,
            max_response,
            check,
            _t: PhantomData,
        }
    }
}

/// A request a [`CheckedCodec`] accepted: the bytes as they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBytes(pub Vec<u8>);

impl<Req, Resp> JsonCodec<Req, Resp> {
    pub fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
            _t: PhantomData,
        }
    }
}

impl<Req, Resp> Clone for JsonCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.max_request, self.max_response)
    }
}

async fn read_bytes<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message larger than {max} bytes"),
        ));
    }
    Ok(buf)
}

async fn read_limited<T, M>(io: &mut T, max: usize) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: DeserializeOwned,
{
    let buf = read_bytes(io, max).await?;
    serde_json::from_slice(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_json<T, M>(io: &mut T, msg: &M, max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: Serialize,
{
    let bytes =
        serde_json::to_vec(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    write_bytes(io, &bytes, max).await
}

async fn write_bytes<T>(io: &mut T, bytes: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    if bytes.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "outgoing message too large",
        ));
    }
    io.write_all(bytes).await?;
    io.close().await
}

impl<Req, Resp> libp2p::request_response::Codec for JsonCodec<Req, Resp>
where
    Req: Serialize + DeserializeOwned + Send + Sync + 'static,
    Resp: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_json(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_json(io, &res, self.max_response).await
    }
}

impl<Resp> libp2p::request_response::Codec for CheckedCodec<Resp>
where
    Resp: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Protocol = StreamProtocol;
    type Request = CheckedBytes;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<CheckedBytes>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_bytes(io, self.max_request).await?;
        if !(self.check)(&buf) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a well-formed message of this protocol",
            ));
        }
        Ok(CheckedBytes(buf))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: CheckedBytes,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_bytes(io, &req.0, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_json(io, &res, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::request_response::Codec;

    type C = JsonCodec<Vec<u8>, String>;
    fn proto() -> StreamProtocol {
        StreamProtocol::new("/hearth/test/1")
    }

    #[tokio::test]
    async fn round_trip() {
        let mut c = C::new(64, 64);
        let mut wire = futures::io::Cursor::new(Vec::new());
        c.write_request(&proto(), &mut wire, vec![1, 2, 3])
            .await
            .unwrap();
        let mut rd = futures::io::Cursor::new(wire.into_inner());
        assert_eq!(
            c.read_request(&proto(), &mut rd).await.unwrap(),
            vec![1, 2, 3]
        );
    }

    #[tokio::test]
    async fn oversized_and_malformed_input_is_invalid_data() {
        let mut c = C::new(16, 16);
        let mut big = futures::io::Cursor::new(vec![b'1'; 1000]);
        let e = c.read_request(&proto(), &mut big).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let mut junk = futures::io::Cursor::new(b"\xff\x00{".to_vec());
        let e = c.read_response(&proto(), &mut junk).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}

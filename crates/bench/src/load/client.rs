//! The load generator's HTTP client: one keep-alive HTTP/1.1 connection per worker, straight on
//! hyper's connection API, so that what is measured is the server and the wire, not a client's
//! pool.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// One keep-alive HTTP/1.1 connection, owned by one worker, and the host:port it talks to.
pub(crate) struct Conn {
    send: SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    pub(crate) async fn open(addr: &str) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            send,
            host: addr.to_owned(),
        })
    }

    /// Whether the server closed the connection (a worker then opens another).
    pub(crate) fn is_closed(&self) -> bool {
        self.send.is_closed()
    }

    /// Sends one request, as the member holding `token` when given, with a JSON `body` when given;
    /// the status and the whole answer, or `None` on a transport error.
    pub(crate) async fn request(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Option<(u16, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.host.as_str());
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .ok()?;
        self.send.ready().await.ok()?;
        let resp = self.send.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, bytes))
    }
}

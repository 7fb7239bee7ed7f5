//! The kubelet's streaming protocol for exec and attach over WebSocket, as
//! kubectl 1.37 and the Python client speak it (`k8s.io/apimachinery`'s
//! `wsstream` and `remotecommand`):
//!
//! - the subprotocol is `v5.channel.k8s.io` (kubectl) or
//!   `v4.channel.k8s.io` (kubectl's fallback, the Python client's
//!   `stream()`), chosen from what the client offers;
//! - every binary message starts with its channel: 0 stdin, 1 stdout,
//!   2 stderr, 3 error, 4 resize (a JSON `{"Width":…,"Height":…}`); v5 adds
//!   255, a close: the next byte names the channel that has ended (stdin
//!   at the client's end of input);
//! - the process's end is one message on the error channel: a
//!   `metav1.Status`, `Success`, or `Failure` with reason
//!   `NonZeroExitCode` and the code as a cause, which kubectl turns into
//!   `command terminated with exit code N` and its own exit code.
//!
//! v4 and v5 differ only in v5's close message, so one pump serves both.
//! [`serve`] pumps one session between a socket (any stream and sink of
//! [`Frame`]s: axum's WebSocket in the agent, channels in the tests) and a
//! [`Session`] — a running command's pipes, resize and exit — that the
//! runtime driver provides.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5: the channel named by the next byte has ended.
pub const CLOSE: u8 = 255;

/// The channel protocols served, preferred first (the newest the client
/// offers is spoken).
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// One WebSocket message as the session sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Binary(Vec<u8>),
    /// The peer closed the socket (or the session closes it).
    Close,
}

/// A message on `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Frame {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Frame::Binary(bytes)
}

/// What a client's message asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Stdin(Vec<u8>),
    Resize {
        width: u16,
        height: u16,
    },
    /// v5: the client's input has ended.
    CloseStdin,
    /// Anything else (unknown channels, a bad resize) is ignored, as
    /// kubelet ignores it.
    Ignored,
}

pub fn parse(message: &[u8]) -> Incoming {
    match message {
        [STDIN, data @ ..] => Incoming::Stdin(data.to_vec()),
        [RESIZE, data @ ..] => {
            let size: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
            let dimension = |key: &str| {
                size.get(key)
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
            };
            match (dimension("Width"), dimension("Height")) {
                (Some(width), Some(height)) => Incoming::Resize { width, height },
                _ => Incoming::Ignored,
            }
        }
        [CLOSE, STDIN, ..] => Incoming::CloseStdin,
        _ => Incoming::Ignored,
    }
}

/// The error channel's last word on a command that ended with `code`
/// (kube's `remotecommand` `Status`).
pub fn exit_status(command: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The error channel's word on a command that could not run.
pub fn failure(message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"})
}

/// How long output may still come once the command has ended.
const FLUSH_AFTER_EXIT: Duration = Duration::from_secs(1);

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A running command as the driver hands it over: its pipes (absent when
/// not asked for; with a TTY, stderr is merged into stdout), a way to
/// resize its terminal, and its exit code to come.
pub struct Session {
    pub stdin: Option<Writer>,
    pub stdout: Option<Reader>,
    pub stderr: Option<Reader>,
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    pub exit: BoxFuture<'static, Result<i32, String>>,
}

/// Pumps `session` through `socket` until the command has ended and its
/// output is sent (then the exit status goes on the error channel and the
/// socket closes), the client goes, or nothing moves for `idle`.
pub async fn serve<S>(socket: S, command: &[String], session: Session, idle: Duration)
where
    S: Stream<Item = Frame> + Sink<Frame> + Send,
{
    let (mut to_client, mut from_client) = socket.split();
    let (output, mut outgoing) = mpsc::channel::<Frame>(16);
    let mut readers = Vec::new();
    for (channel, reader) in [(STDOUT, session.stdout), (STDERR, session.stderr)] {
        if let Some(reader) = reader {
            readers.push(tokio::spawn(copy_out(channel, reader, output.clone())));
        }
    }
    drop(output);
    let mut stdin = session.stdin;
    let resize = session.resize;
    let mut exit = session.exit;
    let mut code: Option<Result<i32, String>> = None;
    let mut output_done = false;
    let mut idle_timer = Box::pin(tokio::time::sleep(idle));
    let mut flush_by = Box::pin(tokio::time::sleep(idle));
    loop {
        if output_done && let Some(ended) = &code {
            let status = match ended {
                Ok(code) => exit_status(command, *code),
                Err(message) => failure(message),
            };
            let _ = to_client
                .send(frame(ERROR, status.to_string().as_bytes()))
                .await;
            let _ = to_client.send(Frame::Close).await;
            break;
        }
        tokio::select! {
            message = from_client.next() => {
                idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                match message {
                    Some(Frame::Binary(bytes)) => match parse(&bytes) {
                        Incoming::Stdin(data) => {
                            if let Some(pipe) = stdin.as_mut()
                                && pipe.write_all(&data).await.is_err()
                            {
                                stdin = None;
                            }
                        }
                        Incoming::CloseStdin => stdin = None,
                        Incoming::Resize { width, height } => {
                            if let Some(resize) = &resize {
                                resize(width, height);
                            }
                        }
                        Incoming::Ignored => {}
                    },
                    // The client left: the command's input ends with it.
                    Some(Frame::Close) | None => break,
                }
            }
            frame = outgoing.recv(), if !output_done => {
                idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                match frame {
                    Some(frame) => {
                        if to_client.send(frame).await.is_err() {
                            break;
                        }
                    }
                    None => output_done = true,
                }
            }
            ended = &mut exit, if code.is_none() => {
                code = Some(ended);
                // Children may hold the pipes open after the command ends:
                // what they wrote within a second still goes out.
                flush_by.as_mut().reset(tokio::time::Instant::now() + FLUSH_AFTER_EXIT);
            }
            () = &mut flush_by, if code.is_some() && !output_done => output_done = true,
            () = &mut idle_timer => {
                let _ = to_client.send(frame(ERROR, failure("the stream was idle too long").to_string().as_bytes())).await;
                let _ = to_client.send(Frame::Close).await;
                break;
            }
        }
    }
    for reader in readers {
        reader.abort();
    }
}

async fn copy_out(channel: u8, mut reader: Reader, output: mpsc::Sender<Frame>) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                if output.send(frame(channel, &buffer[..read])).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use super::*;

    /// A socket over channels: what the client sends, what it receives.
    struct Duplex {
        from_client: mpsc::UnboundedReceiver<Frame>,
        to_client: mpsc::UnboundedSender<Frame>,
    }

    impl Stream for Duplex {
        type Item = Frame;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
            self.from_client.poll_recv(cx)
        }
    }

    impl Sink<Frame> for Duplex {
        type Error = ();
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, frame: Frame) -> Result<(), ()> {
            self.to_client.send(frame).map_err(|_| ())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn messages_are_read_by_their_channel() {
        assert_eq!(parse(&[STDIN, b'l', b's']), Incoming::Stdin(b"ls".to_vec()));
        let resize = [&[RESIZE][..], br#"{"Width":120,"Height":40}"#].concat();
        assert_eq!(
            parse(&resize),
            Incoming::Resize {
                width: 120,
                height: 40
            }
        );
        assert_eq!(parse(&[RESIZE, b'{']), Incoming::Ignored);
        assert_eq!(parse(&[CLOSE, STDIN]), Incoming::CloseStdin);
        assert_eq!(parse(&[]), Incoming::Ignored);
        assert_eq!(frame(STDERR, b"x"), Frame::Binary(vec![STDERR, b'x']));
    }

    #[test]
    fn a_non_zero_exit_is_the_status_kubectl_reads_its_code_from() {
        let command = vec!["sh".to_owned(), "-c".to_owned(), "exit 3".to_owned()];
        let status = exit_status(&command, 3);
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(
            status["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
        assert_eq!(
            status["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        assert_eq!(exit_status(&command, 0)["status"], "Success");
    }

    #[tokio::test]
    async fn a_session_carries_input_output_resizes_and_the_exit_code() {
        let (client_tx, from_client) = mpsc::unbounded_channel();
        let (to_client, mut client_rx) = mpsc::unbounded_channel();
        let socket = Duplex {
            from_client,
            to_client,
        };
        // The "command": echoes its input to stdout until input ends, then exits 7.
        let (stdin_w, stdin_r) = tokio::io::duplex(64);
        let (stdout_w, stdout_r) = tokio::io::duplex(64);
        let (stderr_w, stderr_r) = tokio::io::duplex(64);
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let exit = tokio::spawn(async move {
            let (mut input, mut output, mut errors) = (stdin_r, stdout_w, stderr_w);
            errors.write_all(b"starting\n").await.unwrap();
            tokio::io::copy(&mut input, &mut output).await.unwrap();
            7
        });
        let session = Session {
            stdin: Some(Box::new(stdin_w)),
            stdout: Some(Box::new(stdout_r)),
            stderr: Some(Box::new(stderr_r)),
            resize: Some(Box::new(move |w, h| seen.lock().unwrap().push((w, h)))),
            exit: Box::pin(async move { exit.await.map_err(|e| e.to_string()) }),
        };
        let command = vec!["cat".to_owned()];
        let served = tokio::spawn(async move {
            serve(socket, &command, session, Duration::from_secs(30)).await;
        });
        client_tx.send(frame(STDIN, b"hello")).unwrap();
        client_tx
            .send(frame(RESIZE, br#"{"Width":80,"Height":24}"#))
            .unwrap();
        client_tx.send(Frame::Binary(vec![CLOSE, STDIN])).unwrap();
        served.await.unwrap();
        let mut frames = Vec::new();
        while let Ok(frame) = client_rx.try_recv() {
            frames.push(frame);
        }
        let on = |channel: u8| -> Vec<u8> {
            frames
                .iter()
                .filter_map(|f| match f {
                    Frame::Binary(bytes) if bytes.first() == Some(&channel) => {
                        Some(bytes[1..].to_vec())
                    }
                    _ => None,
                })
                .flatten()
                .collect()
        };
        assert_eq!(on(STDOUT), b"hello");
        assert_eq!(on(STDERR), b"starting\n");
        let status: Value = serde_json::from_slice(&on(ERROR)).unwrap();
        assert_eq!(status["details"]["causes"][0]["message"], "7");
        assert_eq!(frames.last(), Some(&Frame::Close));
        assert_eq!(*sizes.lock().unwrap(), [(80, 24)]);
    }
}

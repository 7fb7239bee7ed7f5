//! A throwaway etcd server on loopback, for tests, benchmarks and development.
//!
//! Starts the `etcd` binary from `PATH` (Debian's `etcd-server`) with a
//! temporary data directory and free ports on 127.0.0.1, waits until it
//! answers, and kills it (by PID) when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// A running etcd child process.
pub struct LocalEtcd {
    child: Child,
    client_url: String,
    _data_dir: tempfile::TempDir,
}

impl LocalEtcd {
    /// Where the `etcd` binary is, if it is installed.
    pub fn binary() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("etcd"))
            .find(|candidate| candidate.is_file())
    }

    /// Starts etcd and waits (up to 20 s) until its client port answers.
    pub async fn start() -> Result<Self> {
        let binary = Self::binary()
            .ok_or_else(|| Error::Backend("the etcd binary is not on PATH".into()))?;
        let data_dir = tempfile::tempdir().map_err(Error::backend)?;
        let client_url = format!("http://127.0.0.1:{}", free_port()?);
        let peer_url = format!("http://127.0.0.1:{}", free_port()?);
        let log =
            std::fs::File::create(data_dir.path().join("etcd.log")).map_err(Error::backend)?;
        let child = Command::new(binary)
            .arg("--name=wharf-test")
            .arg(format!(
                "--data-dir={}",
                data_dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=wharf-test={peer_url}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(Error::backend)?;
        let etcd = Self {
            child,
            client_url,
            _data_dir: data_dir,
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    /// The client URL, `http://127.0.0.1:PORT`.
    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let endpoints = [self.client_url.clone()];
            let attempt = async {
                let mut client = etcd_client::Client::connect(endpoints, None).await?;
                client.get("/", None).await
            };
            match tokio::time::timeout(Duration::from_secs(2), attempt).await {
                Ok(Ok(_)) => return Ok(()),
                _ if Instant::now() > deadline => {
                    return Err(Error::Backend(format!(
                        "etcd at {} did not become ready",
                        self.client_url
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::backend)?;
    Ok(listener.local_addr().map_err(Error::backend)?.port())
}

//! A moto server on a free loopback port, owned by this process.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MotoError {
    #[error("moto_server not found at {0}; run tools/scripts/setup.sh (make setup) first")]
    NotInstalled(PathBuf),
    #[error("could not pick a free port or start moto: {0}")]
    Io(#[from] std::io::Error),
    #[error("moto did not answer on {url} within {waited:?}")]
    NotReady { url: String, waited: Duration },
}

/// A running moto server. Dropping it stops the server.
///
/// moto runs under a small shell watchdog that also stops it when this process dies without
/// running `Drop` (a test binary exits without dropping statics; Ctrl-C on a test run), so no
/// server is ever left behind.
pub struct MotoServer {
    pub endpoint: String,
    child: Child,
}

impl MotoServer {
    /// Starts `moto_server` from the venv under `repo_root/.venv` on 127.0.0.1 and waits until it
    /// answers. 127.0.0.1 and not `localhost`: the S3 SDK would try virtual-host addressing on a
    /// name.
    pub fn start(repo_root: &Path) -> Result<Self, MotoError> {
        let moto = repo_root.join(".venv/bin/moto_server");
        if !moto.exists() {
            return Err(MotoError::NotInstalled(moto));
        }
        // moto's server with atomic DynamoDB conditional writes, as the real service has them
        // (tools/scripts/moto_server.py says why).
        let python = repo_root.join(".venv/bin/python");
        let launcher = repo_root.join("tools/scripts/moto_server.py");
        let port = free_port()?;
        let script = format!(
            "{python} {launcher} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             trap 'kill $m 2>/dev/null' EXIT INT TERM; \
             tail --pid={parent} -f /dev/null & t=$!; \
             wait -n $m $t",
            python = shell_quote(&python.to_string_lossy()),
            launcher = shell_quote(&launcher.to_string_lossy()),
            parent = std::process::id(),
        );
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), MotoError> {
        let started = Instant::now();
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        // Readiness is "the port accepts a connection"; moto binds only once it can serve.
        while started.elapsed() < limit {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(MotoError::NotReady {
            url: self.endpoint.clone(),
            waited: limit,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // SIGTERM to the watchdog runs its trap, which stops moto.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Asks the OS for a free port on loopback. A race with another process taking it before moto
/// binds is possible but unlikely; moto then fails to start and `wait_ready` says so.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The repository root, found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

//! Real processes for multi-process tests: `redis-server` instances that can be killed and
//! restarted, and `parlor serve` processes of the binary under test.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

async fn wait_for_port(port: u16) {
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on port {port}");
}

/// A private `redis-server` without persistence; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut redis = Self::on_port(free_port());
        redis.restart().await;
        redis
    }

    /// A server for `port`, not started yet (`restart` starts it).
    pub fn on_port(port: u16) -> Self {
        Self { port, child: None }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it abruptly (SIGKILL), as a crash or a network cut would look.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes it (SIGSTOP): connections stay open and nothing answers, as a Redis stuck
    /// on a slow disk or a dead network path looks.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([which, &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(status.success(), "kill {which}");
        }
    }

    /// Starts it (again) on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (make test installs it)");
        self.child = Some(child);
        wait_for_port(self.port).await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `parlor serve` process of the binary under test; killed when dropped.
pub struct ParlorProcess {
    pub port: u16,
    child: Child,
}

impl ParlorProcess {
    /// Starts `parlor serve` on a free port, guests allowed, with these extra flags.
    pub async fn start(database: impl AsRef<OsStr>, extra: &[&str]) -> Self {
        Self::launch(database.as_ref(), true, extra).await
    }

    /// Starts `parlor serve` on a free port with accounts only.
    pub async fn start_without_guests(database: &Path) -> Self {
        Self::launch(database.as_os_str(), false, &[]).await
    }

    async fn launch(database: &OsStr, guests: bool, extra: &[&str]) -> Self {
        let port = free_port();
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--database")
            .arg(database)
            .args(["--log", "warn", "--message-rate", "0"])
            .args(["--metrics-token", crate::helpers::METRICS_TOKEN])
            .args(["--signups-per-ip-per-hour", "0"]);
        if guests {
            command.arg("--allow-guests");
        }
        let child = command
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start parlor");
        wait_for_port(port).await;
        Self { port, child }
    }

    /// The process id (to read its memory use, or send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it abruptly (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends SIGTERM, as a service manager stopping it would.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill on PATH");
        assert!(status.success(), "kill -TERM");
    }

    /// Waits up to `within` for the process to exit; its status, or `None` if it is still
    /// running.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for ParlorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `parlor` binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parlor"))
}

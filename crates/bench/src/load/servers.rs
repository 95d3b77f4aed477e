//! The servers under test: the `rapport` binary, run as an operator runs it (`rapport serve` as a
//! child process per server, `rapport copy` to fill a PostgreSQL database), waited for until
//! ready, watched through /proc and stopped with SIGTERM.

use super::client::Conn;
use anyhow::{bail, Context};
use hyper::Method;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `rapport` binary the benchmark runs, and the CPUs its servers are pinned to (`taskset -c`),
/// if any.
pub(crate) struct Rapport(PathBuf, Option<String>);

impl Rapport {
    /// `given` (`--rapport`), else the `rapport` beside this binary: cargo builds both into the
    /// same directory, and `cargo install` puts both in the same one too.
    pub(crate) fn find(given: Option<PathBuf>, cpus: Option<String>) -> anyhow::Result<Rapport> {
        let path = match given {
            Some(path) => path,
            None => std::env::current_exe()
                .context("finding rapport-bench's own path")?
                .with_file_name(format!("rapport{}", std::env::consts::EXE_SUFFIX)),
        };
        if !path.is_file() {
            bail!(
                "no rapport binary at {}: build it (cargo build --release --bin rapport) or name it with --rapport",
                path.display()
            );
        }
        Ok(Rapport(path, cpus))
    }

    /// `rapport serve` on the store in `dir`, or on the PostgreSQL database at `database` with
    /// `dir` for its files, listening on `addr`.
    pub(crate) fn serve(
        &self,
        dir: &Path,
        addr: &str,
        database: Option<&str>,
    ) -> anyhow::Result<Server> {
        let mut command = match &self.1 {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(cpus).arg(&self.0);
                taskset
            }
            None => Command::new(&self.0),
        };
        command
            .env_remove("RAPPORT_DATABASE_URL")
            .env_remove("RAPPORT_DATABASE_READ_URL");
        if let Some(url) = database {
            command.env("RAPPORT_DATABASE_URL", url);
        }
        let child = command
            .arg("serve")
            .env("RAPPORT_DATA_DIR", dir)
            .env("RAPPORT_LISTEN", addr)
            .env("RAPPORT_LOG", "warn")
            // The benchmark measures the engine, not the platform's weekly limits.
            .env("RAPPORT_WEEKLY_INVITATION_LIMIT", "100000000")
            .env("RAPPORT_PREMIUM_WEEKLY_INVITATION_LIMIT", "100000000")
            .env("RAPPORT_OUTSTANDING_LIMIT", "100000000")
            .spawn()
            .with_context(|| format!("starting {} serve", self.0.display()))?;
        Ok(Server(child))
    }

    /// `rapport copy` of the embedded store at `from` into the empty PostgreSQL database at `to`;
    /// its report goes to stderr.
    pub(crate) fn copy(&self, from: &Path, to: &str) -> anyhow::Result<()> {
        let mut copy = Command::new(&self.0);
        copy.arg("copy")
            .arg("--from")
            .arg(format!("sqlite://{}", from.display()))
            .arg("--to")
            .arg(to)
            .env("RAPPORT_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        let out = tokio::task::block_in_place(|| copy.output())
            .with_context(|| format!("running {} copy", self.0.display()))?;
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            bail!("rapport copy failed ({})", out.status);
        }
        Ok(())
    }
}

/// `count` free addresses on 127.0.0.1. Every port is taken before any is given back, so no two
/// servers are given the same one.
pub(crate) fn free_addrs(count: usize) -> anyhow::Result<Vec<String>> {
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut addrs = Vec::new();
    for l in &listeners {
        addrs.push(format!("127.0.0.1:{}", l.local_addr()?.port()));
    }
    Ok(addrs)
}

/// Resident memory in MiB: VmRSS, VmHWM (the peak), and the RSS's anonymous and file parts.
pub(crate) struct Memory {
    pub rss: f64,
    pub peak: f64,
    pub anon: f64,
    pub file: f64,
}

/// `rapport serve` as a child process, stopped with SIGTERM (killed if dropped still running).
pub(crate) struct Server(Child);

impl Server {
    /// Polls `/readyz` at `addr` every 10 ms until it answers `200` (loading a 1M-member graph
    /// takes seconds).
    pub(crate) async fn wait_ready(&mut self, addr: &str) -> anyhow::Result<()> {
        let limit = Instant::now() + Duration::from_secs(600);
        while Instant::now() < limit {
            if let Ok(mut c) = Conn::open(addr).await {
                let answer = c.request(Method::GET, "/readyz", None, None).await;
                if answer.is_some_and(|(status, _)| (200..300).contains(&status)) {
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = self.0.try_wait() {
                bail!("rapport serve exited before it was ready ({status})");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("the server did not become ready within 600 s")
    }

    /// The process's memory from /proc/<pid>/status (zeros where it cannot be read).
    pub(crate) fn memory(&self) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        Memory {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }

    pub(crate) fn stop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Pins this process, every thread of it, to `cpus` (`taskset -a -p -c`): with the server pinned
/// elsewhere, the load generator and the server no longer wait for each other's cores.
pub(crate) fn pin_self(cpus: &str) -> anyhow::Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .output()
        .context("running taskset (util-linux)")?;
    if !out.status.success() {
        bail!(
            "taskset -c {cpus} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Rapport;

    #[test]
    fn a_missing_rapport_binary_is_named_with_the_way_to_fix_it() {
        // Found nowhere, the benchmark stops before seeding anything and says what to do.
        let missing = std::env::temp_dir().join("no-such-dir").join("rapport");
        let err = Rapport::find(Some(missing), None)
            .err()
            .expect("no binary there")
            .to_string();
        assert!(
            err.contains("no-such-dir") && err.contains("--rapport"),
            "{err}"
        );
    }
}

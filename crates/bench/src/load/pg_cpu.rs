//! How much CPU a PostgreSQL server on this machine spent: the postmaster's and every backend's
//! user and system time from `/proc`, plus the time of backends that already exited (the
//! postmaster's `cutime`/`cstime`). Read before and after a benchmark run, the difference over the
//! run's operations is the database work per operation, the figure PostgreSQL's cost is judged by
//! (a connection's backend is its own process, so per-query timings would miss parsing, locking
//! and commits). `None` when the server is not on this machine or `/proc` cannot be read.

/// The kernel's `USER_HZ`: `/proc` counts CPU time in these ticks (100 on every Linux port
/// Rapport runs on).
const TICKS_PER_SEC: f64 = 100.0;

/// The postmaster's process id, from `postmaster.pid` in the server's data directory.
pub async fn postmaster(url: &str) -> Option<u32> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .ok()?;
    let driver = tokio::spawn(conn);
    let dir: String = client
        .query_one("SHOW data_directory", &[])
        .await
        .ok()?
        .get(0);
    drop(client);
    let _ = driver.await;
    let pid = std::fs::read_to_string(std::path::Path::new(&dir).join("postmaster.pid")).ok()?;
    pid.lines().next()?.trim().parse().ok()
}

/// `(ppid, utime + stime, cutime + cstime)` of a process, in ticks.
fn times(pid: &str) -> Option<(u32, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields start after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let n = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((u32::try_from(n(1)?).ok()?, n(11)? + n(12)?, n(13)? + n(14)?))
}

/// Milliseconds of CPU the server rooted at `postmaster` has used since it started.
pub fn cpu_ms(postmaster: u32) -> Option<f64> {
    let (_, own, exited) = times(&postmaster.to_string())?;
    let mut ticks = own + exited;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if let Some((ppid, t, _)) = times(pid) {
            if ppid == postmaster {
                ticks += t;
            }
        }
    }
    Some(ticks as f64 * 1000.0 / TICKS_PER_SEC)
}

//! What the binary-driving integration tests share.

use std::path::Path;

/// Runs the `sheetsync` binary with `--config CONFIG ARGS`, no log filter from the
/// environment, no colour, no browser and no stdin; returns (exit code, stdout, stderr).
pub async fn run_sheetsync(config: &Path, args: &[&str]) -> (i32, String, String) {
    run_sheetsync_env(config, args, &[]).await
}

/// [`run_sheetsync`] with extra environment variables (set after the defaults, so a test
/// may override them).
pub async fn run_sheetsync_env(
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SHEETSYNC_LOG")
        .env("NO_COLOR", "1")
        .env("SHEETSYNC_NO_BROWSER", "1")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run sheetsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `sheetsync --config CONFIG ARGS` in the background, its output discarded, for a
/// test that stops it midway (a kill at a held mutation).
pub fn spawn_sheetsync(config: &Path, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SHEETSYNC_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sheetsync")
}

/// Waits (20 s at most) until `hold` has stopped its mutation at the sandbox; `what`
/// names that moment when it never comes.
pub async fn held(hold: &sheetsync_sandbox::shopify::MutationHold, what: &str) {
    tokio::time::timeout(std::time::Duration::from_secs(20), hold.held())
        .await
        .unwrap_or_else(|_| panic!("not within 20 s: {what}"));
}

/// The store's variants for every SKU in the sandbox sheet's first column (`Inventory`
/// tab), by SKU: what two runs are compared on when they must converge.
pub fn store_by_sheet_sku(
    sandbox: &sheetsync_sandbox::Sandbox,
) -> std::collections::BTreeMap<String, Vec<sheetsync_sandbox::shopify::VariantView>> {
    sandbox
        .sheets
        .rows("Inventory")
        .iter()
        .skip(1)
        .filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_owned))
        .filter(|s| !s.is_empty())
        .map(|s| (s.clone(), sandbox.shopify.variants_with_sku(&s)))
        .collect()
}

/// The JSON a `--json` run printed on stdout; a run that printed none fails the test with
/// its exit code and both outputs.
pub fn json_output(code: i32, stdout: &str, stderr: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| {
        panic!("no JSON on stdout ({e}); exit {code}\nstdout: {stdout}\nstderr: {stderr}")
    })
}

/// Waits until `ready()` holds, checking every 20 ms; fails the test naming `what` if it
/// does not within `timeout`. The timeout only bounds a failure (a loaded machine just
/// takes longer to get there); the poll interval only sets how soon the wait notices.
#[allow(dead_code)] // not every suite waits on a condition
pub async fn wait_until(timeout: std::time::Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {timeout:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A child's stderr, read line by line as it comes, so a test can wait for a line (a
/// readiness signal: "the first tick ran") and still see everything it logged at the end.
#[allow(dead_code)] // only the suites that watch a long-running command use it
pub struct LogTail {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

#[allow(dead_code)]
impl LogTail {
    /// Takes the child's piped stderr and starts reading it.
    pub fn of(child: &mut tokio::process::Child) -> LogTail {
        use tokio::io::AsyncBufReadExt;
        let stderr = child.stderr.take().expect("stderr is piped");
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&text);
        let reader = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = sink.lock().unwrap_or_else(|e| e.into_inner());
                t.push_str(&line);
                t.push('\n');
            }
        });
        LogTail { text, reader }
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many lines logged so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits (20 s at most) until at least `n` lines contain `needle`.
    pub async fn wait_for(&self, needle: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.count(needle) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not within 20 s: {n} log line(s) with {needle:?}; the log so far:\n{}",
                self.text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Everything the child logged, once its stderr has closed (after it exited).
    pub async fn finish(self) -> String {
        let LogTail { text, reader } = self;
        // The child has exited, so its stderr ends; the bound only guards a stuck reader.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), reader).await;
        text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Where the binary under test keeps its state: the suites that hold the state port's
/// promises (e2e, three-way, revert, kills) run against both (see `on_both_backends!`).
#[derive(Debug, Clone)]
#[allow(dead_code)] // not every suite runs on both backends
pub enum Backend {
    /// SQLite in the config's `sync.state_dir`, the default.
    Sqlite,
    /// PostgreSQL: a fresh, migrated database on the test server; its URL.
    Postgres(String),
}

#[allow(dead_code)]
impl Backend {
    /// A fresh migrated database on this binary's PostgreSQL server.
    pub async fn postgres() -> Backend {
        let url = crate::pg::fresh_database().await;
        sheetsync::state::postgres::migrate_schema(&url)
            .await
            .expect("fleet migrate");
        Backend::Postgres(url)
    }

    /// The environment that points the binary at this backend.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Postgres(url) => vec![("SHEETSYNC_STATE_URL", url.clone())],
        }
    }

    /// Applies [`Backend::env`] to a command.
    pub fn apply(&self, cmd: &mut tokio::process::Command) {
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
    }

    /// Shortens the lease of the binary's writers to `ttl` in `config` (the kill tests:
    /// a killed writer's lease must expire before the re-run can take it).
    pub fn short_lease(&self, config: &Path, ttl: &str) {
        if let Backend::Postgres(_) = self {
            let mut text = std::fs::read_to_string(config).expect("config");
            text.push_str(&format!("\n[state]\nlease_ttl = \"{ttl}\"\n"));
            std::fs::write(config, text).expect("config");
        }
    }

    /// Waits until no live writer holds a lease: a killed writer's has expired on the
    /// database's clock. Nothing to wait for on SQLite (the kernel drops the lock).
    pub async fn wait_for_free_leases(&self) {
        let Backend::Postgres(url) = self else {
            return;
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let held = crate::pg::query_strings(
                url,
                "SELECT count(*)::text FROM sheetsync.leases
                 WHERE holder IS NOT NULL AND expires_at > now()",
            )
            .await;
            if held == vec![Some("0".to_owned())] {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "a killed writer's lease did not expire within 60 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The state of `scope`, read-only, as the binary left it (`state_dir`: the config's).
    pub fn open_reader(
        &self,
        state_dir: &Path,
        scope: &sheetsync::state::Scope,
    ) -> Option<Box<dyn sheetsync::state::StateStore>> {
        match self {
            Backend::Sqlite => {
                sheetsync::state::open_reader(state_dir, scope).expect("open the SQLite state")
            }
            Backend::Postgres(url) => Some(Box::new(
                sheetsync::state::postgres::PgState::open_read_only(url, state_dir, scope)
                    .expect("open the shared state"),
            )),
        }
    }

    /// How the journal settled request `id`: (outcome, response), read straight from the
    /// database, since the port only lists what is still open.
    pub async fn request_outcome(
        &self,
        state_dir: &Path,
        id: i64,
    ) -> (Option<String>, Option<String>) {
        match self {
            Backend::Sqlite => {
                let db = rusqlite::Connection::open_with_flags(
                    state_dir.join("state.sqlite3"),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .expect("open the SQLite state");
                db.query_row(
                    "SELECT outcome, response_json FROM requests WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("the request")
            }
            Backend::Postgres(url) => {
                let outcome = crate::pg::query_strings(
                    url,
                    &format!("SELECT outcome FROM sheetsync.requests WHERE id = {id}"),
                )
                .await;
                let response = crate::pg::query_strings(
                    url,
                    &format!("SELECT response_json FROM sheetsync.requests WHERE id = {id}"),
                )
                .await;
                (
                    outcome.into_iter().next().flatten(),
                    response.into_iter().next().flatten(),
                )
            }
        }
    }
}

/// Runs each named `async fn NAME(backend: Backend)` twice, as `NAME::sqlite` and
/// `NAME::postgres` (a fresh migrated database each time).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$name(crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$name(crate::common::Backend::postgres().await).await
            }
        }
    )* };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

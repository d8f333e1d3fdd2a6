//! A real PostgreSQL server for the tests that need one: Debian's binaries (`initdb`,
//! `pg_ctl`, found on PATH or under `/usr/lib/postgresql/*/bin`), one server per test
//! binary, started on first use, and a fresh database per test. The server listens on a
//! unix socket in its own directory and on 127.0.0.1 (a free port, for TLS); fsync is off.
//!
//! `initdb` refuses to run as root, and CI runs as root: then every server command runs as
//! the `postgres` user through `setpriv` (FLEET.md §9). The server is stopped when the
//! test binary exits, however it exits: a watchdog `sh` reads a pipe whose only writer is
//! this process, and stops the server when that pipe closes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The running server of this test binary.
pub struct PgServer {
    /// Holds the socket dir and the data dir.
    dir: PathBuf,
    port: u16,
    /// Kept open for the watchdog: its closing (this process exiting) stops the server.
    _watchdog: std::sync::Mutex<std::process::ChildStdin>,
}

static SERVER: OnceLock<PgServer> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The server, started on first call; a failure to start fails the test with the reason.
pub fn server() -> &'static PgServer {
    SERVER.get_or_init(|| PgServer::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}")))
}

/// A fresh, empty database on the server; returns its URL (unix socket host,
/// percent-encoded, as libpq writes it).
pub async fn fresh_database() -> String {
    let server = server();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let (client, conn) = tokio_postgres::connect(&server.url("postgres"), tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = task.await;
    server.url(&name)
}

impl PgServer {
    /// The URL of database `db` over the unix socket.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@{}:{}/{db}",
            percent_encode(&self.socket_dir().to_string_lossy()),
            self.port
        )
    }

    /// The URL of database `db` over TCP (`host`: 127.0.0.1 or localhost).
    #[allow(dead_code)]
    pub fn tcp_url(&self, host: &str, db: &str) -> String {
        format!("postgres://postgres@{host}:{}/{db}", self.port)
    }

    /// The directory of the server's unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// The server's data directory (its config files and certificates).
    #[allow(dead_code)]
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn start() -> Result<PgServer, String> {
        let bin = find_bin_dir()?;
        let as_root = is_root();
        let dir = tempfile::Builder::new()
            .prefix("sheetsync-pg-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?
            // The server outlives the handle; the watchdog removes the dir.
            .keep();
        std::fs::create_dir(dir.join("sock")).map_err(|e| format!("socket dir: {e}"))?;
        make_certificates(&dir.join("tls"))?;
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir))?;
        }
        let data = dir.join("data");
        let mut initdb = as_postgres(&bin.join("initdb"), as_root);
        initdb
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions", "-D"])
            .arg(&data);
        run(&mut initdb)?;
        let port = free_port()?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -k {} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
             -c ssl=on -c ssl_cert_file={tls}/server.crt -c ssl_key_file={tls}/server.key",
            dir.join("sock").display(),
            tls = dir.join("tls").display()
        );
        let mut start = as_postgres(&bin.join("pg_ctl"), as_root);
        start
            .args(["-w", "-t", "60", "-l"])
            .arg(dir.join("server.log"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "start"]);
        run(&mut start)?;
        let watchdog = spawn_watchdog(&bin, &dir, as_root)?;
        Ok(PgServer {
            dir,
            port,
            _watchdog: std::sync::Mutex::new(watchdog),
        })
    }
}

/// A CA and a server certificate it signed (for `localhost` and 127.0.0.1), so the tests
/// can check `sslmode=verify-full` against a root they name. EC keys: quick to make.
fn make_certificates(tls: &Path) -> Result<(), String> {
    std::fs::create_dir(tls).map_err(|e| format!("tls dir: {e}"))?;
    let openssl = |args: &[&str]| {
        run(Command::new("openssl").current_dir(tls).args(args))
            .map_err(|e| format!("{e} (the TLS tests need the openssl command)"))
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=sheetsync test CA",
            ],
        ]
        .concat(),
    )?;
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    )?;
    std::fs::write(
        tls.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .map_err(|e| format!("tls: {e}"))?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ])?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tls.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .map_err(|e| format!("tls: {e}"))
}

/// The CA certificate the server's certificate is signed by.
#[allow(dead_code)]
pub fn ca_cert() -> PathBuf {
    server().dir.join("tls").join("ca.crt")
}

/// Stops the server (immediate mode: nothing here needs a clean shutdown) and removes its
/// directory once this process's end of the pipe closes.
fn spawn_watchdog(
    bin: &Path,
    dir: &Path,
    as_root: bool,
) -> Result<std::process::ChildStdin, String> {
    let pg_ctl = bin.join("pg_ctl");
    let stop = format!(
        "{}'{}' -D '{}' -m immediate -w stop >/dev/null 2>&1",
        if as_root {
            "setpriv --reuid=postgres --regid=postgres --init-groups "
        } else {
            ""
        },
        pg_ctl.display(),
        dir.join("data").display()
    );
    let script = format!("cat >/dev/null; {stop}; rm -rf '{}'", dir.display());
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("watchdog: no stdin")?;
    // Nothing to say; the pipe is only ever closed. A write checks it is open.
    stdin.write_all(b"").map_err(|e| format!("watchdog: {e}"))?;
    Ok(stdin)
}

/// The directory of `initdb` and `pg_ctl`: PATH first (Debian links them into
/// /usr/local/bin on the rust image), then the newest /usr/lib/postgresql/N/bin.
fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() && dir.join("pg_ctl").is_file() {
                // Follow the link so `postgres` is found beside them.
                let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                if let Some(parent) = real.parent() {
                    return Ok(parent.to_path_buf());
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| NOT_FOUND.to_owned())?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| NOT_FOUND.to_owned())
}

const NOT_FOUND: &str = "no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin; \
                         install Debian's `postgresql` package (`.ci/run` does)";

fn is_root() -> bool {
    // `id -u` rather than a libc call: the tests have no libc dependency.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn as_postgres(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A port nobody listens on now. Another process could take it before the server binds;
/// `pg_ctl -w` then fails loudly rather than connecting to a stranger.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("port: {e}"))
}

/// libpq's form of a unix-socket directory as a URL host.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A new login role that may use the shared schema of the database at `url` (a
/// migrated test database), at most `connection_limit` sessions at once; returns `url`
/// with that role as its user. Roles are the server's, so the name is the database's
/// plus `suffix`.
#[allow(dead_code)]
pub async fn role_url(url: &str, suffix: &str, connection_limit: i32) -> (String, String) {
    let db = query_strings(url, "SELECT current_database()").await[0]
        .clone()
        .expect("database name");
    let role = format!("{db}_{suffix}");
    query_strings(
        url,
        &format!(
            "CREATE ROLE {role} LOGIN CONNECTION LIMIT {connection_limit};
             GRANT USAGE ON SCHEMA sheetsync TO {role};
             GRANT ALL ON ALL TABLES IN SCHEMA sheetsync TO {role};
             GRANT ALL ON ALL SEQUENCES IN SCHEMA sheetsync TO {role}"
        ),
    )
    .await;
    let with_role = url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    assert_ne!(with_role, url, "the test URLs name the postgres user");
    (with_role, role)
}

/// Runs one query on `url` and returns the first column of each row as text.
#[allow(dead_code)]
pub async fn query_strings(url: &str, sql: &str) -> Vec<Option<String>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(conn);
    let rows = client.simple_query(sql).await.expect("query");
    drop(client);
    let _ = task.await;
    rows.into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn each_test_gets_its_own_empty_database_on_one_server() {
    let a = fresh_database().await;
    let b = fresh_database().await;
    assert_ne!(a, b);
    query_strings(&a, "CREATE TABLE only_in_a (x int)").await;
    let tables = |url: String| async move {
        query_strings(
            &url,
            "SELECT count(*)::text FROM pg_tables WHERE tablename = 'only_in_a'",
        )
        .await
    };
    assert_eq!(tables(a).await, vec![Some("1".to_owned())]);
    assert_eq!(tables(b).await, vec![Some("0".to_owned())]);
    // One server: both URLs name the same socket directory.
    assert!(
        server()
            .socket_dir()
            .join(format!(".s.PGSQL.{}", server().port))
            .exists()
    );
}

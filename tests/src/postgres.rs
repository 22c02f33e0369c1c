//! A real PostgreSQL server for the tests: `DCSYNC_TEST_DATABASE_URL` when it is set (its
//! user needs CREATEDB), else a throwaway cluster this test binary starts once: `initdb` in
//! a temporary directory, the server on a free loopback port with its socket in that
//! directory, run as the `postgres` user (through `runuser`) when the tests run as root,
//! since PostgreSQL refuses to run as root. The server stops and its directory goes when
//! the test binary exits, however it exits: it waits on a pipe that only this process
//! holds open.
//!
//! There is no skipping: when no server can be had, [`cluster`] panics with the reason
//! (and what to install), so every PostgreSQL test fails and says why.

use datacollect_sync::store::{PgLocation, PostgresStore};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A server the tests may create databases in.
pub struct Cluster {
    /// `postgres://user@host:port` (no database, no password).
    base: String,
    /// Keeps the throwaway server alive: closing it stops the server.
    _keepalive: Option<Mutex<(Child, ChildStdin)>>,
}

/// The server of this test binary (started at the first call); panics with the reason if
/// there is none. A throwaway cluster runs without fsync: tests need no durability.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| start(false)) {
        Ok(c) => c,
        Err(why) => panic!("PostgreSQL tests cannot run: {why}"),
    }
}

/// A server for the benchmark: a throwaway cluster writes its WAL with fsync, as a
/// deployment would (commits acknowledged before the flush, `synchronous_commit=off`, the
/// counterpart of SQLite's WAL with `synchronous=NORMAL`).
pub fn bench_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| start(true)) {
        Ok(c) => c,
        Err(why) => panic!("PostgreSQL benchmark cannot run: {why}"),
    }
}

fn start(durable: bool) -> Result<Cluster, String> {
    if let Ok(url) = std::env::var("DCSYNC_TEST_DATABASE_URL") {
        if !url.is_empty() {
            let mut u = url::Url::parse(&url)
                .map_err(|e| format!("DCSYNC_TEST_DATABASE_URL is not a URL: {e}"))?;
            u.set_path("");
            u.set_query(None);
            return Ok(Cluster {
                base: u.to_string().trim_end_matches('/').to_string(),
                _keepalive: None,
            });
        }
    }
    throwaway(durable)
}

/// Where the server binaries are: on PATH, else the newest under /usr/lib/postgresql.
fn bin_dir() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in on_path {
        if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|d| d.join("initdb").is_file() && d.join("postgres").is_file());
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().ok_or_else(|| {
        "no PostgreSQL server binaries (initdb, postgres) on PATH or under /usr/lib/postgresql: run `make setup` (installs Debian's postgresql), or set DCSYNC_TEST_DATABASE_URL".into()
    })
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn throwaway(durable: bool) -> Result<Cluster, String> {
    let bin = bin_dir()?;
    let root = unsafe { libc::geteuid() } == 0;
    let dir = tempfile::Builder::new()
        .prefix("dcsync-pg-")
        .tempdir()
        .map_err(|e| format!("no temporary directory: {e}"))?
        .keep();
    let (data, sock, log) = (dir.join("data"), dir.join("sock"), dir.join("server.log"));
    std::fs::create_dir(&sock).map_err(|e| e.to_string())?;
    // As root, everything runs as `postgres`, which must own the directory.
    let as_user = |program: &Path| -> Command {
        if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    if root {
        let uid = user_ids("postgres").ok_or(
            "the tests run as root and there is no `postgres` user to run the server as: run `make setup` (Debian's postgresql package creates it), or set DCSYNC_TEST_DATABASE_URL",
        )?;
        for p in [&dir, &sock] {
            std::os::unix::fs::chown(p, Some(uid.0), Some(uid.1))
                .map_err(|e| format!("cannot give {} to postgres: {e}", p.display()))?;
        }
    }
    let out = as_user(&bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .map_err(|e| format!("cannot run initdb (runuser missing?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port()?;
    // The server lives while our end of the pipe is open; then it stops and its files go.
    let fsync = if durable {
        "-c fsync=on -c full_page_writes=on"
    } else {
        "-c fsync=off -c full_page_writes=off"
    };
    let script = r#"
        "$1" -D "$2" -k "$3" -p "$4" -c listen_addresses=127.0.0.1 $7 \
             -c synchronous_commit=off -c max_connections=300 \
             -c shared_buffers=128MB >"$5" 2>&1 &
        pid=$!
        read _ignored
        kill -QUIT $pid 2>/dev/null
        wait $pid
        rm -rf "$6"
    "#;
    let mut child = as_user(Path::new("sh"))
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(bin.join("postgres"))
        .arg(&data)
        .arg(&sock)
        .arg(port.to_string())
        .arg(&log)
        .arg(&dir)
        .arg(fsync)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    let stdin = child.stdin.take().ok_or("no pipe to the server")?;
    let base = format!("postgres://postgres@127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                let mut text = String::new();
                let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
                return Err(format!(
                    "the server did not accept connections in 60 s ({e}); its log:\n{text}"
                ));
            }
            Err(_) => {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut text = String::new();
                    let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
                    return Err(format!("the server exited ({status}); its log:\n{text}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(Cluster {
        base,
        _keepalive: Some(Mutex::new((child, stdin))),
    })
}

/// (uid, gid) of a user, from /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// A database of its own for one test, dropped with it.
pub struct TestDb {
    /// `postgres://user@host:port/db`.
    pub url: String,
    admin: String,
    name: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        off_runtime(|| {
            if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        })
    }
}

/// Run `f` off any Tokio runtime: the synchronous client blocks on a runtime of its own.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| s.spawn(f).join().expect("no panic"))
}

impl Cluster {
    /// A new, empty database.
    pub fn database(&self) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand_suffix()
        );
        let admin_url = format!("{}/postgres", self.base);
        let mut admin =
            postgres::Client::connect(&admin_url, postgres::NoTls).unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL tests cannot run: cannot connect to {}: {e}",
                    self.base
                )
            });
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("PostgreSQL tests cannot run: CREATE DATABASE failed (the user needs CREATEDB): {e}"));
        TestDb {
            url: format!("{}/{name}", self.base),
            admin: admin_url,
            name,
        }
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 100_000)
        .unwrap_or(0)
}

impl TestDb {
    /// The store URL of `tenant` (`extra`: more parameters, e.g. `lease_ttl=2`).
    pub fn store_url(&self, tenant: &str, extra: &str) -> String {
        let sep = if extra.is_empty() { "" } else { "&" };
        format!("{}?tenant={tenant}{sep}{extra}", self.url)
    }

    /// The location of `tenant`'s store.
    pub fn location(&self, tenant: &str, extra: &str) -> PgLocation {
        PgLocation::parse_with_password(&self.store_url(tenant, extra), None).unwrap()
    }

    /// The store of `tenant`, creating the tables.
    pub fn store(&self, tenant: &str) -> PostgresStore {
        PostgresStore::open(&self.location(tenant, "")).unwrap()
    }

    /// A plain client on the database, for reading and writing rows as another program.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

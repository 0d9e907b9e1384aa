//! A throwaway PostgreSQL server for the tests, started once per test binary
//! from the machine's own binaries (`initdb`, `pg_ctl`) in a temp dir, and
//! stopped when the binary exits. Each test gets a fresh database, copied
//! from a migrated template.
//!
//! Without PostgreSQL's binaries the tests that need it are skipped, loudly;
//! under CI (`CI=true`) a skip is a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway server. It speaks TLS too, with a certificate of
/// its own authority, when `openssl` is on the machine.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// The authority that signed the server's certificate, when it has one.
    ca_file: Option<PathBuf>,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);
/// `CREATE DATABASE … TEMPLATE` wants no one else copying the template.
static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TEMPLATE: &str = "sms_router_template";

impl Cluster {
    /// The URL of database `name` on this server, without TLS.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable", self.port)
    }

    /// The URL of database `name` over TLS, and the authority to trust for
    /// it; `None` when the server has no certificate.
    pub fn tls_url(&self, name: &str) -> Option<(String, PathBuf)> {
        let ca = self.ca_file.clone()?;
        Some((
            format!("postgres://postgres@127.0.0.1:{}/{name}?sslmode=require", self.port),
            ca,
        ))
    }
}

/// The directory of PostgreSQL's server binaries, newest version first.
fn binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SMS_ROUTER_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs one of the server's binaries, as `postgres` when we are root
/// (initdb refuses root).
fn run(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let program = bin.join(program);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", program.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

extern "C" fn stop_cluster() {
    if let Some(Some(cluster)) = CLUSTER.get() {
        let data = cluster.dir.join("data");
        let _ = run(
            &cluster.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&cluster.dir);
    }
}

fn start() -> Option<Cluster> {
    let Some(bin) = binaries() else {
        let message = "PostgreSQL's server binaries (initdb, pg_ctl) are not on this machine: the PostgreSQL \
                       tests are SKIPPED. Install the `postgresql` package to run them.";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message} Under CI a skip is a failure."
        );
        eprintln!("\n!!!!!!!! {message}\n");
        return None;
    };
    let dir = tempfile::Builder::new()
        .prefix("sms-router-pg-")
        .tempdir()
        .unwrap()
        .keep();
    if is_root() {
        let chown = Command::new("chown")
            .arg("-R")
            .arg("postgres:")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(chown.success(), "failed to give {} to postgres", dir.display());
    }
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let init = run(
        &bin,
        "initdb",
        &["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
    );
    assert!(
        init.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = free_port();
    let mut options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    let ca_file = certificates(&dir);
    if ca_file.is_some() {
        options.push_str(&format!(
            " -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
            dir.display()
        ));
    }
    let log = dir.join("server.log");
    let started = run(
        &bin,
        "pg_ctl",
        &[
            "-D",
            data,
            "-o",
            &options,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-t",
            "60",
            "start",
        ],
    );
    assert!(
        started.status.success(),
        "pg_ctl start failed: {}\n{}",
        String::from_utf8_lossy(&started.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // SAFETY: registering a plain function to run at exit.
    unsafe { libc::atexit(stop_cluster) };
    Some(Cluster {
        dir,
        bin,
        port,
        ca_file,
    })
}

/// An authority and a server certificate for 127.0.0.1 signed by it, made
/// with `openssl` in `dir`; answers the authority's file. `None` (and the
/// server without TLS) when `openssl` is missing.
fn certificates(dir: &Path) -> Option<PathBuf> {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .ok()?;
    let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let made = openssl(
        &[
            &["req", "-x509"][..],
            &curve,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=sms-router test authority",
            ],
        ]
        .concat(),
    ) && openssl(
        &[
            &["req"][..],
            &curve,
            &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
    ) && openssl(&[
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
        "server.ext",
    ]);
    if !made {
        eprintln!("\n!!!!!!!! openssl is missing or failed: the test PostgreSQL server speaks no TLS\n");
        return None;
    }
    if is_root() {
        let owned = Command::new("chown")
            .args(["postgres:", "server.key", "server.crt"])
            .current_dir(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(owned, "failed to give the server's key to postgres");
    }
    let private = Command::new("chmod")
        .args(["600", "server.key"])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(private, "failed to make the server's key private");
    Some(dir.join("ca.crt"))
}

/// The server, started on first use; `None` where PostgreSQL is missing.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

async fn admin_client(cluster: &Cluster) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
        .await
        .expect("failed to connect to the test server");
    tokio::spawn(connection);
    client
}

/// The URL of a new, empty database; `None` where PostgreSQL is missing.
pub async fn empty_database() -> Option<String> {
    let cluster = cluster()?;
    let admin = admin_client(cluster).await;
    let name = format!(
        "sms_router_empty_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    Some(cluster.url(&name))
}

/// The URL of a fresh, migrated database of its own; `None` where
/// PostgreSQL is missing.
pub async fn fresh_database() -> Option<String> {
    let cluster = cluster()?;
    let _one_at_a_time = CREATING.lock().await;
    let admin = admin_client(cluster).await;
    let has_template = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&TEMPLATE])
        .await
        .unwrap()
        .is_some();
    if !has_template {
        admin
            .batch_execute(&format!("CREATE DATABASE {TEMPLATE}"))
            .await
            .unwrap();
        // Migrated once; every test database is a copy.
        let store = sms_router::adapters::postgres::PgStore::connect(&cluster.url(TEMPLATE))
            .await
            .expect("failed to migrate the template database");
        store.close();
    }
    let name = format!(
        "sms_router_test_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
        .await
        .unwrap();
    Some(cluster.url(&name))
}

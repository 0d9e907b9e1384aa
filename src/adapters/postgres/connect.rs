//! Reaching PostgreSQL: the URL read, TLS set up, and a connection that
//! fails told in plain words (which host and port, and what they said).

use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::ConfigError;

/// The connection settings of `url`. `sslmode=verify-ca` and `verify-full`
/// (what cloud providers hand out) are read as `require`: a server's
/// certificate is always verified, and its name always checked.
pub(super) fn parse_url(url: &str) -> anyhow::Result<tokio_postgres::Config> {
    let url = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    tokio_postgres::Config::from_str(&url).map_err(|_| {
        ConfigError {
            variable: "SMS_ROUTER_DATABASE_URL".into(),
            why: "is not a PostgreSQL connection URL (postgres://user:password@host:port/database?sslmode=…)".into(),
        }
        .into()
    })
}

/// Why the database of `config` could not be reached, in plain words, as a
/// fault of the configuration (exit 2): which host and port, and what they
/// said.
pub(super) fn unreachable_database(
    config: &tokio_postgres::Config,
    err: &deadpool_postgres::PoolError,
) -> anyhow::Error {
    use deadpool_postgres::PoolError;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let why = match err {
        PoolError::Timeout(_) => "did not answer in time".to_owned(),
        PoolError::Backend(e) => match (e.as_db_error(), io_kind(e)) {
            (Some(db), _) if db.code() == &SqlState::INVALID_PASSWORD => "refused the user name or password".to_owned(),
            (Some(db), _) if db.code() == &SqlState::INVALID_CATALOG_NAME => "has no such database".to_owned(),
            (Some(db), _) => format!("refused the connection (SQLSTATE {})", db.code().code()),
            (None, Some(std::io::ErrorKind::ConnectionRefused)) => {
                "refused the connection: is PostgreSQL running there, and is the port right?".to_owned()
            }
            (None, Some(std::io::ErrorKind::TimedOut)) => "did not answer in time".to_owned(),
            (None, _) if format!("{e}").contains("lookup") => format!(
                "is a host name that does not resolve{}",
                if host.contains('@') {
                    " (an `@` in the password must be written %40)"
                } else {
                    ""
                }
            ),
            (None, _) if format!("{e:?}").to_lowercase().contains("tls") => {
                "refused TLS or its certificate (see sslmode and SMS_ROUTER_DATABASE_CA_FILE)".to_owned()
            }
            (None, _) => "could not be reached".to_owned(),
        },
        _ => "could not be reached".to_owned(),
    };
    ConfigError {
        variable: "SMS_ROUTER_DATABASE_URL".into(),
        why: format!("PostgreSQL at {host}:{port} {why}"),
    }
    .into()
}

/// The kind of the I/O failure behind a connection error, if one is.
fn io_kind(err: &tokio_postgres::Error) -> Option<std::io::ErrorKind> {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

/// TLS with rustls, trusting the public authorities and those in `ca_file`.
pub(super) fn tls(ca_file: Option<&Path>) -> anyhow::Result<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certificates = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("failed to read the certificate authorities in {}", path.display()))?;
        for certificate in certificates {
            let certificate =
                certificate.with_context(|| format!("{} holds a certificate that cannot be read", path.display()))?;
            roots
                .add(certificate)
                .with_context(|| format!("{} holds a certificate that cannot be trusted", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

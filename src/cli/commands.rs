//! Each command's work, once `run` has parsed it and loaded the
//! configuration.

use anyhow::Context;

use crate::adapters::sqlite::backup::Sole;
use crate::config::Config;
use crate::database::{self, Access, Database, with_store};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{AgentEndpoint, EmailAddress, FullName, NewUser};
use crate::ports::{CreateError, PageRequest, UserRegistry};
use crate::startup::Application;

use super::Failure;

pub(super) async fn serve(config: &Config, dev: bool) -> Result<(), Failure> {
    // Handled before the port opens: a stop sent as soon as it accepts is a
    // stop, not the signal's default (the process killed).
    let stop = stop_signal()?;
    let app = Application::build(config, dev).await?;
    app.run_until_stopped(stop).await?;
    tracing::info!("stopped");
    Ok(())
}

/// A write past the process's file-size limit raises SIGXFSZ, which would
/// kill the process; handled, the write fails instead: the server's store
/// answers 503 until there is room again, as on a full disk, and a backup
/// removes what it began.
pub(super) fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        // The handler stays installed after the stream is dropped.
        let kind = tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ);
        if let Err(e) = tokio::signal::unix::signal(kind) {
            tracing::warn!(error = %e, "cannot handle SIGXFSZ: a file-size limit would stop the server");
        }
    }
}

/// Handles SIGINT and SIGTERM from now on; the future completes on either.
pub(super) fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("failed to handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("failed to handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("stop signal received: finishing in-flight requests");
    })
}

pub(super) async fn add_user(
    config: &Config,
    phone: &str,
    name: &str,
    email: Option<&str>,
    agent: Option<AgentEndpoint>,
) -> Result<(), Failure> {
    let user = NewUser {
        full_name: FullName::parse(name).map_err(|e| Failure::Usage(format!("--name {e}")))?,
        email: email
            .map(EmailAddress::parse)
            .transpose()
            .map_err(|e| Failure::Usage(format!("--email {e}")))?,
        phone_number: Some(
            PhoneNumber::parse(phone, config.default_region)
                .map_err(|e| Failure::Usage(format!("--phone `{phone}` {e}")))?,
        ),
        is_active: true,
        agent,
    };
    let opened = database::open(config, Access::Beside, None).await?;
    let user = with_store!(&opened.database, store => store.create_user(user).await);
    let user = user.map_err(|e| match e {
        CreateError::Store(e) => Failure::Runtime(e.into()),
        CreateError::Taken(taken) => Failure::Runtime(taken.into()),
    })?;
    let number = user.phone_number.map(|n| n.to_string()).unwrap_or_default();
    println!("added user {}: {} {number}", user.id, user.full_name);
    Ok(())
}

pub(super) async fn doctor(config: &Config, dev: bool) -> Result<(), Failure> {
    let findings = crate::doctor::examine(config, dev).await;
    for finding in &findings {
        let mark = if finding.ok { "ok  " } else { "FAIL" };
        println!("{mark} {:11} {}", finding.what, finding.says);
    }
    let problems = findings.iter().filter(|f| !f.ok).count();
    if problems == 0 {
        println!("all is well");
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!(
            "{problems} problem{} found",
            if problems == 1 { "" } else { "s" }
        )))
    }
}

/// Backups and restores are SQLite's: PostgreSQL has its own tools.
pub(super) fn sqlite_only(config: &Config, what: &str) -> Result<(), Failure> {
    if config.database_url.is_some() {
        return Err(Failure::Usage(format!(
            "{what} is for the SQLite database; with SMS_ROUTER_DATABASE_URL set, use PostgreSQL's pg_dump and pg_restore"
        )));
    }
    Ok(())
}

pub(super) fn backup(config: &Config, file: &std::path::Path) -> Result<(), Failure> {
    sqlite_only(config, "backup")?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("backing up [{bar:40}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    crate::adapters::sqlite::backup::backup(&config.database_path, file, |written, size| {
        bar.set_length(size);
        bar.set_position(written);
    })?;
    bar.finish_and_clear();
    println!("backed up {} into {}", config.database_path.display(), file.display());
    Ok(())
}

pub(super) fn restore(config: &Config, file: &std::path::Path) -> Result<(), Failure> {
    sqlite_only(config, "restore")?;
    let _sole = Sole::take(&config.database_path)?;
    let kept = crate::adapters::sqlite::backup::restore(file, &config.database_path)?;
    println!("restored {} from {}", config.database_path.display(), file.display());
    if let Some(kept) = kept {
        println!("the database it replaced is kept as {}", kept.display());
    }
    Ok(())
}

pub(super) async fn purge(config: &Config, older_than: u32) -> Result<(), Failure> {
    let days = std::num::NonZeroU32::new(older_than)
        .ok_or_else(|| Failure::Usage("--older-than must be at least 1".into()))?;
    let cutoff = crate::domain::retention::cutoff(chrono::Utc::now(), days);
    let opened = database::open(config, Access::Beside, None).await?;
    let purged = with_store!(&opened.database, store => purge_with_progress(store, cutoff).await?);
    println!("purged {purged} usage-log rows older than {older_than} days");
    Ok(())
}

/// `retention::purge`, with a progress bar on a terminal.
pub(super) async fn purge_with_progress(
    store: &impl crate::ports::Retention,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<u64, Failure> {
    let total = store
        .count_before(cutoff)
        .await
        .map_err(|e| Failure::Runtime(e.into()))?;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("purging [{bar:40}] {pos}/{len} rows, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let purged = crate::adapters::retention::purge(store, cutoff, |rows| bar.inc(rows))
        .await
        .map_err(|e| Failure::Runtime(e.into()))?;
    bar.finish_and_clear();
    Ok(purged)
}

pub(super) async fn import(config: &Config, from: &std::path::Path) -> Result<(), Failure> {
    let into_postgres =
        || Failure::Usage("import copies into PostgreSQL: set SMS_ROUTER_DATABASE_URL to the (empty) database".into());
    if config.database_url.is_none() {
        return Err(into_postgres());
    }
    let _sole = Sole::take(from)?;
    let Database::Postgres(store) = database::open(config, Access::Beside, None).await?.database else {
        return Err(into_postgres());
    };
    let imported = crate::adapters::import::import(from, &store).await?;
    for (table, rows) in imported.tables {
        println!("{table:24} {rows} rows");
    }
    println!("imported {}", from.display());
    Ok(())
}

pub(super) async fn list_users(config: &Config) -> Result<(), Failure> {
    let opened = database::open(config, Access::Beside, None).await?;
    with_store!(&opened.database, store => print_users(store).await)
}

/// Every user of `store`, as a table.
pub(super) async fn print_users(store: &impl UserRegistry) -> Result<(), Failure> {
    let mut users = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 500,
    };
    loop {
        let found = store
            .list_users(Default::default(), page)
            .await
            .map_err(|e| Failure::Runtime(e.into()))?;
        users.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let rows: Vec<[String; 5]> = users
        .into_iter()
        .map(|u| {
            [
                u.id.to_string(),
                u.full_name,
                u.phone_number.map(|n| n.to_string()).unwrap_or_default(),
                u.email.unwrap_or_default(),
                if u.is_active { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "PHONE", "EMAIL", "ACTIVE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

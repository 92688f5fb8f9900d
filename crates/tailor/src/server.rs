//! `tailor serve`: open the store, start the engine, serve HTTP until Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use tailor_core::{Clock, OffsetClock, SystemClock};
use tailor_engine::{ConfiguredKeys, Engine, GeneratedKeys, Options};
use tailor_server::AppState;
use tailor_store::{PgStore, SqliteStore, Store};

use crate::config::{DEFAULT_DATA, ServeArgs, Settings};

/// Logs to stderr; `TAILOR_LOG` (a tracing filter) overrides `default_level`. Colours only
/// on a terminal, and never with `NO_COLOR` set (no-color.org): a log written to a file or
/// a pipe holds plain text.
pub fn init_logging(json: bool, default_level: &str) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TAILOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the store: PostgreSQL when a database URL is set, else the data directory.
pub fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &settings.database_url {
        Some(url) => {
            // Generated keys are still written to the data directory.
            tailor_store::secure_directory(&settings.data).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    settings.data.display()
                )
            })?;
            Arc::new(
                PgStore::open(url)
                    .with_context(|| format!("cannot open PostgreSQL at {}", redact_url(url)))?,
            )
        }
        None => {
            let store = SqliteStore::open(&settings.data).with_context(|| {
                format!("cannot open the data directory {}", settings.data.display())
            })?;
            store.set_min_free_disk(settings.min_free_disk);
            Arc::new(store)
        }
    })
}

/// Where the store is, for logs: a database URL without its password.
pub fn store_location(settings: &Settings) -> String {
    match &settings.database_url {
        Some(url) => redact_url(url),
        None => settings.data.display().to_string(),
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Opens the store and starts the engine on `clock`.
pub fn open_engine(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Engine, GeneratedKeys)> {
    let store = open_store(settings)?;
    let options = Options {
        keys: ConfiguredKeys {
            write: settings.write_key.clone(),
            server: settings.server_key.clone(),
            admin: settings.admin_key.clone(),
            analyst: settings.analyst_key.clone(),
        },
        identity_secret: settings.identity_secret.clone(),
        channels: settings.channels.clone(),
        models: settings.models,
        retention: settings.retention,
    };
    Engine::open(store, clock, options).context("cannot start the engine")
}

/// The file in the data directory that keys generated on a start are written to, readable
/// by the owner only.
pub const KEYS_FILE: &str = "generated-keys.env";

/// Writes keys generated on this start to [`KEYS_FILE`] (mode 0600, appended, so a later
/// start's keys do not overwrite earlier ones) and says where; never prints a secret.
pub fn save_generated(data: &std::path::Path, keys: &GeneratedKeys) -> anyhow::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut text = String::from(
        "# Keys generated for this data directory (only their hashes are stored in it).\n",
    );
    for (name, value) in [
        ("TAILOR_WRITE_KEY", &keys.write),
        ("TAILOR_SERVER_KEY", &keys.server),
        ("TAILOR_ADMIN_KEY", &keys.admin),
        ("TAILOR_IDENTITY_SECRET", &keys.identity_secret),
    ] {
        if let Some(v) = value {
            text.push_str(&format!("{name}={v}\n"));
        }
    }
    let path = data.join(KEYS_FILE);
    write_private(&path, text.as_bytes(), true)?;
    eprintln!(
        "New keys were generated for this data directory and written to {} (readable by you only).",
        path.display()
    );
    Ok(())
}

/// Writes (or appends to) a file only its owner can read.
pub fn write_private(path: &std::path::Path, bytes: &[u8], append: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    Ok(())
}

/// Resolves when the process is asked to stop.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests and flushing");
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings(DEFAULT_DATA)?;
    init_logging(settings.json_logs, "info");
    let rt = runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        // The test clock only exists when asked for; production time is the system's.
        let test_clock = settings.test_clock.then(|| Arc::new(OffsetClock::new()));
        let clock: Arc<dyn Clock> = match &test_clock {
            Some(c) => {
                tracing::warn!("--test-clock: the admin key can move this server's clock ahead");
                c.clone()
            }
            None => Arc::new(SystemClock),
        };
        let (engine, generated) = tokio::task::block_in_place(|| open_engine(&settings, clock))?;
        save_generated(&settings.data, &generated)?;
        let addr = listener.local_addr()?;
        let location = store_location(&settings);
        tracing::info!(%addr, store = %location, "serving");
        eprintln!("Tailor is serving on http://{addr} (data: {location})");
        let state = AppState::new(engine)
            .with_test_clock(test_clock)
            .with_rate_limits(settings.rate_limits.clone())
            .with_cors_origins(settings.cors_origins.clone())
            .with_connection_limits(settings.connections);
        tailor_server::serve(listener, state, shutdown_signal()).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_urls_are_logged_without_their_password() {
        assert_eq!(
            redact_url("postgres://tailor:s3cret@db.example:5432/shop?sslmode=disable"),
            "postgres://tailor:***@db.example:5432/shop?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://tailor@db/shop"),
            "postgres://tailor@db/shop"
        );
        assert_eq!(redact_url("postgres://db/shop"), "postgres://db/shop");
    }
}

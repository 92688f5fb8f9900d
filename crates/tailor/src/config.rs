//! Configuration: command-line flags, `TAILOR_*` environment variables and an optional
//! TOML file, in that order of precedence, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

pub const DEFAULT_DATA: &str = "./tailor-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML file with any of: data, listen, write_key, server_key, identity_secret, admin_key, analyst_key, log_format, …,
    /// and the tables `[rate_limit]` and `[retention]` (README, "Configuration").
    #[arg(long, env = "TAILOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./tailor-data]
    #[arg(long, env = "TAILOR_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "TAILOR_LISTEN")]
    pub listen: Option<String>,
    /// Write key of the public `web` source (browsers send events with it: anyone can read
    /// it). Generated on first start if unset.
    #[arg(long, env = "TAILOR_WRITE_KEY", hide_env_values = true)]
    pub write_key: Option<String>,
    /// Write key of the secret `server` source (your backend, Segment's server libraries).
    /// Generated on first start if unset.
    #[arg(long, env = "TAILOR_SERVER_KEY", hide_env_values = true)]
    pub server_key: Option<String>,
    /// The secret your backend signs userIds with for browsers (`userHash`). Generated on
    /// first start if unset.
    #[arg(long, env = "TAILOR_IDENTITY_SECRET", hide_env_values = true)]
    pub identity_secret: Option<String>,
    /// Admin key (secret). Generated on first start if unset.
    #[arg(long, env = "TAILOR_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Analyst key: reads experiment results and other reports, never personal data. None
    /// unless set.
    #[arg(long, env = "TAILOR_ANALYST_KEY", hide_env_values = true)]
    pub analyst_key: Option<String>,
    /// PostgreSQL URL for several nodes (not available yet in this version).
    #[arg(long, env = "TAILOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "TAILOR_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Where journeys send email: `smtp://host:port`.
    #[arg(long, env = "TAILOR_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of journey emails, e.g. `Shop <shop@example.com>`.
    #[arg(long, env = "TAILOR_EMAIL_FROM")]
    pub email_from: Option<String>,
    /// Where journeys post push messages (a signed webhook to a push provider or relay).
    #[arg(long, env = "TAILOR_PUSH_URL")]
    pub push_url: Option<String>,
    /// The Standard Webhooks secret webhooks are signed with (`whsec_…`).
    #[arg(long, env = "TAILOR_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Requests per client address: `N/s`, `N/m`, `N/h`, `N/10s`, or `off` [default: 1000/s].
    /// Loopback clients are exempt unless --rate-limit-loopback.
    #[arg(long, env = "TAILOR_RATE_LIMIT_PER_ADDRESS")]
    pub rate_limit_per_address: Option<String>,
    /// Requests per key (each of the write, analyst and admin keys), same form [default: off].
    #[arg(long, env = "TAILOR_RATE_LIMIT_PER_KEY")]
    pub rate_limit_per_key: Option<String>,
    /// Apply the rate limits to loopback clients (127.0.0.0/8, ::1) too.
    #[arg(long, env = "TAILOR_RATE_LIMIT_LOOPBACK")]
    pub rate_limit_loopback: bool,
    /// The server is behind one reverse proxy: the client address is the last entry of
    /// `X-Forwarded-For`, not the TCP peer.
    #[arg(long, env = "TAILOR_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Delete raw events older than this many days (profiles keep what they learned)
    /// [default: keep forever].
    #[arg(long, env = "TAILOR_RETAIN_EVENTS_DAYS")]
    pub retain_events_days: Option<u32>,
    /// Delete logged decisions older than this many days, keeping daily rollups
    /// (`GET /v1/decisions/daily`) [default: keep forever].
    #[arg(long, env = "TAILOR_RETAIN_DECISIONS_DAYS")]
    pub retain_decisions_days: Option<u32>,
    /// Refuse new events and decision-log writes (507 `storage_full`) when the data
    /// directory's disk has less than this many MB free; 0: never refuse [default: 1024].
    #[arg(long, env = "TAILOR_MIN_FREE_DISK_MB")]
    pub min_free_disk_mb: Option<u64>,
    /// Erase (without suppression) people with no event for this many days [default: off].
    #[arg(long, env = "TAILOR_EXPIRE_INACTIVE_DAYS")]
    pub expire_inactive_days: Option<u32>,
    /// TESTING ONLY: lets the admin key move this server's clock ahead
    /// (`POST /v1/test/clock`), so tests run days of journeys in seconds. Never in production.
    #[arg(long, env = "TAILOR_TEST_CLOCK")]
    pub test_clock: bool,
    /// Prediction models retrain this often, in hours (they also train once after start);
    /// 0: only after start and when asked (`tailor train`, `POST /v1/models/train`).
    #[arg(long, env = "TAILOR_TRAIN_EVERY_HOURS")]
    pub train_every_hours: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    listen: Option<String>,
    write_key: Option<String>,
    server_key: Option<String>,
    identity_secret: Option<String>,
    admin_key: Option<String>,
    analyst_key: Option<String>,
    database_url: Option<String>,
    log_format: Option<String>,
    smtp_url: Option<String>,
    email_from: Option<String>,
    push_url: Option<String>,
    webhook_secret: Option<String>,
    train_every_hours: Option<f64>,
    min_free_disk_mb: Option<u64>,
    #[serde(default)]
    rate_limit: RateLimitFile,
    #[serde(default)]
    retention: RetentionFile,
}

/// `[rate_limit]` in the config file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RateLimitFile {
    per_address: Option<String>,
    per_key: Option<String>,
    loopback: Option<bool>,
    trust_forwarded_for: Option<bool>,
}

/// `[retention]` in the config file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    events_days: Option<u32>,
    expire_inactive_days: Option<u32>,
    decisions_days: Option<u32>,
}

/// The settings a server runs with, every value decided.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub write_key: Option<String>,
    pub server_key: Option<String>,
    pub identity_secret: Option<String>,
    pub admin_key: Option<String>,
    pub analyst_key: Option<String>,
    pub json_logs: bool,
    pub channels: tailor_engine::journeys::ChannelConfig,
    pub rate_limits: tailor_server::ratelimit::RateLimits,
    pub retention: tailor_engine::retention::RetentionSettings,
    /// Free disk space below which new work is refused (bytes; 0: never).
    pub min_free_disk: u64,
    pub test_clock: bool,
    pub models: tailor_engine::predictions::Schedule,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data: PathBuf::from(DEFAULT_DATA),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            write_key: None,
            server_key: None,
            identity_secret: None,
            admin_key: None,
            analyst_key: None,
            json_logs: false,
            channels: Default::default(),
            rate_limits: Default::default(),
            retention: Default::default(),
            min_free_disk: tailor_store::DEFAULT_MIN_FREE_DISK,
            test_clock: false,
            models: Default::default(),
        }
    }
}

impl ServeArgs {
    pub fn settings(&self, default_data: &str) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        if self.database_url.is_some() || file.database_url.is_some() {
            bail!(
                "TAILOR_DATABASE_URL is set, but PostgreSQL storage is not available in this version yet; \
                 unset it to use the embedded store in the data directory"
            );
        }
        let listen_text = self
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse::<SocketAddr>().with_context(|| {
            format!("listen address {listen_text:?} is not HOST:PORT, e.g. 127.0.0.1:8080")
        })?;
        let log_format = self
            .log_format
            .clone()
            .or(file.log_format)
            .unwrap_or_else(|| "text".into());
        let json_logs = match log_format.as_str() {
            "json" => true,
            "text" => false,
            other => bail!("log format {other:?} is not `text` or `json`"),
        };
        let rate = |flag: &Option<String>, file: Option<String>, default, what: &str| match flag
            .clone()
            .or(file)
        {
            None => Ok(default),
            Some(text) => tailor_server::ratelimit::parse_rate(&text)
                .map_err(|e| anyhow::anyhow!("{what}: {e}")),
        };
        let rate_limits = tailor_server::ratelimit::RateLimits {
            per_address: rate(
                &self.rate_limit_per_address,
                file.rate_limit.per_address,
                Some(tailor_server::ratelimit::DEFAULT_PER_ADDRESS),
                "rate limit per address",
            )?,
            per_key: rate(
                &self.rate_limit_per_key,
                file.rate_limit.per_key,
                None,
                "rate limit per key",
            )?,
            loopback: self.rate_limit_loopback || file.rate_limit.loopback.unwrap_or(false),
            trust_forwarded_for: self.trust_forwarded_for
                || file.rate_limit.trust_forwarded_for.unwrap_or(false),
        };
        let days = |flag: Option<u32>, file: Option<u32>, what: &str| match flag.or(file) {
            Some(0) => bail!("{what} must be at least 1 day; leave it unset to keep forever"),
            n => Ok(n),
        };
        let retention = tailor_engine::retention::RetentionSettings {
            events_days: days(
                self.retain_events_days,
                file.retention.events_days,
                "retention of events (TAILOR_RETAIN_EVENTS_DAYS)",
            )?,
            expire_inactive_days: days(
                self.expire_inactive_days,
                file.retention.expire_inactive_days,
                "expiry of inactive people (TAILOR_EXPIRE_INACTIVE_DAYS)",
            )?,
            decisions_days: days(
                self.retain_decisions_days,
                file.retention.decisions_days,
                "retention of decisions (TAILOR_RETAIN_DECISIONS_DAYS)",
            )?,
        };
        Ok(Settings {
            data: self
                .data
                .clone()
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from(default_data)),
            listen,
            write_key: self.write_key.clone().or(file.write_key),
            server_key: self.server_key.clone().or(file.server_key),
            identity_secret: self.identity_secret.clone().or(file.identity_secret),
            admin_key: self.admin_key.clone().or(file.admin_key),
            analyst_key: self.analyst_key.clone().or(file.analyst_key),
            json_logs,
            channels: tailor_engine::journeys::ChannelConfig {
                smtp_url: self.smtp_url.clone().or(file.smtp_url),
                email_from: self.email_from.clone().or(file.email_from),
                push_url: self.push_url.clone().or(file.push_url),
                webhook_secret: self.webhook_secret.clone().or(file.webhook_secret),
            },
            rate_limits,
            retention,
            min_free_disk: self
                .min_free_disk_mb
                .or(file.min_free_disk_mb)
                .map_or(tailor_store::DEFAULT_MIN_FREE_DISK, |mb| mb * 1_000_000),
            test_clock: self.test_clock,
            models: schedule(self.train_every_hours.or(file.train_every_hours))?,
        })
    }
}

/// The training schedule from `--train-every-hours` (default 6).
fn schedule(hours: Option<f64>) -> anyhow::Result<tailor_engine::predictions::Schedule> {
    let mut schedule = tailor_engine::predictions::Schedule::default();
    match hours {
        None => {}
        Some(0.0) => schedule.every = None,
        Some(h) if h.is_finite() && h > 0.0 => {
            schedule.every = Some(std::time::Duration::from_secs_f64(h * 3600.0));
        }
        Some(h) => anyhow::bail!(
            "--train-every-hours must be 0 (off) or a positive number of hours, not {h}"
        ),
    }
    Ok(schedule)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tailor.toml");
        std::fs::write(
            &path,
            "data = \"/from/file\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };
        let s = args.settings(DEFAULT_DATA).unwrap();
        assert_eq!(s.data, PathBuf::from("/from/file"));
        assert_eq!(s.listen.port(), 9100);
        let s = ServeArgs::default().settings(DEFAULT_DATA).unwrap();
        assert_eq!(s.data, PathBuf::from(DEFAULT_DATA));
        std::fs::write(&path, "colour = \"red\"\n").unwrap();
        let err = ServeArgs {
            config: Some(path),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap_err();
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
        let err = ServeArgs {
            listen: Some("nowhere".into()),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap_err();
        assert!(err.to_string().contains("HOST:PORT"));
    }

    #[test]
    fn rate_limits_and_retention_come_from_flags_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tailor.toml");
        std::fs::write(
            &path,
            "[rate_limit]\nper_address = \"50/m\"\ntrust_forwarded_for = true\n\n[retention]\nevents_days = 400\n",
        )
        .unwrap();
        let s = ServeArgs {
            config: Some(path.clone()),
            rate_limit_per_key: Some("10/s".into()),
            expire_inactive_days: Some(730),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap();
        assert_eq!(s.rate_limits.per_address.unwrap().requests, 50);
        assert_eq!(s.rate_limits.per_key.unwrap().requests, 10);
        assert!(s.rate_limits.trust_forwarded_for && !s.rate_limits.loopback);
        assert_eq!(s.retention.events_days, Some(400));
        assert_eq!(s.retention.expire_inactive_days, Some(730));
        // Defaults: a generous per-address limit, no per-key limit, keep everything.
        let d = ServeArgs::default().settings(DEFAULT_DATA).unwrap();
        assert_eq!(d.rate_limits, Default::default());
        assert!(d.rate_limits.per_key.is_none() && d.retention.is_off());
        for bad in [
            ServeArgs {
                rate_limit_per_address: Some("lots".into()),
                ..Default::default()
            },
            ServeArgs {
                retain_events_days: Some(0),
                ..Default::default()
            },
        ] {
            assert!(bad.settings(DEFAULT_DATA).is_err());
        }
    }
}

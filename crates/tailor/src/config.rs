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
    /// TOML file with any of: data, listen, write_key, server_key, identity_secret, admin_key, analyst_key, log_format, cors_origins, …,
    /// and the tables `[http]`, `[rate_limit]` and `[retention]` (README, "Configuration").
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
    /// PostgreSQL instead of the embedded store: `postgres://user:password@host:5432/db`
    /// (the data directory then holds only generated keys).
    #[arg(long, env = "TAILOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "TAILOR_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// A plain SMTP relay, `smtp://host:port` (or `smtps://host:port` for implicit TLS);
    /// `--smtp-host` and the settings after it describe a provider's relay.
    #[arg(long, env = "TAILOR_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The SMTP relay journeys send email through, e.g. `email-smtp.eu-west-1.amazonaws.com`.
    /// Its password comes from the environment only: `TAILOR_SMTP_PASSWORD`.
    #[arg(long, env = "TAILOR_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// [default: 587 with STARTTLS, 465 with TLS, 25 with none]
    #[arg(long, env = "TAILOR_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// `starttls` (required before AUTH), `tls` (implicit TLS, SMTPS) or `none` [default: starttls]
    #[arg(long, env = "TAILOR_SMTP_TLS")]
    pub smtp_tls: Option<String>,
    /// The SMTP login (AUTH PLAIN or LOGIN, whichever the relay offers).
    #[arg(long, env = "TAILOR_SMTP_USER")]
    pub smtp_user: Option<String>,
    /// The SMTP password: set `TAILOR_SMTP_PASSWORD` (hidden as a flag: command lines are
    /// visible to every user of the machine).
    #[arg(
        long,
        env = "TAILOR_SMTP_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,
    /// A PEM file of extra CA certificates to trust for the relay (Mozilla's roots always are).
    #[arg(long, env = "TAILOR_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Without an SMTP relay: an HTTP email API (or a relay to one) that takes Tailor's
    /// signed JSON (README, "Journeys").
    #[arg(long, env = "TAILOR_EMAIL_URL")]
    pub email_url: Option<String>,
    /// The sender of journey emails, e.g. `Shop <shop@example.com>`.
    #[arg(long, env = "TAILOR_EMAIL_FROM")]
    pub email_from: Option<String>,
    /// Where journeys send SMS: a provider's messages API, e.g. Twilio's
    /// `https://api.twilio.com/2010-04-01/Accounts/AC…/Messages.json`. Its password (Twilio:
    /// the auth token) comes from the environment only: `TAILOR_SMS_PASSWORD`.
    #[arg(long, env = "TAILOR_SMS_URL")]
    pub sms_url: Option<String>,
    /// `form` (Twilio's `To`, `From`, `Body` fields) or `json` [default: json]
    #[arg(long, env = "TAILOR_SMS_FORMAT")]
    pub sms_format: Option<String>,
    /// The number (E.164) or sender id SMS come from.
    #[arg(long, env = "TAILOR_SMS_FROM")]
    pub sms_from: Option<String>,
    /// The SMS provider's HTTP Basic user (Twilio: the account SID).
    #[arg(long, env = "TAILOR_SMS_USER")]
    pub sms_user: Option<String>,
    /// The SMS provider's password: set `TAILOR_SMS_PASSWORD` (hidden as a flag).
    #[arg(long, env = "TAILOR_SMS_PASSWORD", hide = true, hide_env_values = true)]
    pub sms_password: Option<String>,
    /// The secret inbound provider webhooks (bounces, complaints, SMS replies) must present
    /// (HTTP Basic password or bearer token) or sign with. Unset: they are refused.
    #[arg(long, env = "TAILOR_INBOUND_SECRET", hide_env_values = true)]
    pub inbound_secret: Option<String>,
    /// The URL shoppers reach this server at, for unsubscribe links [default: http://LISTEN]
    #[arg(long, env = "TAILOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The store's name, as message templates show it (`store.name`).
    #[arg(long, env = "TAILOR_STORE_NAME")]
    pub store_name: Option<String>,
    /// The ISO 4217 currency amounts in messages are shown in, unless the shopper has a
    /// `currency` trait [default: USD]
    #[arg(long, env = "TAILOR_CURRENCY")]
    pub currency: Option<String>,
    /// Where journeys post push messages (a signed webhook to a push provider or relay).
    #[arg(long, env = "TAILOR_PUSH_URL")]
    pub push_url: Option<String>,
    /// The Standard Webhooks secret webhooks are signed with (`whsec_…`).
    #[arg(long, env = "TAILOR_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Requests per client address: `N/s`, `N/m`, `N/h`, `N/10s`, or `off` [default: 1000/s].
    /// Loopback clients are exempt unless --rate-limit-loopback or --trusted-proxies.
    #[arg(long, env = "TAILOR_RATE_LIMIT_PER_ADDRESS")]
    pub rate_limit_per_address: Option<String>,
    /// Requests per key (each source's key, the analyst and the admin key), same form
    /// [default: off].
    #[arg(long, env = "TAILOR_RATE_LIMIT_PER_KEY")]
    pub rate_limit_per_key: Option<String>,
    /// Apply the rate limits to loopback clients (127.0.0.0/8, ::1) too.
    #[arg(long, env = "TAILOR_RATE_LIMIT_LOOPBACK")]
    pub rate_limit_loopback: bool,
    /// The reverse proxies in front of the server, as addresses or CIDRs separated by
    /// commas (e.g. `127.0.0.1,10.0.0.0/8`): only these may name the client in
    /// `X-Forwarded-For`. Listing any makes loopback clients limited too [default: none].
    #[arg(long, env = "TAILOR_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Replaced by --trusted-proxies.
    #[arg(long, env = "TAILOR_TRUST_FORWARDED_FOR", hide = true)]
    pub trust_forwarded_for: bool,
    /// Origins whose pages may call the public routes from the browser (CORS): a comma list
    /// such as `https://shop.example.com,https://www.shop.example.com`, or `*` for any page
    /// [default: none, only pages Tailor serves itself].
    #[arg(long, env = "TAILOR_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Connections open at once; more wait to be accepted [default: 1024].
    #[arg(long, env = "TAILOR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Time a request's headers may take from their first byte (or from a new connection's
    /// accept): `500ms`, `10s`, `2m` [default: 10s].
    #[arg(long, env = "TAILOR_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<String>,
    /// A connection with no request in progress is closed after this long without a byte
    /// either way [default: 30s].
    #[arg(long, env = "TAILOR_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// Time a request's body may take to arrive after its headers [default: 30s].
    #[arg(long, env = "TAILOR_BODY_READ_TIMEOUT")]
    pub body_read_timeout: Option<String>,
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
    email_url: Option<String>,
    email_from: Option<String>,
    push_url: Option<String>,
    webhook_secret: Option<String>,
    inbound_secret: Option<String>,
    public_url: Option<String>,
    store_name: Option<String>,
    currency: Option<String>,
    train_every_hours: Option<f64>,
    min_free_disk_mb: Option<u64>,
    cors_origins: Option<String>,
    #[serde(default)]
    smtp: SmtpFile,
    #[serde(default)]
    sms: SmsFile,
    #[serde(default)]
    rate_limit: RateLimitFile,
    #[serde(default)]
    retention: RetentionFile,
    #[serde(default)]
    http: HttpFile,
}

/// `[http]` in the config file: connections and their timeouts.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    max_connections: Option<usize>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    body_read_timeout: Option<String>,
}

/// `[smtp]` in the config file (the password only from `TAILOR_SMTP_PASSWORD`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SmtpFile {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    user: Option<String>,
    ca_file: Option<PathBuf>,
}

/// `[sms]` in the config file (the password only from `TAILOR_SMS_PASSWORD`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SmsFile {
    url: Option<String>,
    format: Option<String>,
    from: Option<String>,
    user: Option<String>,
}

/// `[rate_limit]` in the config file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RateLimitFile {
    per_address: Option<String>,
    per_key: Option<String>,
    loopback: Option<bool>,
    trusted_proxies: Option<StringOrList>,
    /// Replaced by `trusted_proxies`; read only to say so.
    trust_forwarded_for: Option<bool>,
}

/// A list in the config file, as a TOML array or one comma-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    List(Vec<String>),
}

impl StringOrList {
    fn joined(self) -> String {
        match self {
            StringOrList::One(s) => s,
            StringOrList::List(items) => items.join(","),
        }
    }
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
    /// PostgreSQL instead of the embedded store in `data`.
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    pub write_key: Option<String>,
    pub server_key: Option<String>,
    pub identity_secret: Option<String>,
    pub admin_key: Option<String>,
    pub analyst_key: Option<String>,
    pub json_logs: bool,
    pub channels: tailor_engine::journeys::ChannelConfig,
    pub rate_limits: tailor_server::ratelimit::RateLimits,
    pub cors_origins: tailor_server::cors::CorsOrigins,
    pub connections: tailor_server::connections::ConnectionLimits,
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
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            write_key: None,
            server_key: None,
            identity_secret: None,
            admin_key: None,
            analyst_key: None,
            json_logs: false,
            channels: Default::default(),
            rate_limits: Default::default(),
            cors_origins: Default::default(),
            connections: Default::default(),
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
        let database_url = self.database_url.clone().or(file.database_url);
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("the database URL must start with postgres:// or postgresql://");
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
            trusted_proxies: match self
                .trusted_proxies
                .clone()
                .or(file.rate_limit.trusted_proxies.map(StringOrList::joined))
            {
                None => Vec::new(),
                Some(text) => tailor_server::ratelimit::parse_cidrs(&text)
                    .map_err(|e| anyhow::anyhow!("trusted proxies: {e}"))?,
            },
        };
        if self.trust_forwarded_for || file.rate_limit.trust_forwarded_for.is_some() {
            bail!(
                "trust_forwarded_for (TAILOR_TRUST_FORWARDED_FOR) is replaced by trusted_proxies \
                 (--trusted-proxies, TAILOR_TRUSTED_PROXIES): the addresses or networks of your \
                 reverse proxies, e.g. 127.0.0.1 for one on this host"
            );
        }
        let defaults = tailor_server::connections::ConnectionLimits::default();
        let duration = |flag: &Option<String>, file: Option<String>, default, what: &str| match flag
            .clone()
            .or(file)
        {
            None => Ok(default),
            Some(text) => tailor_server::connections::parse_duration(&text)
                .map_err(|e| anyhow::anyhow!("{what}: {e}")),
        };
        let connections = tailor_server::connections::ConnectionLimits {
            max_connections: match self.max_connections.or(file.http.max_connections) {
                None => defaults.max_connections,
                Some(0) => bail!("max connections must be at least 1"),
                Some(n) => n,
            },
            header_read_timeout: duration(
                &self.header_read_timeout,
                file.http.header_read_timeout,
                defaults.header_read_timeout,
                "header read timeout",
            )?,
            idle_timeout: duration(
                &self.idle_timeout,
                file.http.idle_timeout,
                defaults.idle_timeout,
                "idle timeout",
            )?,
            body_read_timeout: duration(
                &self.body_read_timeout,
                file.http.body_read_timeout,
                defaults.body_read_timeout,
                "body read timeout",
            )?,
        };
        let cors_origins = tailor_server::cors::CorsOrigins::parse(
            self.cors_origins
                .as_deref()
                .or(file.cors_origins.as_deref())
                .unwrap_or_default(),
        )
        .map_err(|e| anyhow::anyhow!("{e} (TAILOR_CORS_ORIGINS)"))?;
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
            database_url,
            listen,
            write_key: self.write_key.clone().or(file.write_key),
            server_key: self.server_key.clone().or(file.server_key),
            identity_secret: self.identity_secret.clone().or(file.identity_secret),
            admin_key: self.admin_key.clone().or(file.admin_key),
            analyst_key: self.analyst_key.clone().or(file.analyst_key),
            json_logs,
            channels: tailor_engine::journeys::ChannelConfig {
                smtp: self.smtp(file.smtp_url, file.smtp)?,
                email_url: self.email_url.clone().or(file.email_url),
                email_from: self.email_from.clone().or(file.email_from),
                push_url: self.push_url.clone().or(file.push_url),
                sms: self.sms(file.sms)?,
                webhook_secret: self.webhook_secret.clone().or(file.webhook_secret),
                inbound_secret: self.inbound_secret.clone().or(file.inbound_secret),
                public_url: Some(
                    self.public_url
                        .clone()
                        .or(file.public_url)
                        .unwrap_or_else(|| format!("http://{listen}")),
                ),
                store_name: self.store_name.clone().or(file.store_name),
                currency: match self.currency.clone().or(file.currency) {
                    Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
                        Some(c.to_ascii_uppercase())
                    }
                    Some(c) => {
                        bail!("currency {c:?} is not a three-letter ISO 4217 code such as EUR")
                    }
                    None => None,
                },
            },
            rate_limits,
            cors_origins,
            connections,
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

impl ServeArgs {
    /// The SMTP relay: `--smtp-host` and its settings, else `--smtp-url`; the password from
    /// `TAILOR_SMTP_PASSWORD` only.
    fn smtp(
        &self,
        file_url: Option<String>,
        file: SmtpFile,
    ) -> anyhow::Result<Option<tailor_engine::journeys::channels::SmtpSettings>> {
        use tailor_engine::journeys::channels::{SmtpSettings, SmtpTls};
        let password = self.smtp_password.clone().filter(|p| !p.is_empty());
        if let Some(host) = self.smtp_host.clone().or(file.host) {
            let tls = match self.smtp_tls.clone().or(file.tls) {
                Some(t) => SmtpTls::parse(&t).with_context(|| {
                    format!("TAILOR_SMTP_TLS {t:?} is not `starttls`, `tls` or `none`")
                })?,
                None => SmtpTls::StartTls,
            };
            let user = self.smtp_user.clone().or(file.user);
            if user.is_some() && password.is_none() {
                bail!(
                    "TAILOR_SMTP_USER is set but TAILOR_SMTP_PASSWORD is not (the password comes from the environment only)"
                );
            }
            return Ok(Some(SmtpSettings {
                port: self.smtp_port.or(file.port).unwrap_or(tls.default_port()),
                user,
                password,
                ca_file: self.smtp_ca_file.clone().or(file.ca_file),
                ..SmtpSettings::new(host, tls)
            }));
        }
        match self.smtp_url.clone().or(file_url) {
            Some(url) => SmtpSettings::from_url(&url).map(Some).with_context(|| {
                format!("TAILOR_SMTP_URL {url:?} is not smtp://host:port or smtps://host:port")
            }),
            None => Ok(None),
        }
    }

    /// The SMS provider; the password from `TAILOR_SMS_PASSWORD` only.
    fn sms(
        &self,
        file: SmsFile,
    ) -> anyhow::Result<Option<tailor_engine::journeys::channels::SmsSettings>> {
        use tailor_engine::journeys::channels::{SmsFormat, SmsSettings};
        let Some(url) = self.sms_url.clone().or(file.url) else {
            return Ok(None);
        };
        let format = match self.sms_format.clone().or(file.format).as_deref() {
            None | Some("json") => SmsFormat::Json,
            Some("form") => SmsFormat::Form,
            Some(other) => bail!("TAILOR_SMS_FORMAT {other:?} is not `json` or `form`"),
        };
        Ok(Some(SmsSettings {
            url,
            format,
            from: self.sms_from.clone().or(file.from),
            user: self.sms_user.clone().or(file.user),
            password: self.sms_password.clone().filter(|p| !p.is_empty()),
        }))
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
    fn a_providers_relay_comes_from_flags_or_the_file() {
        use tailor_engine::journeys::channels::{SmsFormat, SmtpTls};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tailor.toml");
        std::fs::write(
            &path,
            "store_name = \"Shop\"\ncurrency = \"eur\"\n[smtp]\nhost = \"smtp.sendgrid.net\"\nuser = \"apikey\"\n\n[sms]\nurl = \"https://api.twilio.com/x\"\nformat = \"form\"\n",
        )
        .unwrap();
        let s = ServeArgs {
            config: Some(path.clone()),
            smtp_password: Some("SG.secret".into()),
            sms_password: Some("token".into()),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap();
        let smtp = s.channels.smtp.clone().unwrap();
        assert_eq!(
            (
                smtp.host.as_str(),
                smtp.port,
                smtp.tls,
                smtp.user.as_deref(),
                smtp.password.as_deref()
            ),
            (
                "smtp.sendgrid.net",
                587,
                SmtpTls::StartTls,
                Some("apikey"),
                Some("SG.secret")
            )
        );
        assert!(!format!("{:?}", s.channels).contains("SG.secret"));
        let sms = s.channels.sms.clone().unwrap();
        assert_eq!(
            (sms.format, sms.password.as_deref()),
            (SmsFormat::Form, Some("token"))
        );
        assert_eq!(s.channels.currency.as_deref(), Some("EUR"));
        assert_eq!(
            s.channels.public_url.as_deref(),
            Some("http://127.0.0.1:8080")
        );
        let s = ServeArgs {
            config: Some(path),
            smtp_tls: Some("tls".into()),
            smtp_password: Some("SG.secret".into()),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap();
        assert_eq!(
            s.channels.smtp.map(|s| (s.port, s.tls)),
            Some((465, SmtpTls::Tls))
        );
        let plain = ServeArgs {
            smtp_url: Some("smtp://127.0.0.1:2525".into()),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap();
        assert_eq!(plain.channels.smtp.map(|s| s.tls), Some(SmtpTls::None));
        assert!(
            ServeArgs {
                smtp_host: Some("h".into()),
                smtp_tls: Some("maybe".into()),
                ..Default::default()
            }
            .settings(DEFAULT_DATA)
            .is_err()
        );
    }

    #[test]
    fn connection_limits_come_from_flags_or_the_file() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tailor.toml");
        std::fs::write(
            &path,
            "[http]\nmax_connections = 200\nidle_timeout = \"5s\"\nbody_read_timeout = \"1m\"\n",
        )
        .unwrap();
        let s = ServeArgs {
            config: Some(path),
            header_read_timeout: Some("2s".into()),
            idle_timeout: Some("500ms".into()),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap();
        assert_eq!(s.connections.max_connections, 200);
        assert_eq!(s.connections.header_read_timeout, Duration::from_secs(2));
        assert_eq!(s.connections.idle_timeout, Duration::from_millis(500));
        assert_eq!(s.connections.body_read_timeout, Duration::from_secs(60));
        let d = ServeArgs::default().settings(DEFAULT_DATA).unwrap();
        assert_eq!(d.connections, Default::default());
        assert_eq!(d.connections.idle_timeout, Duration::from_secs(30));
        for bad in [
            ServeArgs {
                max_connections: Some(0),
                ..Default::default()
            },
            ServeArgs {
                idle_timeout: Some("forever".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.settings(DEFAULT_DATA).is_err());
        }
    }

    #[test]
    fn rate_limits_and_retention_come_from_flags_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tailor.toml");
        std::fs::write(
            &path,
            "[rate_limit]\nper_address = \"50/m\"\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n\n[retention]\nevents_days = 400\n",
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
        assert_eq!(s.rate_limits.trusted_proxies.len(), 2);
        assert!(!s.rate_limits.loopback);
        let flag = ServeArgs {
            config: Some(path.clone()),
            trusted_proxies: Some("192.0.2.10".into()),
            ..Default::default()
        }
        .settings(DEFAULT_DATA)
        .unwrap();
        assert_eq!(
            flag.rate_limits.trusted_proxies,
            tailor_server::ratelimit::parse_cidrs("192.0.2.10").unwrap()
        );
        assert_eq!(s.retention.events_days, Some(400));
        assert_eq!(s.retention.expire_inactive_days, Some(730));
        assert_eq!(s.cors_origins, Default::default());
        // Defaults: a generous per-address limit, no per-key limit, keep everything.
        let d = ServeArgs::default().settings(DEFAULT_DATA).unwrap();
        assert_eq!(d.rate_limits, Default::default());
        assert!(d.rate_limits.per_key.is_none() && d.retention.is_off());
        std::fs::write(&path, "cors_origins = \"https://shop.example.com/\"\n").unwrap();
        let from_file = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        assert_eq!(
            from_file.settings(DEFAULT_DATA).unwrap().cors_origins,
            tailor_server::cors::CorsOrigins::List(vec!["https://shop.example.com".into()])
        );
        let flag = ServeArgs {
            cors_origins: Some("*".into()),
            ..from_file
        };
        assert_eq!(
            flag.settings(DEFAULT_DATA).unwrap().cors_origins,
            tailor_server::cors::CorsOrigins::Any
        );
        for bad in [
            ServeArgs {
                cors_origins: Some("shop.example.com".into()),
                ..Default::default()
            },
            ServeArgs {
                rate_limit_per_address: Some("lots".into()),
                ..Default::default()
            },
            ServeArgs {
                retain_events_days: Some(0),
                ..Default::default()
            },
            ServeArgs {
                trusted_proxies: Some("proxy.local".into()),
                ..Default::default()
            },
            ServeArgs {
                trust_forwarded_for: true,
                ..Default::default()
            },
        ] {
            assert!(bad.settings(DEFAULT_DATA).is_err());
        }
    }
}

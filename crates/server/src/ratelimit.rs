//! Rate limits per client address and per key: `429 Too Many Requests` with `Retry-After`
//! (seconds) and the usual `{"error":{"code":"rate_limited",…}}` body. The middleware that
//! applies them, with the key resolved once, is `extract::auth::identify`.
//!
//! Each limit is `N` requests per period (`"1000/s"`, `"600/m"`, `"5/10s"`): a bucket holding
//! `N` requests that refills evenly over the period, kept as GCRA's one number per bucket
//! (the theoretical arrival time), so a check is a compare and an add.
//!
//! - **Keys** are counted by the scope the presented key grants (write, analyst, admin: one
//!   key each), so the raw key is never kept and an unknown key makes no bucket (it gets
//!   `401`, counted against its address). Three atomics, no map.
//! - **Addresses** are the TCP peer's IP address; IPv6 addresses count by their /64 (one
//!   host gets a whole /64). `X-Forwarded-For` is honoured only when
//!   [`RateLimits::trust_forwarded_for`] says the server is behind a reverse proxy, and then
//!   only its last entry (the one that proxy added; the ones before it are the client's
//!   word). Buckets live in 64 independently locked shards, each lock held for one map
//!   operation; an idle bucket (full again) is the same as none, so shards drop them when
//!   they reach [`MAX_PER_SHARD`], and if every bucket in a full shard is busy, half are
//!   dropped: memory stays bounded (≈ 10 MB at worst) whatever the number of addresses.
//! - **Loopback clients** (127.0.0.0/8, ::1) are not limited unless
//!   [`RateLimits::loopback`] is set, so the demo, `tailor bench`, wrk and the tests are never
//!   throttled by default.
//!
//! Hand-written rather than `governor`: the part needed is the 30-line GCRA below, plus
//! the eviction and the scope-keyed buckets, which `governor`'s keyed limiter does not do.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use parking_lot::Mutex;
use tailor_engine::Scope;

use crate::error::ApiError;

/// Address buckets per shard before idle ones are dropped.
pub const MAX_PER_SHARD: usize = 4_096;
const SHARDS: usize = 64;

/// `N` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;

    /// `N/s`, `N/m`, `N/h`, or with a count of units: `N/10s`, `N/5m`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("rate {s:?} is not N/PERIOD, e.g. 1000/s, 600/m, 5/10s, or off");
        let (n, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let unit_at = period.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let count: u64 = match &period[..unit_at] {
            "" => 1,
            digits => digits.parse().map_err(|_| bad())?,
        };
        let unit = match &period[unit_at..] {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            _ => return Err(bad()),
        };
        if requests == 0 || count == 0 {
            return Err(format!(
                "rate {s:?} allows nothing; write `off` to turn it off"
            ));
        }
        Ok(Rate {
            requests,
            per: Duration::from_secs(count * unit),
        })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}s", self.requests, self.per.as_secs())
    }
}

/// Parses a rate setting: `off` (or `0`) turns it off.
pub fn parse_rate(s: &str) -> Result<Option<Rate>, String> {
    match s.trim() {
        "off" | "0" | "none" => Ok(None),
        other => other.parse().map(Some),
    }
}

/// The rate-limit settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per client address; `None`: unlimited.
    pub per_address: Option<Rate>,
    /// Requests per key (each of the write, analyst and admin keys); `None`: unlimited.
    pub per_key: Option<Rate>,
    /// Whether loopback clients are limited too.
    pub loopback: bool,
    /// Whether the client address is the last `X-Forwarded-For` entry (behind a proxy).
    pub trust_forwarded_for: bool,
}

/// The default per-address limit: far above what one shopper's browser sends, high enough
/// for a carrier NAT with many shoppers behind one address.
pub const DEFAULT_PER_ADDRESS: Rate = Rate {
    requests: 1_000,
    per: Duration::from_secs(1),
};

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_address: Some(DEFAULT_PER_ADDRESS),
            // The write key is shared by every shopper's browser: a per-key limit is a
            // store-wide cap, so it exists only when the operator sets one.
            per_key: None,
            loopback: false,
            trust_forwarded_for: false,
        }
    }
}

/// GCRA: with the bucket's theoretical arrival time `tat` (ns), whether a request at `now`
/// passes (the new `tat`) or how long until it would (ns).
fn gcra(tat: u64, now: u64, rate: Rate) -> Result<u64, u64> {
    let window = rate.per.as_nanos() as u64;
    let interval = (window / u64::from(rate.requests)).max(1);
    let next = tat.max(now) + interval;
    if next - now > window {
        Err(next - now - window)
    } else {
        Ok(next)
    }
}

/// The limiter one server shares between requests.
pub struct Limiter {
    config: RateLimits,
    epoch: Instant,
    keys: [AtomicU64; 3],
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<IpAddr, u64>>]>,
}

/// A refusal: what was limited and for how long (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    by: &'static str,
    wait_ns: u64,
}

impl Limited {
    /// The `Retry-After` value: whole seconds, at least 1.
    pub fn retry_after(&self) -> u64 {
        self.wait_ns.div_ceil(1_000_000_000).max(1)
    }

    pub(crate) fn error(&self) -> ApiError {
        metrics::counter!("tailor_rate_limited_total", "by" => self.by).increment(1);
        let secs = self.retry_after();
        ApiError::rate_limited(
            format!(
                "too many requests {}; retry after {secs} s",
                if self.by == "key" {
                    "with this key"
                } else {
                    "from this address"
                }
            ),
            secs,
        )
    }
}

impl Limiter {
    /// `None` when no limit is set.
    pub fn new(config: RateLimits) -> Option<Arc<Limiter>> {
        if config.per_address.is_none() && config.per_key.is_none() {
            return None;
        }
        Some(Arc::new(Limiter {
            config,
            epoch: Instant::now(),
            keys: Default::default(),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }))
    }

    pub fn config(&self) -> &RateLimits {
        &self.config
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The address requests are counted under, if any, and whether limits apply to it.
    pub(crate) fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let forwarded = || {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|a| a.trim().parse::<IpAddr>().ok())
        };
        let ip = if self.config.trust_forwarded_for {
            forwarded().or(peer)
        } else {
            peer
        }?;
        let ip = ip.to_canonical();
        if ip.is_loopback() && !self.config.loopback {
            return None;
        }
        Some(match ip {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
            v4 => v4,
        })
    }

    /// Counts a request from `ip` against its bucket.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Limited> {
        let Some(rate) = self.config.per_address else {
            return Ok(());
        };
        let now = self.now();
        let shard = &self.shards[(self.hasher.hash_one(ip) as usize) % SHARDS];
        let mut map = shard.lock();
        if !map.contains_key(&ip) && map.len() >= MAX_PER_SHARD {
            map.retain(|_, tat| *tat > now);
            if map.len() >= MAX_PER_SHARD {
                let mut keep = false;
                map.retain(|_, _| {
                    keep = !keep;
                    keep
                });
            }
        }
        let tat = map.entry(ip).or_insert(0);
        match gcra(*tat, now, rate) {
            Ok(next) => {
                *tat = next;
                Ok(())
            }
            Err(wait_ns) => Err(Limited {
                by: "address",
                wait_ns,
            }),
        }
    }

    /// Counts a request made with a key of `scope` against that key's bucket.
    pub fn check_key(&self, scope: Scope) -> Result<(), Limited> {
        let Some(rate) = self.config.per_key else {
            return Ok(());
        };
        let slot = &self.keys[match scope {
            Scope::Write => 0,
            Scope::Analyst => 1,
            Scope::Admin => 2,
        }];
        let now = self.now();
        let mut tat = slot.load(Ordering::Relaxed);
        loop {
            let next = gcra(tat, now, rate).map_err(|wait_ns| Limited { by: "key", wait_ns })?;
            match slot.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    /// Address buckets held (for tests).
    pub fn buckets(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_address: &str, per_key: &str) -> Arc<Limiter> {
        Limiter::new(RateLimits {
            per_address: parse_rate(per_address).unwrap(),
            per_key: parse_rate(per_key).unwrap(),
            loopback: false,
            trust_forwarded_for: false,
        })
        .unwrap()
    }

    #[test]
    fn rates_parse() {
        let r = |s: &str| s.parse::<Rate>();
        assert_eq!(r("1000/s").unwrap().per, Duration::from_secs(1));
        assert_eq!(r("600/m").unwrap().per, Duration::from_secs(60));
        assert_eq!(r("5/10s").unwrap().per, Duration::from_secs(10));
        assert_eq!(r(" 2 / 1h ").unwrap().per, Duration::from_secs(3600));
        for bad in ["", "5", "5/", "x/s", "5/d", "0/s", "5/0s", "-1/s"] {
            assert!(r(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rate("off").unwrap(), None);
    }

    #[test]
    fn gcra_allows_a_burst_then_one_per_interval() {
        let rate: Rate = "3/3s".parse().unwrap();
        let s = 1_000_000_000;
        let mut tat = 0;
        for _ in 0..3 {
            tat = gcra(tat, 10 * s, rate).unwrap();
        }
        assert_eq!(gcra(tat, 10 * s, rate), Err(s));
        assert!(gcra(tat, 11 * s, rate).is_ok());
    }

    #[test]
    fn addresses_and_keys_have_their_own_buckets() {
        let l = limiter("2/1h", "1/1h");
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check_address(a).is_ok() && l.check_address(a).is_ok());
        let limited = l.check_address(a).unwrap_err();
        assert!(limited.retry_after() > 1_000 && limited.retry_after() <= 1_800);
        assert!(l.check_address(b).is_ok());
        assert!(l.check_key(Scope::Write).is_ok());
        assert!(l.check_key(Scope::Write).is_err());
        assert!(l.check_key(Scope::Admin).is_ok());
    }

    #[test]
    fn clients_come_from_the_peer_unless_behind_a_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let l = limiter("5/s", "off");
        assert_eq!(l.client(Some(peer), &headers), Some(peer));
        assert_eq!(l.client(Some("127.0.0.1".parse().unwrap()), &headers), None);
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(
            l.client(Some(v6), &headers),
            Some("2001:db8:1:2::".parse().unwrap())
        );
        let proxied = Limiter::new(RateLimits {
            trust_forwarded_for: true,
            ..RateLimits::default()
        })
        .unwrap();
        assert_eq!(
            proxied.client(Some("127.0.0.1".parse().unwrap()), &headers),
            Some("198.51.100.7".parse().unwrap())
        );
    }

    #[test]
    fn idle_buckets_are_dropped_and_memory_is_bounded() {
        let l = limiter("1000/s", "off");
        for i in 0..(SHARDS * MAX_PER_SHARD * 2) as u32 {
            let _ = l.check_address(IpAddr::V4(i.into()));
        }
        assert!(l.buckets() <= SHARDS * MAX_PER_SHARD, "{}", l.buckets());
    }
}

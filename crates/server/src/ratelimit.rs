//! Rate limits per client address and per key: `429 Too Many Requests` with `Retry-After`
//! (seconds) and the usual `{"error":{"code":"rate_limited",…}}` body. The middleware that
//! applies them, with the key resolved once, is `extract::auth::identify`.
//!
//! Each limit is `N` requests per period (`"1000/s"`, `"600/m"`, `"5/10s"`): a bucket holding
//! `N` requests that refills evenly over the period, kept as GCRA's one number per bucket
//! (the theoretical arrival time), so a check is a compare and an add.
//!
//! - **Keys** are counted per key: each source's key (`web`, `server`, any other named
//!   source) and the admin and analyst keys have a bucket of their own, named after the
//!   source, so the raw key is never kept and an unknown key makes no bucket (it gets `401`,
//!   counted against its address).
//! - **Addresses** are the TCP peer's IP address; IPv6 addresses count by their /64 (one
//!   host gets a whole /64). Behind reverse proxies, the operator lists them
//!   ([`RateLimits::trusted_proxies`], CIDRs): only when the peer is one of them is
//!   `X-Forwarded-For` read, from the right, past every trusted proxy, and the first address
//!   that is not one is the client ([`Limiter::client`]). Entries left of it are the client's
//!   word and never read, so a client cannot pick a fresh bucket by sending the header.
//!   Buckets live in 64 independently locked shards, each lock held for one map operation; an
//!   idle bucket (full again) is the same as none, so shards drop them when they reach
//!   [`MAX_PER_SHARD`], and if every bucket in a full shard is busy, half are dropped: memory
//!   stays bounded (≈ 10 MB at worst) whatever the number of addresses.
//! - **Loopback clients** (127.0.0.0/8, ::1) are not limited when no proxy is listed, unless
//!   [`RateLimits::loopback`] is set, so the demo, `tailor bench`, wrk and the tests are never
//!   throttled by default. Once proxies are listed nothing is exempt: a proxy on the same
//!   host connects from loopback, and exempting it would exempt everyone behind it.
//!
//! Hand-written rather than `governor`: the part needed is the 30-line GCRA below, plus
//! the eviction and the per-source buckets, which `governor`'s keyed limiter does not do.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use parking_lot::{Mutex, RwLock};

use crate::error::ApiError;

/// Address buckets per shard before idle ones are dropped.
pub const MAX_PER_SHARD: usize = 4_096;
/// Key buckets before idle ones are dropped (sources are made by the admin: few).
const MAX_KEY_BUCKETS: usize = 1_024;
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

/// An IP network: an address and how many leading bits of it count (`10.0.0.0/8`,
/// `2001:db8::/32`; a bare address is the one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or network (CIDR), e.g. 10.0.0.0/8");
        let (address, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.trim(), Some(p.trim())),
            None => (s.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(bad)?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Parses a list of networks separated by commas or spaces (`"127.0.0.1, 10.0.0.0/8"`).
pub fn parse_cidrs(s: &str) -> Result<Vec<Cidr>, String> {
    s.split([',', ' '])
        .filter(|part| !part.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The rate-limit settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per client address; `None`: unlimited.
    pub per_address: Option<Rate>,
    /// Requests per key (each source's key, the analyst and the admin key); `None`: unlimited.
    pub per_key: Option<Rate>,
    /// Whether loopback clients are limited when no proxy is listed (with proxies listed,
    /// they always are).
    pub loopback: bool,
    /// The reverse proxies in front of the server: only a peer in one of these networks may
    /// say who the client is (`X-Forwarded-For`). Empty: none, the peer is the client.
    pub trusted_proxies: Vec<Cidr>,
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
            trusted_proxies: Vec::new(),
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
    /// Per key bucket (see [`Limiter::check_key`]): read-locked to count, write-locked only
    /// to add a key's first bucket.
    keys: RwLock<HashMap<String, AtomicU64>>,
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
            keys: RwLock::new(HashMap::new()),
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

    fn trusted_proxy(&self, ip: IpAddr) -> bool {
        self.config
            .trusted_proxies
            .iter()
            .any(|net| net.contains(ip))
    }

    /// The client behind a trusted proxy `peer`: `X-Forwarded-For` read from the right
    /// (every proxy appends the address it received from), past the trusted proxies, up to
    /// the first address that is not one. If every entry is a trusted proxy, the left-most;
    /// an entry that is not an address ends the walk at the proxy that passed it on.
    fn forwarded_client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for entry in entries.into_iter().rev() {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.trusted_proxy(client) {
                break;
            }
        }
        client
    }

    /// The address a request is counted under; `None`: not limited by address (no peer,
    /// or loopback exempt: no proxy listed and [`RateLimits::loopback`] unset).
    pub(crate) fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        let ip = if self.trusted_proxy(peer) {
            self.forwarded_client(peer, headers)
        } else {
            peer
        };
        if ip.is_loopback() && self.config.trusted_proxies.is_empty() && !self.config.loopback {
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

    /// Counts a request against the bucket of the key it presented (`bucket` names the
    /// key: its source, or the admin or analyst key; see `Caller::rate_bucket`).
    pub fn check_key(&self, bucket: &str) -> Result<(), Limited> {
        let Some(rate) = self.config.per_key else {
            return Ok(());
        };
        let now = self.now();
        let count = |slot: &AtomicU64| {
            let mut tat = slot.load(Ordering::Relaxed);
            loop {
                let next =
                    gcra(tat, now, rate).map_err(|wait_ns| Limited { by: "key", wait_ns })?;
                match slot.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed) {
                    Ok(_) => return Ok(()),
                    Err(current) => tat = current,
                }
            }
        };
        if let Some(slot) = self.keys.read().get(bucket) {
            return count(slot);
        }
        let mut keys = self.keys.write();
        if !keys.contains_key(bucket) && keys.len() >= MAX_KEY_BUCKETS {
            keys.retain(|_, tat| *tat.get_mut() > now);
        }
        count(keys.entry(bucket.to_string()).or_default())
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
            trusted_proxies: Vec::new(),
        })
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
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
    fn networks_parse_and_contain_their_addresses() {
        let nets = parse_cidrs("127.0.0.1, 10.0.0.0/8 2001:db8::/32,::1").unwrap();
        assert_eq!(
            nets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32", "::1/128"]
        );
        assert!(nets[0].contains(ip("127.0.0.1")) && !nets[0].contains(ip("127.0.0.2")));
        assert!(nets[1].contains(ip("10.200.3.4")) && !nets[1].contains(ip("11.0.0.1")));
        // An IPv4-mapped IPv6 peer (a dual-stack listener) is its IPv4 address.
        assert!(nets[1].contains(ip("::ffff:10.1.2.3")));
        assert!(nets[2].contains(ip("2001:db8:ffff::1")) && !nets[2].contains(ip("2001:db9::1")));
        assert!(!nets[2].contains(ip("10.0.0.1")));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains(ip("203.0.113.9"))
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0/8",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(parse_cidrs(" ").unwrap(), []);
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
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(l.check_address(a).is_ok() && l.check_address(a).is_ok());
        let limited = l.check_address(a).unwrap_err();
        assert!(limited.retry_after() > 1_000 && limited.retry_after() <= 1_800);
        assert!(l.check_address(b).is_ok());
        // Each source's key is its own bucket, whatever its scope: two public sources do
        // not share one.
        assert!(l.check_key("source:web").is_ok());
        assert!(l.check_key("source:web").is_err());
        assert!(l.check_key("source:app").is_ok());
        assert!(l.check_key("admin").is_ok());
    }

    #[test]
    fn without_proxies_the_peer_is_the_client_and_loopback_is_exempt() {
        let headers = forwarded("203.0.113.9, 198.51.100.7");
        let l = limiter("5/s", "off");
        let peer = ip("192.0.2.1");
        assert_eq!(l.client(Some(peer), &headers), Some(peer));
        assert_eq!(l.client(Some(ip("127.0.0.1")), &headers), None);
        assert_eq!(l.client(Some(ip("::1")), &headers), None);
        assert_eq!(l.client(None, &headers), None);
        assert_eq!(
            l.client(Some(ip("2001:db8:1:2:3:4:5:6")), &headers),
            Some(ip("2001:db8:1:2::"))
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let l = Limiter::new(RateLimits {
            trusted_proxies: parse_cidrs("127.0.0.1, 10.0.0.0/8").unwrap(),
            ..RateLimits::default()
        })
        .unwrap();
        let local_proxy = Some(ip("127.0.0.1"));
        let client = |peer, xff: &str| l.client(peer, &forwarded(xff));
        // The proxy on this host appended the address it saw.
        assert_eq!(
            client(local_proxy, "198.51.100.7"),
            Some(ip("198.51.100.7"))
        );
        // What the client wrote before it is the client's word: never read.
        assert_eq!(
            client(local_proxy, "192.0.2.99, 198.51.100.7"),
            Some(ip("198.51.100.7"))
        );
        // Through a load balancer (10.x) and the local proxy: both skipped.
        assert_eq!(
            client(local_proxy, "192.0.2.99, 198.51.100.7, 10.1.2.3"),
            Some(ip("198.51.100.7"))
        );
        // Only proxies in the chain: the left-most; garbage ends the walk at the proxy
        // that passed it on.
        assert_eq!(
            client(local_proxy, "10.9.9.9, 10.1.2.3"),
            Some(ip("10.9.9.9"))
        );
        assert_eq!(
            client(local_proxy, "nonsense, 10.1.2.3"),
            Some(ip("10.1.2.3"))
        );
        // No header: the proxy itself, and loopback is not exempt once proxies are listed
        // (it would exempt everyone behind a proxy on this host).
        assert_eq!(
            l.client(local_proxy, &HeaderMap::new()),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(client(local_proxy, "127.0.0.5"), Some(ip("127.0.0.5")));
        // A peer that is not a trusted proxy cannot say who the client is.
        assert_eq!(
            client(Some(ip("203.0.113.1")), "198.51.100.7"),
            Some(ip("203.0.113.1"))
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

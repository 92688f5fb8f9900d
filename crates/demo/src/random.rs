//! Small seeded-randomness helpers the demo's generators share: the distributions
//! (normal, log-normal, exponential), weighted choice and UUID-shaped ids.
//!
//! Every generator takes a `ChaCha8Rng` built by [`stream`], so the same seed gives the
//! same store and the same shoppers whatever the number of threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type DemoRng = ChaCha8Rng;

/// Streams of the demo seed. Each shopper uses `SHOPPERS + index`, so shoppers are
/// independent of one another and of the catalog.
pub const CATALOG: u64 = 1;
pub const CAMPAIGNS: u64 = 2;
pub const SHOPPERS: u64 = 1 << 32;
/// Each shopper's habits use `HABITS + index`.
pub const HABITS: u64 = 2 << 32;

/// A generator for one independent stream of the seed.
pub fn stream(seed: u64, stream: u64) -> DemoRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A uniform number in `[lo, hi)`; `lo` when the range is empty.
pub fn uniform(rng: &mut DemoRng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        lo + (hi - lo) * rng.random::<f64>()
    } else {
        lo
    }
}

/// A uniform whole number in `[lo, hi]`; `lo` when the range is empty.
pub fn between(rng: &mut DemoRng, lo: u32, hi: u32) -> u32 {
    if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    }
}

/// True with probability `p` (clamped to 0..=1, so any computed odds are safe).
pub fn chance(rng: &mut DemoRng, p: f64) -> bool {
    let p = if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        0.0
    };
    rng.random_bool(p)
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut DemoRng) -> f64 {
    let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and log-scale spread.
pub fn log_normal(rng: &mut DemoRng, median: f64, spread: f64) -> f64 {
    median * (spread * normal(rng)).exp()
}

/// An exponential draw with the given mean.
pub fn exponential(rng: &mut DemoRng, mean: f64) -> f64 {
    let u = rng.random::<f64>();
    -mean * (1.0 - u).max(f64::MIN_POSITIVE).ln()
}

/// Index drawn with probability proportional to its weight; `None` if no weight is
/// positive.
pub fn weighted(rng: &mut DemoRng, weights: impl Iterator<Item = f64> + Clone) -> Option<usize> {
    let total: f64 = weights.clone().filter(|w| *w > 0.0).sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut target = rng.random::<f64>() * total;
    let mut last = None;
    for (i, w) in weights.enumerate() {
        if w <= 0.0 {
            continue;
        }
        last = Some(i);
        if target < w {
            return Some(i);
        }
        target -= w;
    }
    // Rounding can leave a sliver past the last weight.
    last
}

/// One element of a non-empty slice, uniformly.
pub fn pick<'a, T>(rng: &mut DemoRng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        None
    } else {
        items.get(rng.random_range(0..items.len()))
    }
}

/// A random version-4 UUID, as Segment's libraries use for `anonymousId`.
pub fn uuid(rng: &mut DemoRng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream(7, 3).random();
        let b: u64 = stream(7, 3).random();
        let c: u64 = stream(7, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn weighted_respects_weights_and_zeroes() {
        let mut rng = stream(1, 1);
        let weights = [0.0, 1.0, 0.0, 3.0];
        let mut counts = [0u32; 4];
        for _ in 0..4_000 {
            let i = weighted(&mut rng, weights.iter().copied()).expect("positive weights");
            counts[i] += 1;
        }
        assert_eq!(counts[0] + counts[2], 0);
        assert!(counts[3] > 2 * counts[1], "{counts:?}");
        assert_eq!(weighted(&mut rng, [0.0, -1.0].iter().copied()), None);
    }

    #[test]
    fn uuids_look_like_uuids() {
        let id = uuid(&mut stream(1, 2));
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
    }
}

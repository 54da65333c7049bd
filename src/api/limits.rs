//! Request limits held in this API node's memory: token buckets (per user,
//! per client address) and concurrency gates (per client address). Keys are
//! anything hashable; an idle entry is forgotten after two minutes.
//!
//! Not `governor`: its keyed limiter has no concurrency gate, and the
//! bucket needs the time until the next token for `Retry-After` in the
//! same call as the take; both are a few lines here.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Token buckets: `per_minute` tokens, refilled continuously.
pub(crate) struct RateLimiter<K> {
    per_minute: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub(crate) fn new(per_minute: u32) -> RateLimiter<K> {
        RateLimiter { per_minute: per_minute as f64, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token, or says how long until one is available.
    pub(crate) fn take(&self, key: K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() > 100_000 {
            b.retain(|_, (_, t)| now.duration_since(*t) < Duration::from_secs(120));
        }
        let (tokens, last) = b.entry(key).or_insert((self.per_minute, now));
        take_at(self.per_minute, tokens, last, now)
    }
}

/// The bucket rule, with the clock passed in.
fn take_at(per_minute: f64, tokens: &mut f64, last: &mut Instant, now: Instant) -> Result<(), Duration> {
    let rate = per_minute / 60.0;
    *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(per_minute);
    *last = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        Ok(())
    } else if rate > 0.0 {
        Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
    } else {
        Err(Duration::from_secs(60))
    }
}

/// At most `max` holders per key at once.
pub(crate) struct Gate<K: Hash + Eq + Clone> {
    max: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

/// One place in a [`Gate`], given back when dropped.
pub(crate) struct Permit<K: Hash + Eq + Clone> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq + Clone> Gate<K> {
    pub(crate) fn new(max: usize) -> Gate<K> {
        Gate { max, held: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// A place for `key`, or None when it already holds `max`.
    pub(crate) fn enter(&self, key: K) -> Option<Permit<K>> {
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let n = h.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Permit { key, held: self.held.clone() })
    }
}

impl<K: Hash + Eq + Clone> Drop for Permit<K> {
    fn drop(&mut self) {
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = h.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                h.remove(&self.key);
            }
        }
    }
}

/// Who a client address is for limits: an IPv4 address (also when mapped
/// into IPv6), or an IPv6 /64 (one subscriber's usual allocation, so a
/// client cannot dodge its limit by changing the low bits).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_their_rate_and_say_how_long_to_wait() {
        let t0 = Instant::now();
        let (mut tokens, mut last) = (2.0, t0);
        // (seconds after t0, taken?, wait at most)
        let table: &[(f64, bool)] =
            &[(0.0, true), (0.0, true), (0.0, false), (29.0, false), (30.0, true), (31.0, false)];
        for &(at, ok) in table {
            let now = t0 + Duration::from_secs_f64(at);
            let r = take_at(2.0, &mut tokens, &mut last, now);
            assert_eq!(r.is_ok(), ok, "at {at}s: {r:?}");
            if let Err(wait) = r {
                assert!(wait <= Duration::from_secs(30) && wait > Duration::ZERO, "at {at}s: {wait:?}");
            }
        }
    }

    #[test]
    fn a_gate_admits_max_per_key_and_frees_on_drop() {
        let g = Gate::new(2);
        let a1 = g.enter("a").unwrap();
        let _a2 = g.enter("a").unwrap();
        assert!(g.enter("a").is_none());
        let _b = g.enter("b").unwrap();
        drop(a1);
        assert!(g.enter("a").is_some());
    }

    #[test]
    fn client_keys_group_ipv6_by_64_and_unmap_ipv4() {
        let k = |s: &str| client_key(s.parse().unwrap()).to_string();
        let table = [
            ("203.0.113.7", "203.0.113.7"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("::1", "::"),
        ];
        for (ip, want) in table {
            assert_eq!(k(ip), want, "{ip}");
        }
    }
}

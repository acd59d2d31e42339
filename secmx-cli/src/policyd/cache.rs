//! A bounded map whose entries expire: the answers of `secmx policyd`
//! per domain, and the SOR next-hops it handed out as transports. Time
//! is passed in.
//!
//! When an insert finds the map full, expired entries are dropped first;
//! if none had expired, the entry that expires soonest goes. Both are a
//! scan of the map, which only happens when it is full.

use std::collections::HashMap;
use std::time::Instant;

/// Entries a cache holds by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A bounded map of values that expire.
#[derive(Debug, Clone)]
pub struct TtlCache<V> {
    map: HashMap<String, (V, Instant)>,
    capacity: usize,
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The value of `key`, if it has not expired at `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<V> {
        self.map
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value.clone())
    }

    /// Stores `value` under `key` until `expires`, making room if needed.
    pub fn insert(&mut self, key: String, value: V, expires: Instant, now: Instant) {
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.map.retain(|_, (_, e)| *e > now);
            if self.map.len() >= self.capacity {
                let soonest = self
                    .map
                    .iter()
                    .min_by_key(|(_, (_, e))| *e)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.map.remove(&k);
                }
            }
        }
        self.map.insert(key, (value, expires));
    }

    /// How many entries are stored (expired ones included until they are
    /// pushed out).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = TtlCache::new(3);
        c.insert("a".into(), 1, t0 + 10 * s, t0);
        c.insert("b".into(), 2, t0 + 2 * s, t0);
        c.insert("c".into(), 3, t0 + 5 * s, t0);
        assert_eq!(c.get("a", t0), Some(1));
        assert_eq!(c.get("b", t0 + s), Some(2));
        // Expired: not returned.
        assert_eq!(c.get("b", t0 + 2 * s), None);
        assert_eq!(c.get("zz", t0), None);

        // Full, nothing expired: the soonest to expire ("b") goes.
        c.insert("d".into(), 4, t0 + 20 * s, t0);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("b", t0), None);
        assert_eq!(c.get("a", t0), Some(1));
        assert_eq!(c.get("d", t0), Some(4));

        // Full, with expired entries: they go first ("c" at 5 s).
        c.insert("e".into(), 5, t0 + 30 * s, t0 + 6 * s);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("c", t0), None);
        assert_eq!(c.get("a", t0 + 6 * s), Some(1));

        // Replacing a key never evicts another.
        c.insert("a".into(), 10, t0 + 40 * s, t0 + 6 * s);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("a", t0 + 35 * s), Some(10));
        assert_eq!(c.get("d", t0 + 6 * s), Some(4));
        assert!(!c.is_empty());
    }

    #[test]
    fn capacity_zero_holds_one() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(0);
        c.insert("a".into(), 1, t0 + Duration::from_secs(1), t0);
        c.insert("b".into(), 2, t0 + Duration::from_secs(1), t0);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get("b", t0), Some(2));
    }
}

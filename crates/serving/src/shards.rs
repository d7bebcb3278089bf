//! A hash map split into shards behind `Arc`s, so that a copy shares every shard and a change
//! copies only the shard it touches.
//!
//! Every change to the snapshot makes a new snapshot (readers keep the old one without a
//! lock). With one map per kind that copy is O(domains) per change — for 100,000 domains,
//! megabytes copied to publish one policy edit. With [`SHARDS`] shards a change copies about
//! `1/SHARDS` of a map instead.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};
use std::sync::Arc;

/// Number of shards: a change to 100,000 entries copies about 390 of them.
const SHARDS: usize = 256;

/// A map whose clones share storage until a shard is written.
#[derive(Debug, Clone)]
pub(crate) struct ShardedMap<K, V> {
    shards: Vec<Arc<HashMap<K, V>>>,
    len: usize,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
            len: 0,
        }
    }
}

/// The shard of a key. A fixed hasher (not the maps' random one) so that every copy agrees.
fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    // The top bits: the maps inside use their own, independently seeded hashes.
    (hash >> 56) as usize % SHARDS
}

impl<K: Hash + Eq + Clone, V: Clone> ShardedMap<K, V> {
    /// The value for `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards.get(shard_of(key))?.get(key)
    }

    /// Inserts, copying the shard first if another snapshot shares it.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let i = shard_of(&key);
        let shard = Arc::make_mut(&mut self.shards[i]);
        let old = shard.insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes, copying the shard first if another snapshot shares it (and only if the key is
    /// there).
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = shard_of(key);
        if !self.shards[i].contains_key(key) {
            return None;
        }
        let old = Arc::make_mut(&mut self.shards[i]).remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn copies_share_until_written() {
        let mut a: ShardedMap<String, u32> = ShardedMap::default();
        for i in 0..10_000 {
            a.insert(format!("k{i}"), i);
        }
        assert_eq!(a.len(), 10_000);
        let mut b = a.clone();
        b.insert("k5".to_owned(), 99);
        b.insert("new".to_owned(), 1);
        assert_eq!(b.remove("k7"), Some(7));
        assert_eq!(b.remove("absent"), None);
        // The original is untouched.
        assert_eq!(a.get("k5"), Some(&5));
        assert_eq!(a.get("k7"), Some(&7));
        assert_eq!(a.get("new"), None);
        assert_eq!(a.len(), 10_000);
        assert_eq!(b.get("k5"), Some(&99));
        assert_eq!(b.get("k7"), None);
        assert_eq!(b.len(), 10_000);
        // Only the written shards were copied.
        let shared = a
            .shards
            .iter()
            .zip(&b.shards)
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert!(shared >= SHARDS - 3, "{shared} shards still shared");
        assert_eq!(b.iter().count(), b.len());
        assert_eq!(
            b.iter().find(|(k, _)| *k == "new").map(|(_, v)| *v),
            Some(1)
        );
    }
}

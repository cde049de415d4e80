//! Compact storage for the directory's strings and one-to-many indexes.
//!
//! A million-pupil roster must load in seconds and fit in a few hundred megabytes, so names,
//! keys and addresses are interned once into one arena (`Interner`: a string → `u32` id), and
//! indexes map a key to one value inline or to a list only when it is shared (`MultiMap`).

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// Deduplicated strings in one arena, addressed by `u32` ids.
#[derive(Default)]
pub struct Interner {
    data: String,
    ends: Vec<u32>,
    table: HashTable<u32>,
}

fn hash_str(s: &str) -> u64 {
    FxBuildHasher.hash_one(s)
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        let h = hash_str(s);
        let Interner { data, ends, table } = self;
        let resolve = |id: u32| -> &str {
            let start = if id == 0 {
                0
            } else {
                ends[id as usize - 1] as usize
            };
            &data[start..ends[id as usize] as usize]
        };
        if let Some(id) = table.find(h, |id| resolve(*id) == s) {
            return *id;
        }
        let id = ends.len() as u32;
        data.push_str(s);
        ends.push(data.len() as u32);
        let (data, ends) = (&*data, &*ends);
        table.insert_unique(h, id, |id| {
            let start = if *id == 0 {
                0
            } else {
                ends[*id as usize - 1] as usize
            };
            hash_str(&data[start..ends[*id as usize] as usize])
        });
        id
    }

    /// Reserves room for `strings` more strings of `bytes` bytes in all.
    pub fn reserve(&mut self, strings: usize, bytes: usize) {
        self.data.reserve(bytes);
        self.ends.reserve(strings);
        let (data, ends) = (&self.data, &self.ends);
        self.table.reserve(strings, |id| {
            let start = if *id == 0 {
                0
            } else {
                ends[*id as usize - 1] as usize
            };
            hash_str(&data[start..ends[*id as usize] as usize])
        });
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.table
            .find(hash_str(s), |id| self.resolve(*id) == s)
            .copied()
    }

    pub fn resolve(&self, id: u32) -> &str {
        let start = if id == 0 {
            0
        } else {
            self.ends[id as usize - 1] as usize
        };
        &self.data[start..self.ends[id as usize] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
        self.ends.shrink_to_fit();
        let (data, ends) = (&self.data, &self.ends);
        self.table.shrink_to_fit(|id| {
            let start = if *id == 0 {
                0
            } else {
                ends[*id as usize - 1] as usize
            };
            hash_str(&data[start..ends[*id as usize] as usize])
        });
    }
}

const SHARED: u32 = 1 << 31;

/// A map from a key to one or more `u32` values; a single value is stored inline.
pub struct MultiMap<K> {
    map: hashbrown::HashMap<K, u32, FxBuildHasher>,
    shared: Vec<Vec<u32>>,
}

impl<K> Default for MultiMap<K> {
    fn default() -> Self {
        MultiMap {
            map: hashbrown::HashMap::with_hasher(FxBuildHasher),
            shared: Vec::new(),
        }
    }
}

impl<K: Hash + Eq> MultiMap<K> {
    /// Adds a value (values must be < 2^31); a value already present for the key is not repeated.
    pub fn insert(&mut self, key: K, value: u32) {
        debug_assert!(value < SHARED);
        match self.map.entry(key) {
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(value);
            }
            hashbrown::hash_map::Entry::Occupied(mut o) => {
                let cur = *o.get();
                if cur & SHARED != 0 {
                    let list = &mut self.shared[(cur & !SHARED) as usize];
                    if !list.contains(&value) {
                        list.push(value);
                    }
                } else if cur != value {
                    self.shared.push(vec![cur, value]);
                    *o.get_mut() = (self.shared.len() as u32 - 1) | SHARED;
                }
            }
        }
    }

    pub fn get(&self, key: &K) -> &[u32] {
        match self.map.get(key) {
            None => &[],
            Some(v) if v & SHARED != 0 => &self.shared[(v & !SHARED) as usize],
            Some(v) => std::slice::from_ref(v),
        }
    }

    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit();
        self.shared.shrink_to_fit();
    }
}

/// A one-to-many index built in bulk: pairs are pushed while loading and sorted once by
/// [`SortedMultiMap::finish`]. Compact (no hash-table slack) and cache-friendly to build; a
/// lookup is a binary search, for indexes consulted a few times per message.
pub struct SortedMultiMap<K> {
    entries: Vec<(K, u32)>,
    sorted: bool,
}

impl<K> Default for SortedMultiMap<K> {
    fn default() -> Self {
        SortedMultiMap {
            entries: Vec::new(),
            sorted: true,
        }
    }
}

impl<K: Ord + Copy> SortedMultiMap<K> {
    pub fn push(&mut self, key: K, value: u32) {
        self.entries.push((key, value));
        self.sorted = false;
    }

    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
    }

    /// Sorts and removes duplicate pairs; call once after loading.
    pub fn finish(&mut self) {
        self.entries.sort_unstable();
        self.entries.dedup();
        self.entries.shrink_to_fit();
        self.sorted = true;
    }

    /// The values for a key, in ascending order.
    pub fn get(&self, key: &K) -> impl Iterator<Item = u32> + '_ {
        debug_assert!(self.sorted, "SortedMultiMap::finish not called");
        let key = *key;
        let start = self.entries.partition_point(|(k, _)| *k < key);
        self.entries[start..]
            .iter()
            .take_while(move |(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// All (key, value) pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = &(K, u32)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_multimap() {
        let mut m = SortedMultiMap::default();
        for (k, v) in [(3u64, 1), (1, 2), (3, 0), (3, 1)] {
            m.push(k, v);
        }
        m.finish();
        assert_eq!(m.get(&3).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(m.get(&1).collect::<Vec<_>>(), [2]);
        assert_eq!(m.get(&2).count(), 0);
    }

    #[test]
    fn interner_dedupes_and_resolves() {
        let mut i = Interner::default();
        let a = i.intern("olivia");
        let b = i.intern("smith");
        assert_eq!(i.intern("olivia"), a);
        assert_ne!(a, b);
        assert_eq!(i.resolve(b), "smith");
        assert_eq!(i.get("smith"), Some(b));
        assert_eq!(i.get("jones"), None);
        assert_eq!(i.intern(""), 2);
        assert_eq!(i.resolve(2), "");
    }

    #[test]
    fn multimap_inline_and_shared() {
        let mut m = MultiMap::default();
        m.insert(1u64, 5);
        assert_eq!(m.get(&1), &[5]);
        m.insert(1, 5);
        assert_eq!(m.get(&1), &[5]);
        m.insert(1, 7);
        m.insert(1, 9);
        assert_eq!(m.get(&1), &[5, 7, 9]);
        assert!(m.get(&2).is_empty());
    }
}

//! A backend-local map of immutable, shared values bounded by their total size: past the
//! budget it starts over (entries are cheap to rebuild, and a query re-fills what it uses).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

pub struct BudgetCache<K, V> {
    entries: HashMap<K, (Arc<V>, usize)>,
    bytes: usize,
    budget: usize,
}

impl<K: Eq + Hash, V> BudgetCache<K, V> {
    pub fn new(budget: usize) -> Self {
        BudgetCache { entries: HashMap::new(), bytes: 0, budget }
    }

    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.entries.get(key).map(|(v, _)| v.clone())
    }

    /// Keeps `value` (of about `size` bytes) under `key`, replacing what was there.
    pub fn insert(&mut self, key: K, value: Arc<V>, size: usize) {
        if self.bytes + size > self.budget {
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += size;
        if let Some((_, old)) = self.entries.insert(key, (value, size)) {
            self.bytes -= old;
        }
    }
}

//! [`IdSet`]: a sorted set of job ids for the store's indexes (a token's
//! jobs, overall and by status; the terminal jobs in eviction order).
//!
//! The store's ids are handed out in increasing order, and jobs move
//! through the states roughly in that order: a new job is the largest id
//! of its token, the worker takes the oldest pending job, eviction takes
//! the oldest terminal one. A sorted `VecDeque` turns each of those into a
//! push or a pop at one end, where a `BTreeSet` paid a tree walk and node
//! allocations for every insert and remove. A page of a listing is read by index instead of
//! by walking past the skipped ids.
//!
//! The cost this trades for it: an insert or remove in the middle (a
//! cancel of a job deep inside a long pending queue, a retried attempt
//! re-queued behind newer jobs) shifts the shorter side of the deque, one
//! `memmove` of up to half the set's ids (8 bytes each). Binary search
//! finds the place in O(log n) either way.

use std::collections::VecDeque;

/// Below this many slots a set keeps its memory when it empties.
const MIN_CAPACITY: usize = 64;

/// Job ids in ascending order, without repeats.
#[derive(Debug, Default, Clone)]
pub(crate) struct IdSet {
    ids: VecDeque<u64>,
}

impl IdSet {
    /// Adds `id`; `false` when it was already there.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        match self.ids.back() {
            None => {}
            Some(&last) if last < id => {}
            Some(_) => {
                return match self.ids.binary_search(&id) {
                    Ok(_) => false,
                    Err(at) => {
                        self.ids.insert(at, id);
                        true
                    }
                };
            }
        }
        self.ids.push_back(id);
        true
    }

    /// Removes `id`; `false` when it was not there.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let removed = if self.ids.front() == Some(&id) {
            self.ids.pop_front().is_some()
        } else if self.ids.back() == Some(&id) {
            self.ids.pop_back().is_some()
        } else {
            match self.ids.binary_search(&id) {
                Ok(at) => self.ids.remove(at).is_some(),
                Err(_) => false,
            }
        };
        // A set that emptied (a drained backlog) gives its memory back,
        // halving at a quarter full so that it never shrinks and grows
        // again on every other call.
        let capacity = self.ids.capacity();
        if removed && capacity > MIN_CAPACITY && self.ids.len() < capacity / 4 {
            self.ids.shrink_to(capacity / 2);
        }
        removed
    }

    /// The smallest id (the oldest job).
    pub(crate) fn first(&self) -> Option<u64> {
        self.ids.front().copied()
    }

    /// How many ids the set holds.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the set holds no id.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids, oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.ids.iter().copied()
    }

    /// Up to `take` ids, newest first, after skipping the `skip` newest:
    /// one page of a listing, found by index.
    pub(crate) fn newest(&self, skip: usize, take: usize) -> impl Iterator<Item = u64> + '_ {
        let end = self.ids.len().saturating_sub(skip);
        let start = end.saturating_sub(take);
        self.ids.range(start..end).rev().copied()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
        Page(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..64).prop_map(Op::Insert),
            3 => (0u64..64).prop_map(Op::Remove),
            1 => (0usize..70, 0usize..30).prop_map(|(s, t)| Op::Page(s, t)),
        ]
    }

    proptest! {
        /// Any sequence of inserts, removes and pages agrees with a `BTreeSet`.
        #[test]
        fn agrees_with_a_btree_set(ops in prop::collection::vec(op(), 0..200)) {
            let mut ours = IdSet::default();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(id) => prop_assert_eq!(ours.insert(id), model.insert(id)),
                    Op::Remove(id) => prop_assert_eq!(ours.remove(id), model.remove(&id)),
                    Op::Page(skip, take) => {
                        let page: Vec<u64> = ours.newest(skip, take).collect();
                        let want: Vec<u64> = model.iter().rev().skip(skip).take(take).copied().collect();
                        prop_assert_eq!(page, want);
                    }
                }
                prop_assert_eq!(ours.len(), model.len());
                prop_assert_eq!(ours.is_empty(), model.is_empty());
                prop_assert_eq!(ours.first(), model.first().copied());
                prop_assert!(ours.iter().eq(model.iter().copied()));
                prop_assert!(ours.ids.capacity() <= MIN_CAPACITY.max(4 * ours.len()) + 1);
            }
        }
    }

    #[test]
    fn a_drained_set_gives_its_memory_back() {
        let mut ids = IdSet::default();
        for id in 0..100_000 {
            ids.insert(id);
        }
        assert!(ids.ids.capacity() >= 100_000);
        for id in 0..100_000 {
            assert!(ids.remove(id));
        }
        assert!(
            ids.ids.capacity() <= 2 * MIN_CAPACITY,
            "{}",
            ids.ids.capacity()
        );
    }

    #[test]
    fn pages_past_the_end_are_empty_or_short() {
        let mut ids = IdSet::default();
        for id in 1..=5 {
            ids.insert(id);
        }
        assert_eq!(ids.newest(0, 2).collect::<Vec<_>>(), [5, 4]);
        assert_eq!(ids.newest(4, 2).collect::<Vec<_>>(), [1]);
        assert_eq!(ids.newest(5, 2).count(), 0);
        assert_eq!(ids.newest(usize::MAX, usize::MAX).count(), 0);
        assert_eq!(ids.newest(0, usize::MAX).count(), 5);
    }
}

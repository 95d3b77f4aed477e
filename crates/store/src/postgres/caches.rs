//! What each replica keeps in memory of rows that other replicas may change: member rows (names
//! and headlines for every card of every page) and, per member, whom they are hidden from by a
//! block either way. Reading them for every request was most of an inbox page's round trips.
//!
//! How a cache stays right across replicas:
//! - Triggers (`migrations/postgres/0002_plans.sql`) send `NOTIFY rapport_cache` from the
//!   transaction that changes a member's shown columns (`m<id>`) or adds or removes a block
//!   (`b<blocker>,<blocked>`), so the notification arrives only if it commits, after it commits.
//!   Each replica's [`listener`](super::listener) drops the entries named.
//! - The replica that wrote updates its own entries at its commit, before it answers, so it
//!   reads its own writes at once; the others drop theirs when the notification arrives, within
//!   milliseconds.
//! - A read that began before an invalidation does not fill the cache ([`Caches::epoch`]): it
//!   may have read the row as it was before.
//! - While the listener is not connected nothing is cached, and everything cached is dropped when
//!   it (re)connects, since notifications sent meanwhile are lost. Behind a transaction-mode
//!   pooler the replica does not listen, so it caches nothing.

use super::*;
use std::sync::atomic::AtomicBool;
use std::sync::RwLock;

/// The `NOTIFY` channel the invalidations are sent on.
pub(super) const CACHE_CHANNEL: &str = "rapport_cache";

/// Entries of each map past which it is emptied (a bound on memory, not an eviction policy: a
/// replica serving more members than this reads them again).
const MAX_ENTRIES: usize = 200_000;

#[derive(Default)]
pub(crate) struct Caches {
    members: RwLock<HashMap<MemberId, Arc<MemberRecord>>>,
    hidden: RwLock<HashMap<MemberId, Arc<Vec<MemberId>>>>,
    /// Counts invalidations: a reader notes it first and fills only if it has not moved.
    epoch: AtomicU64,
    /// Is the listener connected? Nothing is cached while it is not.
    listening: AtomicBool,
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

impl Caches {
    /// Where invalidations stand; pass it to the `fill_*` methods.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Can a read begun at `epoch` be kept?
    fn keeps(&self, epoch: u64) -> bool {
        self.listening.load(Ordering::SeqCst) && self.epoch() == epoch
    }

    /// The cached members of `ids`, and the ids that were not cached.
    pub fn members(&self, ids: &[MemberId]) -> (Vec<Arc<MemberRecord>>, Vec<MemberId>) {
        let map = read(&self.members);
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match map.get(id) {
                Some(m) => found.push(m.clone()),
                None => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// Keeps members read by a read that began at `epoch`.
    pub fn fill_members(&self, rows: &[Arc<MemberRecord>], epoch: u64) {
        let mut map = write(&self.members);
        if !self.keeps(epoch) {
            return;
        }
        if map.len() + rows.len() > MAX_ENTRIES {
            map.clear();
        }
        for m in rows {
            map.entry(m.id).or_insert_with(|| m.clone());
        }
    }

    /// This replica committed a member row: the cache holds it as committed.
    pub fn saved(&self, m: &Arc<MemberRecord>) {
        let mut map = write(&self.members);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if self.listening.load(Ordering::SeqCst) {
            map.insert(m.id, m.clone());
        } else {
            map.remove(&m.id);
        }
    }

    /// The members hidden from `viewer`, when cached.
    pub fn hidden(&self, viewer: MemberId) -> Option<Arc<Vec<MemberId>>> {
        read(&self.hidden).get(&viewer).cloned()
    }

    /// Keeps what a read that began at `epoch` found hidden from `viewer`.
    pub fn fill_hidden(&self, viewer: MemberId, hidden: Vec<MemberId>, epoch: u64) {
        let mut map = write(&self.hidden);
        if !self.keeps(epoch) {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(viewer, Arc::new(hidden));
    }

    /// A block between `a` and `b` was added or removed.
    pub fn blocks_changed(&self, a: MemberId, b: MemberId) {
        let mut map = write(&self.hidden);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        map.remove(&a);
        map.remove(&b);
    }

    /// Reads one invalidation as the triggers send it: `m<id>` or `b<id>,<id>`.
    pub fn invalidate(&self, payload: &str) {
        let ids = |s: &str| -> Vec<MemberId> {
            s.split(',')
                .filter_map(|x| x.parse().ok())
                .map(MemberId)
                .collect()
        };
        match payload.split_at_checked(1) {
            Some(("m", rest)) => {
                let mut map = write(&self.members);
                self.epoch.fetch_add(1, Ordering::SeqCst);
                for id in ids(rest) {
                    map.remove(&id);
                }
            }
            Some(("b", rest)) => {
                if let [a, b] = ids(rest)[..] {
                    self.blocks_changed(a, b);
                }
            }
            _ => self.clear(),
        }
    }

    /// Drops everything, and caches again only when `listening`.
    pub fn reset(&self, listening: bool) {
        let mut members = write(&self.members);
        let mut hidden = write(&self.hidden);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.listening.store(listening, Ordering::SeqCst);
        members.clear();
        hidden.clear();
    }

    /// Drops everything (an invalidation this replica cannot read, or a change too wide to name).
    pub fn clear(&self) {
        self.reset(self.listening.load(Ordering::SeqCst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: i64, name: &str) -> Arc<MemberRecord> {
        Arc::new(MemberRecord {
            id: MemberId(id),
            email: String::new(),
            name: name.into(),
            headline: String::new(),
            company: String::new(),
            location: String::new(),
            tier: Default::default(),
            role: Default::default(),
            status: Default::default(),
            invitations_from: Default::default(),
            created_at: Timestamp(0),
            notification_prefs: NotificationPrefs::default(),
        })
    }

    #[test]
    fn nothing_is_cached_while_the_listener_is_down() {
        let c = Caches::default();
        c.fill_members(&[member(1, "Ada")], c.epoch());
        assert_eq!(c.members(&[MemberId(1)]).1, vec![MemberId(1)]);
        c.reset(true);
        c.fill_members(&[member(1, "Ada")], c.epoch());
        assert!(c.members(&[MemberId(1)]).1.is_empty());
        c.reset(false);
        assert_eq!(c.members(&[MemberId(1)]).1, vec![MemberId(1)]);
    }

    #[test]
    fn a_read_that_began_before_an_invalidation_is_not_kept() {
        let c = Caches::default();
        c.reset(true);
        let before = c.epoch();
        c.invalidate("m1");
        c.fill_members(&[member(1, "Old name")], before);
        assert_eq!(c.members(&[MemberId(1)]).1, vec![MemberId(1)]);
        let before = c.epoch();
        c.invalidate("b1,2");
        c.fill_hidden(MemberId(1), vec![], before);
        assert!(c.hidden(MemberId(1)).is_none());
    }

    #[test]
    fn invalidations_drop_the_entries_they_name() {
        let c = Caches::default();
        c.reset(true);
        c.fill_members(&[member(1, "Ada"), member(2, "Bob")], c.epoch());
        c.fill_hidden(MemberId(3), vec![], c.epoch());
        c.fill_hidden(MemberId(4), vec![], c.epoch());
        c.invalidate("m2");
        assert_eq!(c.members(&[MemberId(1), MemberId(2)]).1, vec![MemberId(2)]);
        c.invalidate("b4,3");
        assert!(c.hidden(MemberId(3)).is_none() && c.hidden(MemberId(4)).is_none());
        c.saved(&member(1, "Ada King"));
        assert_eq!(c.members(&[MemberId(1)]).0[0].name, "Ada King");
        c.invalidate("something else");
        assert_eq!(c.members(&[MemberId(1)]).1, vec![MemberId(1)]);
    }
}

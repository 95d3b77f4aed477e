//! Members as the store last committed them, kept in memory: every invitation card and member view
//! names several members, and reading each from SQLite cost more than the rest of the request.
//!
//! The writer thread updates an entry after each commit that wrote the member, in commit order;
//! readers only fill entries that are absent. So a reader that read a row just before a commit can
//! never put the older row back over the newer one.

use crate::{Change, CommitHook, MemberRecord};
use rapport_domain::MemberId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct MemberCache {
    map: RwLock<HashMap<MemberId, Arc<MemberRecord>>>,
}

impl MemberCache {
    /// The cached members of `ids`, and the ids that were not cached.
    pub fn get_many(&self, ids: &[MemberId]) -> (Vec<Arc<MemberRecord>>, Vec<MemberId>) {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let (mut found, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
        for id in ids {
            match map.get(id) {
                Some(m) => found.push(m.clone()),
                None => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// Caches a row a reader found, unless the writer has put a newer one meanwhile.
    pub fn fill(&self, m: MemberRecord) -> Arc<MemberRecord> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.entry(m.id).or_insert_with(|| Arc::new(m)).clone()
    }

    fn saved(&self, m: &Arc<MemberRecord>) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(m.id, m.clone());
    }

    /// A commit hook that keeps this cache in step, then hands every change on to `next`.
    pub fn follow(self: Arc<Self>, next: CommitHook) -> CommitHook {
        Arc::new(move |changes: &[Change]| {
            for change in changes {
                if let Change::MemberSaved(m) = change {
                    self.saved(m);
                }
            }
            next(changes);
        })
    }
}

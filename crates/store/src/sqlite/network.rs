//! The network: connections, member search, blocks and account states.

use super::accounts::member_by_id;
use super::*;

/// Directed connections between active members in primary-key order, handed to `sink`.
fn scan_connections(
    c: &Connection,
    sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
) -> rusqlite::Result<()> {
    let mut inactive: Vec<i64> = c
        .prepare("SELECT id FROM members WHERE status <> 'active'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    inactive.sort_unstable();
    let mut stmt =
        c.prepare("SELECT member_id, other_id FROM connections ORDER BY member_id, other_id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (a, b): (i64, i64) = (r.get(0)?, r.get(1)?);
        if inactive.binary_search(&a).is_err() && inactive.binary_search(&b).is_err() {
            sink(MemberId(a), MemberId(b));
        }
    }
    Ok(())
}

fn are_connected(c: &Connection, a: MemberId, b: MemberId) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM connections WHERE member_id = ?1 AND other_id = ?2")?
        .exists([a.0, b.0])
}

/// Connects two members both ways, counts it on both and reports it to the graph (the event, if
/// any, is the plan's).
pub(super) fn connect(
    tx: &mut WriteTx<'_>,
    a: MemberId,
    b: MemberId,
    at: Timestamp,
) -> rusqlite::Result<ConnectionRecord> {
    let mut stmt = tx.conn.prepare_cached(
        "INSERT OR IGNORE INTO connections (member_id, other_id, created_at) VALUES (?1, ?2, ?3)",
    )?;
    let new = stmt.execute(params![a.0, b.0, at.0])? > 0;
    stmt.execute(params![b.0, a.0, at.0])?;
    if new {
        add_connection_count(tx.conn, a, b, 1)?;
        tx.record(Change::Connected(a, b));
    }
    Ok(ConnectionRecord {
        member: b,
        connected_at: at,
    })
}

pub(super) fn add_connection_count(
    c: &Connection,
    a: MemberId,
    b: MemberId,
    delta: i64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE members SET connection_count = connection_count + ?3 WHERE id IN (?1, ?2)",
    )?
    .execute(params![a.0, b.0, delta])?;
    Ok(())
}

#[async_trait]
impl NetworkStore for SqliteStore {
    async fn connections(
        &self,
        member: MemberId,
        q: ConnectionQuery,
    ) -> StoreResult<ConnectionPage> {
        self.read(move |c| {
            let pattern = q.name.as_deref().map(crate::like_pattern);
            let (after_at, after_id) = q.after.map_or((None, None), |(t, m)| (Some(t.0), Some(m.0)));
            let total: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM connections c JOIN members m ON m.id = c.other_id
                      WHERE c.member_id = ?1 AND m.status = 'active' AND (?2 IS NULL OR m.name LIKE ?2 ESCAPE '\\')",
                )?
                .query_row(params![member.0, pattern], |r| r.get(0))?;
            let sql = format!(
                "SELECT c.created_at, {} FROM connections c JOIN members m ON m.id = c.other_id
                  WHERE c.member_id = ?1 AND m.status = 'active' AND (?2 IS NULL OR m.name LIKE ?2 ESCAPE '\\')
                    AND (?3 IS NULL OR (c.created_at, c.other_id) < (?3, ?4))
                  ORDER BY c.created_at DESC, c.other_id DESC LIMIT ?5",
                MEMBER_COLS.split(", ").map(|col| format!("m.{col}")).collect::<Vec<_>>().join(", ")
            );
            let items = c
                .prepare_cached(&sql)?
                .query_map(params![member.0, pattern, after_at, after_id, q.limit], |r| {
                    let at = Timestamp(r.get(0)?);
                    let m = Arc::new(member_row_offset(r, 1)?);
                    Ok((ConnectionRecord { member: m.id, connected_at: at }, m))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ConnectionPage { items, total: total as u64 })
        })
        .await
    }

    async fn remove_connection(
        &self,
        a: MemberId,
        b: MemberId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let connected = facts::connected(tx.conn, a, b)?;
            match rapport_domain::plan::plan_disconnect(a, b, connected, at) {
                Some(planned) => plan::execute(tx, &planned).map(|_| true),
                None => Ok(false),
            }
        })
        .await
    }

    async fn scan_connections(
        &self,
        sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
    ) -> StoreResult<()> {
        let conn = self.readers.take()?;
        let result = scan_connections(&conn, sink);
        self.readers.give_back(conn);
        result.map_err(StoreError::from)
    }

    async fn search_members(
        &self,
        query: String,
        within: Option<Vec<MemberId>>,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        let within = within.map(|ids| id_list(&ids));
        self.read(move |c| {
            // Name weighs most, then company, then headline.
            c.prepare_cached(
                "SELECT s.rowid, bm25(member_search, 10.0, 2.0, 5.0) AS rank,
                        s.rowid IN (SELECT rowid FROM member_search WHERE member_search MATCH ?4)
                   FROM member_search s JOIN members m ON m.id = s.rowid
                  WHERE member_search MATCH ?1 AND m.status = 'active'
                    AND (?2 IS NULL OR s.rowid IN (SELECT value FROM json_each(?2)))
                  ORDER BY rank LIMIT ?3",
            )?
            .query_map(
                params![query, within, limit, format!("{{name}} : ({query})")],
                |r| {
                    Ok(SearchHit {
                        member: MemberId(r.get(0)?),
                        rank: r.get(1)?,
                        in_name: r.get(2)?,
                    })
                },
            )?
            .collect()
        })
        .await
    }

    async fn search_members_unranked(
        &self,
        query: String,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT s.rowid, s.rowid IN (SELECT rowid FROM member_search WHERE member_search MATCH ?3)
                   FROM member_search s JOIN members m ON m.id = s.rowid
                  WHERE member_search MATCH ?1 AND m.status = 'active'
                  LIMIT ?2",
            )?
            .query_map(
                params![query, limit, format!("{{name}} : ({query})")],
                |r| {
                    Ok(SearchHit {
                        member: MemberId(r.get(0)?),
                        rank: 0.0,
                        in_name: r.get(1)?,
                    })
                },
            )?
            .collect()
        })
        .await
    }

    async fn seed_connections(
        &self,
        pairs: Vec<(MemberId, MemberId)>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            let mut added = 0;
            for (a, b) in pairs {
                if a != b && !are_connected(tx.conn, a, b)? {
                    connect(tx, a, b, at)?;
                    added += 1;
                }
            }
            Ok(added)
        })
        .await
    }

    async fn block(&self, blocker: MemberId, blocked: MemberId, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::block(tx.conn, blocker, blocked)?;
            let planned = rapport_domain::plan::plan_block(blocker, blocked, &facts, at);
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }

    async fn unblock(&self, blocker: MemberId, blocked: MemberId) -> StoreResult<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached("DELETE FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2")?
                .execute([blocker.0, blocked.0])?;
            Ok(n > 0)
        })
        .await
    }

    async fn blocked_by(&self, blocker: MemberId) -> StoreResult<Vec<Arc<MemberRecord>>> {
        let sql = format!(
            "SELECT {} FROM blocks b JOIN members m ON m.id = b.blocked_id
              WHERE b.blocker_id = ?1 AND m.status <> 'closed' ORDER BY b.created_at DESC",
            MEMBER_COLS
                .split(", ")
                .map(|col| format!("m.{col}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.read(move |c| {
            c.prepare_cached(&sql)?
                .query_map([blocker.0], |r| member_row(r).map(Arc::new))?
                .collect()
        })
        .await
    }

    async fn hidden_from(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT blocked_id FROM blocks WHERE blocker_id = ?1
                 UNION SELECT blocker_id FROM blocks WHERE blocked_id = ?1",
            )?
            .query_map([viewer.0], |r| Ok(MemberId(r.get(0)?)))?
            .collect()
        })
        .await
    }

    async fn set_status(
        &self,
        id: MemberId,
        status: AccountStatus,
        at: Timestamp,
    ) -> StoreResult<Arc<MemberRecord>> {
        self.write(move |tx| {
            let facts = facts::status(tx.conn, id)?.ok_or(RuleError::NotFound)?;
            let planned = rapport_domain::plan::plan_status(status, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(Arc::new(
                member_by_id(tx.conn, id)?.ok_or(RuleError::NotFound)?,
            ))
        })
        .await
    }

    async fn close_member(&self, id: MemberId, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let facts = facts::close(tx.conn, id)?;
            let planned = rapport_domain::plan::plan_close(id, &facts, at)?;
            plan::execute(tx, &planned)?;
            Ok(())
        })
        .await
    }
}

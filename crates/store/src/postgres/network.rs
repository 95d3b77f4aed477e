//! The network: connections, member search, blocks and account states.

use super::*;
use crate::*;
use async_trait::async_trait;
use rapport_domain::{MemberId, RuleError, Timestamp};
use std::sync::Arc;

/// [`MEMBER_COLS`] qualified by the `members` alias `m`, for joins.
fn member_cols_of_m() -> String {
    MEMBER_COLS
        .split(", ")
        .map(|col| format!("m.{col}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The words of a full-text query as the app writes it for SQLite's FTS5 (`fts_query`: each word
/// quoted, `"` doubled inside, `*` after it when it is a prefix: `"ada"* "j"`), each with whether
/// it is a prefix. Unquoted words are taken as they are, so a plain `ada* j` reads the same.
fn query_words(query: &str) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&ch) = chars.peek() {
        if ch.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if ch == '"' {
            chars.next();
            while let Some(ch) = chars.next() {
                if ch == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        word.push('"');
                    } else {
                        break;
                    }
                } else {
                    word.push(ch);
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '*' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        let prefix = chars.peek() == Some(&'*');
        if prefix {
            chars.next();
        }
        if !word.is_empty() {
            words.push((word, prefix));
        }
    }
    words
}

/// The `tsquery` of the words `$1` (`text[]`), each a prefix when `$2` (`bool[]`) says so, all
/// required: each word folded like the `members.search` column (lower case, accents removed),
/// quoted for `to_tsquery` (`'` and `\` doubled) and `:*` added to prefixes, e.g.
/// `'ada':* & 'j'`. Written in SQL so that the folding happens before the quoting.
const TSQUERY: &str = "
    SELECT to_tsquery('simple', string_agg(
               '''' || replace(replace(public.unaccent('public.unaccent'::regdictionary, lower(w)),
                                       '\\', '\\\\'), '''', '''''')
               || '''' || CASE WHEN prefix THEN ':*' ELSE '' END,
               ' & ' ORDER BY n)) AS q
      FROM unnest($1::text[], $2::bool[]) WITH ORDINALITY AS t(w, prefix, n)";

/// The words of `query` and whether each is a prefix, as the two arrays [`TSQUERY`] takes.
fn query_params(query: &str) -> (Vec<String>, Vec<bool>) {
    query_words(query).into_iter().unzip()
}

/// Connects the distinct pairs `$1[i]`–`$2[i]` (not a member with themself) both ways, unless
/// already connected, in one statement: counts each new connection on both members, logs each
/// new pair in `graph_changes` for the other replicas (what [`Tx::graph_change`] writes, for all
/// the pairs at once) and returns the new pairs.
const SEED: &str = "
WITH wanted AS (
    SELECT DISTINCT LEAST(a, b) AS a, GREATEST(a, b) AS b
      FROM unnest($1::bigint[], $2::bigint[]) AS p(a, b)
     WHERE a <> b
), new AS (
    INSERT INTO connections (member_id, other_id, created_at)
    SELECT a, b, $3 FROM wanted
    ON CONFLICT DO NOTHING
    RETURNING member_id AS a, other_id AS b
), back AS (
    INSERT INTO connections (member_id, other_id, created_at)
    SELECT b, a, $3 FROM new
    ON CONFLICT DO NOTHING
), counted AS (
    UPDATE members m SET connection_count = m.connection_count + n.added
      FROM (SELECT id, count(*) AS added
              FROM (SELECT a AS id FROM new UNION ALL SELECT b FROM new) e
             GROUP BY id) n
     WHERE m.id = n.id
), logged AS (
    INSERT INTO graph_changes (a_id, b_id, created_at)
    SELECT a, b, $3 FROM new
)
SELECT a, b FROM new";

#[async_trait]
impl NetworkStore for PgStore {
    async fn connections(
        &self,
        member: MemberId,
        q: ConnectionQuery,
    ) -> StoreResult<ConnectionPage> {
        let pattern = q.name.as_deref().map(crate::like_pattern);
        let (after_at, after_id) = q
            .after
            .map_or((None, None), |(t, m)| (Some(t.0), Some(m.0)));
        let limit = i64::from(q.limit);
        let sql = format!(
            "SELECT c.created_at, {} FROM connections c JOIN members m ON m.id = c.other_id
              WHERE c.member_id = $1 AND m.status = 'active'
                AND ($2::text IS NULL OR m.name ILIKE $2 ESCAPE '\\')
                AND ($3::bigint IS NULL OR (c.created_at, c.other_id) < ($3::bigint, $4::bigint))
              ORDER BY c.created_at DESC, c.other_id DESC LIMIT $5",
            member_cols_of_m()
        );
        read!(self, |c| {
            let total: i64 = c
                .query_one(
                    "SELECT count(*) FROM connections c JOIN members m ON m.id = c.other_id
                      WHERE c.member_id = $1 AND m.status = 'active'
                        AND ($2::text IS NULL OR m.name ILIKE $2 ESCAPE '\\')",
                    &[&member.0, &pattern],
                )
                .await?
                .get(0);
            let rows = c
                .query(&sql, &[&member.0, &pattern, &after_at, &after_id, &limit])
                .await?;
            let items = rows
                .iter()
                .map(|r| {
                    let m = Arc::new(member_row_offset(r, 1));
                    let record = ConnectionRecord {
                        member: m.id,
                        connected_at: Timestamp(r.get(0)),
                    };
                    (record, m)
                })
                .collect();
            Ok(ConnectionPage {
                items,
                total: u64::try_from(total).unwrap_or(0),
            })
        })
    }

    async fn remove_connection(
        &self,
        a: MemberId,
        b: MemberId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        in_tx!(self, |tx| {
            lock_members(tx, &[a, b]).await?;
            let connected = facts::connected(tx, a, b).await?;
            match rapport_domain::plan::plan_disconnect(a, b, connected, at) {
                Some(planned) => plan::execute(tx, &planned).await.map(|_| true),
                None => Ok(false),
            }
        })
    }

    async fn scan_connections(
        &self,
        sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
    ) -> StoreResult<()> {
        self.scan_graph(sink).await
    }

    async fn search_members(
        &self,
        query: String,
        within: Option<Vec<MemberId>>,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        let (words, prefixes) = query_params(&query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let within = within.map(|ids| ids_of(&ids));
        let limit = i64::from(limit);
        // As the embedded store's bm25 weights (name 10, headline 2, company 5): name weighs most,
        // then company, then headline. The weights are given {D, C, B, A}; the search column holds
        // name as A, headline as B, company as C. Normalised by document length (1), as bm25 is. A
        // lower rank is a better match.
        let sql = format!(
            "SELECT m.id,
                    (-ts_rank('{{0.1, 0.5, 0.2, 1.0}}'::float4[], m.search, q.q, 1))::float8 AS rank,
                    m.name_search @@ q.q
               FROM ({TSQUERY}) q, members m
              WHERE m.search @@ q.q AND m.status = 'active'
                AND ($3::bigint[] IS NULL OR m.id = ANY($3))
              ORDER BY rank, m.id LIMIT $4"
        );
        read_replica!(self, |c| {
            let rows = c.query(&sql, &[&words, &prefixes, &within, &limit]).await?;
            Ok(rows
                .iter()
                .map(|r| SearchHit {
                    member: MemberId(r.get(0)),
                    rank: r.get(1),
                    in_name: r.get(2),
                })
                .collect())
        })
    }

    async fn search_members_unranked(
        &self,
        query: String,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        let (words, prefixes) = query_params(&query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let limit = i64::from(limit);
        let sql = format!(
            "SELECT m.id, m.name_search @@ q.q
               FROM ({TSQUERY}) q, members m
              WHERE m.search @@ q.q AND m.status = 'active'
              ORDER BY m.id LIMIT $3"
        );
        read_replica!(self, |c| {
            let rows = c.query(&sql, &[&words, &prefixes, &limit]).await?;
            Ok(rows
                .iter()
                .map(|r| SearchHit {
                    member: MemberId(r.get(0)),
                    rank: 0.0,
                    in_name: r.get(1),
                })
                .collect())
        })
    }

    async fn seed_connections(
        &self,
        pairs: Vec<(MemberId, MemberId)>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let (a, b): (Vec<i64>, Vec<i64>) = pairs.iter().map(|(a, b)| (a.0, b.0)).unzip();
        in_tx!(self, |tx| {
            let new = tx.query(SEED, &[&a, &b, &at.0]).await?;
            // Seeding is quiet: no `connection.created` events, as in the embedded store. The pairs
            // are already in `graph_changes`; this replica's index learns them after the commit.
            for r in &new {
                tx.record(Change::Connected(MemberId(r.get(0)), MemberId(r.get(1))));
            }
            Ok(new.len() as u64)
        })
    }

    async fn block(&self, blocker: MemberId, blocked: MemberId, at: Timestamp) -> StoreResult<()> {
        let done = in_tx!(self, |tx| {
            lock_members(tx, &[blocker, blocked]).await?;
            let f = facts::block(tx, blocker, blocked).await?;
            let planned = rapport_domain::plan::plan_block(blocker, blocked, &f, at);
            plan::execute(tx, &planned).await?;
            Ok(())
        });
        self.inner.caches.blocks_changed(blocker, blocked);
        done
    }

    async fn unblock(&self, blocker: MemberId, blocked: MemberId) -> StoreResult<bool> {
        let done = in_tx!(self, |tx| {
            lock_members(tx, &[blocker, blocked]).await?;
            let n = tx
                .execute(
                    "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2",
                    &[&blocker.0, &blocked.0],
                )
                .await?;
            Ok(n > 0)
        });
        self.inner.caches.blocks_changed(blocker, blocked);
        done
    }

    async fn blocked_by(&self, blocker: MemberId) -> StoreResult<Vec<Arc<MemberRecord>>> {
        let sql = format!(
            "SELECT {} FROM blocks b JOIN members m ON m.id = b.blocked_id
              WHERE b.blocker_id = $1 AND m.status <> 'closed' ORDER BY b.created_at DESC",
            member_cols_of_m()
        );
        read!(self, |c| {
            let rows = c.query(&sql, &[&blocker.0]).await?;
            Ok(rows.iter().map(|r| Arc::new(member_row(r))).collect())
        })
    }

    async fn hidden_from(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        let caches = &self.inner.caches;
        if let Some(hidden) = caches.hidden(viewer) {
            return Ok(hidden.as_ref().clone());
        }
        let epoch = caches.epoch();
        let hidden: Vec<MemberId> = read!(self, |c| {
            let rows = c
                .query(
                    "SELECT blocked_id FROM blocks WHERE blocker_id = $1
                     UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1",
                    &[&viewer.0],
                )
                .await?;
            Ok(rows.iter().map(|r| MemberId(r.get(0))).collect())
        })?;
        caches.fill_hidden(viewer, hidden.clone(), epoch);
        Ok(hidden)
    }

    async fn set_status(
        &self,
        id: MemberId,
        status: AccountStatus,
        at: Timestamp,
    ) -> StoreResult<Arc<MemberRecord>> {
        in_tx!(self, |tx| {
            lock_members(tx, &[id]).await?;
            let f = facts::status(tx, id).await?.ok_or(RuleError::NotFound)?;
            let planned = rapport_domain::plan::plan_status(status, &f, at)?;
            plan::execute(tx, &planned).await?;
            Ok(Arc::new(
                accounts::member_by_id(tx, id)
                    .await?
                    .ok_or(RuleError::NotFound)?,
            ))
        })
    }

    async fn close_member(&self, id: MemberId, at: Timestamp) -> StoreResult<()> {
        let done = in_tx!(self, |tx| {
            lock_members(tx, &[id]).await?;
            let f = facts::close(tx, id).await?;
            let planned = rapport_domain::plan::plan_close(id, &f, at)?;
            plan::execute(tx, &planned).await?;
            Ok(())
        });
        // Its blocks and its row went: what this replica cached of either is dropped.
        self.inner.caches.clear();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(q: &str) -> Vec<(String, bool)> {
        query_words(q)
    }

    #[test]
    fn the_app_s_fts_queries_read_back_as_words() {
        assert_eq!(
            words("\"ada\"* \"lovelace\"*"),
            [("ada".to_owned(), true), ("lovelace".to_owned(), true)]
        );
        assert_eq!(
            words("\"j\" \"smith\"*"),
            [("j".to_owned(), false), ("smith".to_owned(), true)]
        );
        assert_eq!(words("\"o\"\"brien\"*"), [("o\"brien".to_owned(), true)]);
        assert_eq!(
            words("ada*  j"),
            [("ada".to_owned(), true), ("j".to_owned(), false)]
        );
        assert!(words("   ").is_empty());
        assert!(words("\"\"*").is_empty());
    }
}

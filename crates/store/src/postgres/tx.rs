//! One transaction (or, for reads, one connection) as the store's code sees it: statements
//! prepared once per pooled connection, each one counted as the round trip it is, and the graph
//! changes and events the commit must report.

use super::*;

tokio::task_local! {
    /// Statements sent on behalf of the task running [`count_statements`].
    static STATEMENTS: std::cell::Cell<u64>;
}

/// Counts one statement sent to the server (prepared statements are prepared once per pooled
/// connection and not counted): for the `rapport_store_statements_total` metric, and for the
/// task that counts its own with [`count_statements`].
pub(crate) fn sent_statement() {
    metrics::counter!("rapport_store_statements_total").increment(1);
    let _ = STATEMENTS.try_with(|n| n.set(n.get() + 1));
}

/// Runs `f` and counts the statements it sent to PostgreSQL, each one round trip (work of other
/// tasks, such as the sequencer and the graph follower, is not counted): what the round-trip
/// tests assert on.
pub async fn count_statements<F: std::future::Future>(f: F) -> (F::Output, u64) {
    STATEMENTS
        .scope(std::cell::Cell::new(0), async {
            let out = f.await;
            (out, STATEMENTS.with(|n| n.get()))
        })
        .await
}

/// One transaction (or, for reads, one connection) and the graph changes it made.
pub(crate) struct Tx {
    pub(super) conn: deadpool_postgres::Object,
    pub(super) cache: bool,
    pub(super) changes: Vec<Change>,
    pub(super) events: bool,
}

pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Tx {
    /// Counts a statement about to be sent (see [`count_statements`]).
    pub(super) fn sent(&self) -> &Self {
        sent_statement();
        self
    }

    async fn statement(&self, sql: &str) -> TxResult<Statement> {
        Ok(if self.cache {
            self.conn.prepare_cached(sql).await?
        } else {
            self.conn.prepare(sql).await?
        })
    }

    pub async fn query(&self, sql: &str, params: Params<'_>) -> TxResult<Vec<Row>> {
        let st = self.statement(sql).await?;
        Ok(self.sent().conn.query(&st, params).await?)
    }

    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> TxResult<Option<Row>> {
        let st = self.statement(sql).await?;
        Ok(self.sent().conn.query_opt(&st, params).await?)
    }

    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> TxResult<Row> {
        let st = self.statement(sql).await?;
        Ok(self.sent().conn.query_one(&st, params).await?)
    }

    pub async fn execute(&self, sql: &str, params: Params<'_>) -> TxResult<u64> {
        let st = self.statement(sql).await?;
        Ok(self.sent().conn.execute(&st, params).await?)
    }

    /// Does `sql` (which takes parameters) find a row?
    pub async fn exists(&self, sql: &str, params: Params<'_>) -> TxResult<bool> {
        Ok(self.query_opt(sql, params).await?.is_some())
    }

    /// Runs statements without parameters (the simple protocol: nothing is prepared).
    pub async fn batch(&self, sql: &str) -> TxResult<()> {
        Ok(self.sent().conn.batch_execute(sql).await?)
    }

    /// Reports a change that is not the graph's (a member row written): passed to the hook after
    /// the commit, like the embedded store's.
    pub fn record(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Notes that this transaction appended outbox events (the sequencer numbers them).
    pub fn wrote_events(&mut self) {
        self.events = true;
    }
}

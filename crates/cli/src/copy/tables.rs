//! The tables `rapport copy` carries and how each column's values cross from SQLite to PostgreSQL.

use tokio_postgres::types::Type;

/// How a column's values are carried across.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    /// INTEGER → BIGINT.
    Int,
    Text,
    /// BLOB → BYTEA.
    Blob,
    /// INTEGER 0/1 → BOOLEAN.
    Bool,
}

impl Kind {
    pub(super) fn pg_type(self) -> Type {
        match self {
            Kind::Int => Type::INT8,
            Kind::Text => Type::TEXT,
            Kind::Blob => Type::BYTEA,
            Kind::Bool => Type::BOOL,
        }
    }

    /// The name `information_schema.columns.data_type` gives the PostgreSQL column.
    pub(super) fn pg_name(self) -> &'static str {
        match self {
            Kind::Int => "bigint",
            Kind::Text => "text",
            Kind::Blob => "bytea",
            Kind::Bool => "boolean",
        }
    }
}

pub(super) struct Column {
    /// The PostgreSQL column written.
    pub(super) pg: &'static str,
    /// The SQLite column read.
    pub(super) sqlite: &'static str,
    pub(super) kind: Kind,
}

pub(super) const fn int(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Int,
    }
}

pub(super) const fn text(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Text,
    }
}

pub(super) const fn blob(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Blob,
    }
}

pub(super) const fn boolean(name: &'static str) -> Column {
    Column {
        pg: name,
        sqlite: name,
        kind: Kind::Bool,
    }
}

pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) columns: &'static [Column],
}

/// Every table that carries data, in an order that satisfies the foreign keys. Not copied: the
/// SQLite search index (`member_search`, PostgreSQL's search columns are generated), and what only
/// PostgreSQL has (`graph_changes`, `leases`; `event_sequence` is set from the events).
pub(super) const TABLES: &[Table] = &[
    Table {
        name: "members",
        columns: &[
            int("id"),
            text("email"),
            text("password_hash"),
            text("name"),
            text("headline"),
            text("company"),
            text("location"),
            text("tier"),
            text("role"),
            text("status"),
            text("invitations_from"),
            int("created_at"),
            int("pending_sent"),
            int("connection_count"),
            text("notification_prefs"),
        ],
    },
    Table {
        name: "tokens",
        columns: &[
            blob("hash"),
            int("member_id"),
            int("created_at"),
            int("last_used_at"),
        ],
    },
    Table {
        name: "invitations",
        columns: &[
            int("id"),
            int("sender_id"),
            int("recipient_id"),
            text("note"),
            text("state"),
            text("ignore_reason"),
            int("created_at"),
            int("decided_at"),
            int("next_reminder_at"),
            int("reminders_sent"),
        ],
    },
    Table {
        name: "connections",
        columns: &[int("member_id"), int("other_id"), int("created_at")],
    },
    Table {
        name: "idempotency_keys",
        columns: &[
            int("member_id"),
            text("key"),
            blob("request_hash"),
            int("status"),
            blob("body"),
            int("created_at"),
        ],
    },
    // The server's signing secret goes along, so CSRF tokens and unsubscribe links made before the
    // move still hold after it.
    Table {
        name: "secrets",
        columns: &[text("name"), blob("value"), int("created_at")],
    },
    Table {
        name: "pair_rules",
        columns: &[
            int("sender_id"),
            int("recipient_id"),
            int("cooldown_until"),
            boolean("barred"),
            int("withdrawals"),
        ],
    },
    Table {
        name: "blocks",
        columns: &[int("blocker_id"), int("blocked_id"), int("created_at")],
    },
    Table {
        name: "restrictions",
        columns: &[
            int("id"),
            int("member_id"),
            int("level"),
            text("reason"),
            text("source"),
            int("starts_at"),
            int("until"),
            int("lifted_at"),
            boolean("end_noticed"),
        ],
    },
    Table {
        name: "pending_signups",
        columns: &[
            blob("token_hash"),
            text("email"),
            text("password_hash"),
            text("name"),
            text("headline"),
            text("company"),
            text("location"),
            int("created_at"),
        ],
    },
    Table {
        name: "service_keys",
        columns: &[
            int("id"),
            text("name"),
            text("scopes"),
            blob("secret_hash"),
            int("created_at"),
            int("last_used_at"),
        ],
    },
    Table {
        name: "external_ids",
        columns: &[
            text("issuer"),
            text("subject"),
            int("member_id"),
            int("created_at"),
        ],
    },
    Table {
        name: "wrong_emails",
        columns: &[int("sender_id"), int("at"), int("recipient_id")],
    },
    Table {
        name: "reports",
        columns: &[
            int("id"),
            int("invitation_id"),
            int("reporter_id"),
            int("reported_id"),
            int("created_at"),
            text("status"),
            int("resolved_at"),
            int("resolved_by"),
        ],
    },
    Table {
        name: "notifications",
        columns: &[
            int("id"),
            int("member_id"),
            text("kind"),
            int("actor_id"),
            int("invitation_id"),
            int("created_at"),
            int("read_at"),
        ],
    },
    Table {
        name: "mail_queue",
        columns: &[
            int("id"),
            int("member_id"),
            text("kind"),
            text("cadence"),
            int("actor_id"),
            int("invitation_id"),
            int("created_at"),
            int("due_at"),
        ],
    },
    Table {
        name: "events",
        columns: &[
            // Numbered already: the sequencer only numbers events whose `seq` is NULL.
            Column {
                pg: "id",
                sqlite: "seq",
                kind: Kind::Int,
            },
            int("seq"),
            text("type"),
            int("invitation_id"),
            int("a_id"),
            int("b_id"),
            int("notification_id"),
            int("notified_id"),
            text("data"),
            int("created_at"),
        ],
    },
    Table {
        name: "consumers",
        columns: &[text("name"), int("seq")],
    },
    Table {
        name: "webhooks",
        columns: &[
            int("id"),
            text("url"),
            text("events"),
            text("secret"),
            int("created_at"),
            int("disabled_at"),
            text("disabled_reason"),
            int("deleted_at"),
        ],
    },
    Table {
        name: "webhook_deliveries",
        columns: &[
            int("id"),
            int("webhook_id"),
            int("event_seq"),
            text("msg_id"),
            text("type"),
            text("body"),
            text("status"),
            int("attempts"),
            int("next_attempt_at"),
            int("last_status"),
            text("last_error"),
            int("created_at"),
            int("finished_at"),
        ],
    },
];

/// SQLite tables that are not data: the search index and its shadow tables, SQLite's own.
pub(super) fn is_derived_sqlite_table(name: &str) -> bool {
    name.starts_with("sqlite_") || name == "member_search" || name.starts_with("member_search_")
}

/// `"name"`: column names such as `key`, `type` and `until` are words of SQL.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

//! The two dialects' migrations build the same schema: the same tables and columns
//! (with kinds and nullability), keys, unique constraints, indexes and foreign keys.

use std::collections::BTreeSet;

use sqlx::{Connection, Row};

use crate::helpers::fresh_postgres_database;

/// One fact about the schema, comparable across dialects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Fact {
    Column {
        table: String,
        column: String,
        kind: &'static str,
        required: bool,
    },
    /// A primary key, a unique constraint or index, or a plain index.
    Index {
        table: String,
        kind: &'static str,
        columns: Vec<String>,
    },
    ForeignKey {
        table: String,
        columns: Vec<String>,
        parent: String,
        parent_columns: Vec<String>,
        on_delete: String,
    },
}

/// The portable kind of a declared column type.
fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "bigserial" => "integer",
        "text" => "text",
        "blob" | "bytea" => "bytes",
        other => panic!("a column type the schema test does not know: {other}"),
    }
}

fn is_migration_table(table: &str) -> bool {
    table.starts_with("_sqlx")
}

async fn sqlite_schema() -> BTreeSet<Fact> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = berth::startup::open_store(&berth::config::StoreConfig {
        data_dir: dir.path().to_owned(),
        database_url: None,
        database_timeout: berth::config::DATABASE_TIMEOUT,
        region: berth::domain::Region::parse("us-east-1").expect("region"),
        blob_store: None,
    })
    .await
    .expect("migrate sqlite");
    store.close().await;
    let url = format!("sqlite://{}?mode=ro", dir.path().join("berth.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    let mut facts = BTreeSet::new();
    for table in tables.into_iter().filter(|t| !is_migration_table(t)) {
        let mut primary: Vec<(i64, String)> = Vec::new();
        for row in sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&mut conn)
            .await
            .expect("columns")
        {
            let column: String = row.get(0);
            let pk: i64 = row.get(3);
            if pk > 0 {
                primary.push((pk, column.clone()));
            }
            facts.insert(Fact::Column {
                table: table.clone(),
                column,
                kind: kind(&row.get::<String, _>(1)),
                required: row.get::<i64, _>(2) != 0 || pk > 0,
            });
        }
        primary.sort();
        facts.insert(Fact::Index {
            table: table.clone(),
            kind: "primary",
            columns: primary.into_iter().map(|(_, c)| c).collect(),
        });
        for row in sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list($1)")
            .bind(&table)
            .fetch_all(&mut conn)
            .await
            .expect("indexes")
        {
            let origin: String = row.get(2);
            if origin == "pk" {
                continue;
            }
            let name: String = row.get(0);
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(&mut conn)
                    .await
                    .expect("index columns");
            facts.insert(Fact::Index {
                table: table.clone(),
                kind: if row.get::<i64, _>(1) != 0 {
                    "unique"
                } else {
                    "index"
                },
                columns,
            });
        }
        let mut keys: std::collections::BTreeMap<i64, Fact> = Default::default();
        for row in sqlx::query(
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .expect("foreign keys")
        {
            let entry = keys.entry(row.get(0)).or_insert_with(|| Fact::ForeignKey {
                table: table.clone(),
                columns: Vec::new(),
                parent: row.get(1),
                parent_columns: Vec::new(),
                on_delete: row.get::<String, _>(4).to_ascii_uppercase(),
            });
            if let Fact::ForeignKey {
                columns,
                parent_columns,
                ..
            } = entry
            {
                columns.push(row.get(2));
                parent_columns.push(row.get(3));
            }
        }
        facts.extend(keys.into_values());
    }
    facts
}

async fn postgres_schema() -> BTreeSet<Fact> {
    let url = fresh_postgres_database().await;
    let store = berth::startup::open_store(&berth::config::StoreConfig {
        data_dir: tempfile::tempdir().expect("temp dir").path().to_owned(),
        database_url: Some(url.clone()),
        database_timeout: berth::config::DATABASE_TIMEOUT,
        region: berth::domain::Region::parse("us-east-1").expect("region"),
        blob_store: None,
    })
    .await
    .expect("migrate postgres");
    store.close().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("postgres");
    let mut facts = BTreeSet::new();
    for row in sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
         COALESCE(column_default, '') LIKE 'nextval(%' \
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns")
    {
        let table: String = row.get(0);
        if is_migration_table(&table) {
            continue;
        }
        // A serial column is an integer with a sequence behind it.
        let declared: String = row.get(2);
        let declared = if row.get::<bool, _>(4) && declared == "bigint" {
            "bigserial".to_owned()
        } else {
            declared
        };
        facts.insert(Fact::Column {
            table,
            column: row.get(1),
            kind: kind(&declared),
            required: row.get::<String, _>(3) == "NO",
        });
    }
    // Keys copied in byte order (a column `COLLATE "C"`) are Postgres's alone: they let
    // it page in the order SQLite's keys already give.
    for row in sqlx::query(
        "SELECT t.relname::text, ix.indisprimary, ix.indisunique, \
         array_agg(a.attname::text ORDER BY k.ord) \
         FROM pg_index ix \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public' \
         JOIN unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE NOT 'C' = ANY (SELECT c.collname::text FROM unnest(ix.indcollation) AS u(oid) \
                              JOIN pg_collation c ON c.oid = u.oid) \
         GROUP BY ix.indexrelid, t.relname, ix.indisprimary, ix.indisunique",
    )
    .fetch_all(&mut conn)
    .await
    .expect("indexes")
    {
        let table: String = row.get(0);
        if is_migration_table(&table) {
            continue;
        }
        facts.insert(Fact::Index {
            table,
            kind: match (row.get::<bool, _>(1), row.get::<bool, _>(2)) {
                (true, _) => "primary",
                (false, true) => "unique",
                (false, false) => "index",
            },
            columns: row.get(3),
        });
    }
    for row in sqlx::query(
        "SELECT t.relname::text, p.relname::text, \
         (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) \
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum), \
         (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord) \
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum), \
         c.confdeltype::text \
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class p ON p.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public' \
         WHERE c.contype = 'f'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("foreign keys")
    {
        facts.insert(Fact::ForeignKey {
            table: row.get(0),
            parent: row.get(1),
            columns: row.get(2),
            parent_columns: row.get(3),
            on_delete: match row.get::<String, _>(4).as_str() {
                "c" => "CASCADE",
                "a" => "NO ACTION",
                "r" => "RESTRICT",
                "n" => "SET NULL",
                "d" => "SET DEFAULT",
                other => panic!("confdeltype {other}"),
            }
            .to_owned(),
        });
    }
    facts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_match() {
    let (sqlite, postgres) = tokio::join!(sqlite_schema(), postgres_schema());
    assert!(
        sqlite.iter().any(|f| matches!(f, Fact::Column { .. })),
        "the schema was read"
    );
    let only_sqlite: Vec<&Fact> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<&Fact> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:#?}\nonly in Postgres: {only_postgres:#?}"
    );
}

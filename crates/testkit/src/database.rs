//! Fresh databases for tests: a SQLite file in a temporary directory, or a new PostgreSQL
//! database on the server named by `STSD_TEST_POSTGRES_URL`. The PostgreSQL variant never
//! skips: without a reachable server the test fails, saying so.

use sqlx::{Connection, Executor};

/// Where PostgreSQL tests create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("STSD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test. Call [`TestDatabase::drop_database`] at the end.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    // A clash only makes CREATE DATABASE fail loudly; the time keeps it unlikely even if
    // the random source failed.
    if getrandom::fill(&mut b).is_err() {
        b = u64::try_from(
            std::time::UNIX_EPOCH
                .elapsed()
                .map(|d| d.as_nanos())
                .unwrap_or(0)
                % u128::from(u64::MAX),
        )
        .unwrap_or(0)
        .to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl TestDatabase {
    /// A SQLite database in a new temporary directory.
    ///
    /// # Panics
    /// When no temporary directory can be created.
    #[allow(
        clippy::expect_used,
        reason = "test support: failing loudly is the point"
    )]
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let url = format!("sqlite://{}/stsd.db", dir.path().display());
        TestDatabase {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// A new, empty PostgreSQL database.
    ///
    /// # Panics
    /// When PostgreSQL is not reachable or the database cannot be created.
    #[allow(clippy::panic, reason = "test support: failing loudly is the point")]
    pub async fn postgres() -> TestDatabase {
        let admin_url = postgres_admin_url();
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => panic!(
                "PostgreSQL is required for these tests and is not reachable at {admin_url} \
                 (set STSD_TEST_POSTGRES_URL): {e}"
            ),
        };
        let name = format!("stsd_test_{}", random_suffix());
        if let Err(e) = admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
        {
            panic!("cannot create test database {name}: {e}");
        }
        let _ = admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin_url.clone());
        TestDatabase {
            url: format!("{base}/{name}"),
            pg_name: Some(name),
            _dir: None,
        }
    }

    /// The database URL to give `Store::connect`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Removes the database (PostgreSQL) or its directory (SQLite). Close pools first.
    pub async fn drop_database(self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_admin_url()).await
        {
            // A leftover database costs disk, not correctness; the name is unique.
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
            let _ = admin.close().await;
        }
    }
}

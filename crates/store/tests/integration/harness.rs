//! Fresh databases for tests, and a macro that runs one test body on both backends.

use sqlx::{Connection, Executor};
use stsd_store::Store;

/// Where the PostgreSQL tests connect to create their databases.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("STSD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A migrated store on a database of its own, removed by [`TestDb::finish`].
pub(crate) struct TestDb {
    pub(crate) store: Store,
    /// The URL of this database, for opening a second "node" on it.
    pub(crate) url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub(crate) async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/stsd.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        TestDb {
            store,
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    pub(crate) async fn postgres() -> TestDb {
        let admin_url = postgres_admin_url();
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for the store tests and is not reachable at {admin_url} \
                 (set STSD_TEST_POSTGRES_URL): {e}"
            )
        });
        let name = format!("stsd_test_{}", uuid_simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        TestDb {
            store,
            url,
            pg_name: Some(name),
            _dir: None,
        }
    }

    /// Closes the store and drops the PostgreSQL database.
    pub(crate) async fn finish(self) {
        self.store.close().await;
        if let Some(name) = self.pg_name {
            let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
                .await
                .unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

fn uuid_simple() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `both_backends!(a, b)` turns `async fn a(db: &TestDb)` into the tests `sqlite::a` and
/// `postgres::a`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::harness::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::harness::TestDb::postgres().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

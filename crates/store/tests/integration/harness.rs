//! A migrated store on a fresh database, and a macro that runs one test body on both backends.

use stsd_store::Store;
use stsd_testkit::TestDatabase;

/// A migrated store on a database of its own, removed by [`TestDb::finish`].
pub(crate) struct TestDb {
    pub(crate) store: Store,
    /// The URL of this database, for opening a second "node" on it.
    pub(crate) url: String,
    db: TestDatabase,
}

impl TestDb {
    async fn open(db: TestDatabase) -> TestDb {
        let store = Store::connect(db.url()).await.unwrap();
        store.migrate().await.unwrap();
        TestDb {
            store,
            url: db.url().to_owned(),
            db,
        }
    }

    pub(crate) async fn sqlite() -> TestDb {
        TestDb::open(TestDatabase::sqlite().await).await
    }

    pub(crate) async fn postgres() -> TestDb {
        TestDb::open(TestDatabase::postgres().await).await
    }

    /// Closes the store and drops the database.
    pub(crate) async fn finish(self) {
        self.store.close().await;
        self.db.drop_database().await;
    }
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

//! The per-test PostgreSQL database helper, against the run's private cluster (skipped, with the reason
//! printed, when `scripts/test.sh` did not start one).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use ferry_testkit::postgres::TestDatabase;

#[test]
fn each_test_gets_an_empty_database_of_its_own_which_is_dropped_after_it() {
    let Some(a) = TestDatabase::create("helper_a").unwrap() else {
        return;
    };
    let b = TestDatabase::create("helper_a").unwrap().unwrap();
    assert_ne!(a.name(), b.name());
    assert_ne!(a.url(), b.url());
    // Each answers on its own URL and starts with no tables.
    assert_eq!(
        a.psql("SELECT current_database()").unwrap().trim(),
        a.name()
    );
    assert_eq!(
        a.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .unwrap()
            .trim(),
        "0"
    );
    // A table in one is not in the other.
    a.psql("CREATE TABLE t (x int)").unwrap();
    assert_eq!(
        b.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .unwrap()
            .trim(),
        "0"
    );
    let name = a.name().to_string();
    assert!(TestDatabase::exists_in_cluster(&name).unwrap());
    drop(a);
    assert!(!TestDatabase::exists_in_cluster(&name).unwrap());
}

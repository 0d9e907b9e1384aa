//! The usage log's rows of each number (`sms_usage_by_number`), written in
//! batches. An index of the log on its number took a page at a random place
//! for each row, in each of a message's two commits; here the log writer
//! adds the entries of every row since the last batch at once, sorted by
//! number, so that a page of entries is written once a batch however many of
//! its numbers wrote. Rows past `upto` have no entry yet: the log filtered
//! by number reads them from the log itself (`reports.rs`).
//!
//! A row's number is written with the row and never changed, so an entry,
//! once there, stays right until its row is purged.

use rusqlite::Connection;

/// Of a usage-log row `l`: it has no entry yet.
pub(super) const NO_ENTRY_YET: &str = "l.id > (SELECT upto FROM sms_usage_by_number_upto)";

/// Adds the entries of the rows past `upto` and moves `upto` to the last
/// row, in the caller's transaction. Answers how many were added.
pub(super) fn catch_up(conn: &Connection) -> rusqlite::Result<usize> {
    let added = conn
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO sms_usage_by_number (phone_number, log_id)
             SELECT l.phone_number, l.id FROM sms_usage_logs l
             WHERE {NO_ENTRY_YET} AND l.phone_number IS NOT NULL
             ORDER BY l.phone_number, l.id"
        ))?
        .execute([])?;
    conn.prepare_cached(
        "UPDATE sms_usage_by_number_upto
         SET upto = max(upto, coalesce((SELECT max(id) FROM sms_usage_logs), 0))",
    )?
    .execute([])?;
    Ok(added)
}

/// Removes the entry of a row about to be purged, in the purge's
/// transaction.
pub(super) fn forget(conn: &Connection, number: &str, id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM sms_usage_by_number WHERE phone_number = ?1 AND log_id = ?2")?
        .execute(rusqlite::params![number, id])?;
    Ok(())
}

/// After a purge: when the log's last rows are gone, the next rows take
/// their ids again (SQLite gives a new row the largest id plus one), so
/// `upto` comes back to the last row left, or those rows would be taken for
/// rows with entries.
pub(super) fn after_purge(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE sms_usage_by_number_upto
         SET upto = min(upto, coalesce((SELECT max(id) FROM sms_usage_logs), 0))",
    )?
    .execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::reports::{list, list_query};
    use super::*;
    use crate::domain::phone::PhoneNumber;
    use crate::domain::report::UsageFilter;
    use crate::ports::PageRequest;

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        conn
    }

    fn log(conn: &Connection, number: Option<&str>) -> i64 {
        conn.query_row(
            "INSERT INTO sms_usage_logs (phone_number, direction, outcome) VALUES (?1, 'outbound', 'routed')
             RETURNING id",
            [number],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn entries(conn: &Connection) -> Vec<(String, i64)> {
        conn.prepare("SELECT phone_number, log_id FROM sms_usage_by_number ORDER BY log_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn upto(conn: &Connection) -> i64 {
        conn.query_row("SELECT upto FROM sms_usage_by_number_upto", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_batch_adds_the_rows_since_the_last_and_no_row_twice() {
        let conn = database();
        let a = log(&conn, Some("+14155550100"));
        let none = log(&conn, None);
        assert_eq!(catch_up(&conn).unwrap(), 1);
        assert_eq!(upto(&conn), none);
        let b = log(&conn, Some("+14155550101"));
        let c = log(&conn, Some("+14155550100"));

        assert_eq!(catch_up(&conn).unwrap(), 2);
        assert_eq!(catch_up(&conn).unwrap(), 0);

        assert_eq!(
            entries(&conn),
            [
                ("+14155550100".to_owned(), a),
                ("+14155550101".to_owned(), b),
                ("+14155550100".to_owned(), c)
            ]
        );
        assert_eq!(upto(&conn), c);
    }

    #[test]
    fn rows_that_take_purged_ids_again_are_not_taken_for_rows_with_entries() {
        let conn = database();
        let first = log(&conn, Some("+14155550100"));
        let last = log(&conn, Some("+14155550100"));
        catch_up(&conn).unwrap();
        for id in [first, last] {
            forget(&conn, "+14155550100", id).unwrap();
        }
        conn.execute("DELETE FROM sms_usage_logs", []).unwrap();
        after_purge(&conn).unwrap();

        let again = log(&conn, Some("+14155550199"));
        assert_eq!(again, first, "SQLite gives the emptied log's ids again");
        catch_up(&conn).unwrap();

        assert_eq!(entries(&conn), [("+14155550199".to_owned(), again)]);
    }

    /// The log filtered by number, page by page, newest first.
    fn pages(conn: &Connection, number: &str) -> Vec<i64> {
        let filter = UsageFilter {
            phone_number: Some(PhoneNumber::from_stored(number).unwrap()),
            ..UsageFilter::default()
        };
        let (mut ids, mut after) = (Vec::new(), None);
        loop {
            let page = list(conn, &filter, PageRequest { after, limit: 2 }).unwrap();
            let more = page.len() > 2;
            ids.extend(page.iter().take(2).map(|e| e.id));
            if !more {
                return ids;
            }
            after = ids.last().copied();
        }
    }

    #[test]
    fn a_number_is_listed_whole_and_in_order_whether_its_rows_have_entries_yet_or_not() {
        let conn = database();
        let mut theirs = Vec::new();
        for i in 0..11 {
            let number = if i % 3 == 0 { "+14155550199" } else { "+14155550100" };
            let id = log(&conn, Some(number));
            if number == "+14155550100" {
                theirs.push(id);
            }
            if i == 5 {
                catch_up(&conn).unwrap();
            }
        }
        theirs.reverse();

        assert_eq!(pages(&conn, "+14155550100"), theirs);
        catch_up(&conn).unwrap();
        assert_eq!(pages(&conn, "+14155550100"), theirs);
    }

    #[test]
    fn a_number_is_read_by_its_entries_and_the_rows_after_them_not_by_the_whole_log() {
        let conn = database();
        let filter = UsageFilter {
            phone_number: Some(PhoneNumber::from_stored("+14155550100").unwrap()),
            direction: Some(crate::domain::report::Direction::Inbound),
            ..UsageFilter::default()
        };
        let (sql, _) = list_query(
            &filter,
            PageRequest {
                after: Some(9),
                limit: 2,
            },
        );
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(
                rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Value::Null, 7)),
                |r| r.get(3),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let scans: Vec<_> = plan.iter().filter(|step| step.starts_with("SCAN")).collect();
        let plan = plan.join("\n");

        assert!(plan.starts_with("MERGE (UNION ALL)"), "{plan}");
        assert!(
            plan.contains("SEARCH b USING PRIMARY KEY (phone_number=? AND log_id<?)"),
            "{plan}"
        );
        assert!(
            plan.contains("SEARCH l USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
            "{plan}"
        );
        assert_eq!(
            scans,
            ["SCAN sms_usage_by_number_upto"],
            "only its one row is scanned: {plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}

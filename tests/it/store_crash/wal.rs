//! Reading SQLite's write-ahead log after a kill, before anything reopens
//! the store (which would recover it): how far the killed writer got.

use std::path::Path;

/// What SQLite's write-ahead log holds: frames up to its last commit frame
/// (committed, not yet checkpointed away), and frames after it (pages of a
/// transaction whose commit frame was never written).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wal {
    pub committed: usize,
    pub uncommitted: usize,
}

/// The frames of the current generation of the WAL at `path`; `None` when
/// there is no WAL. Frames count only while their salts match the header
/// and their cumulative checksums hold (sqlite.org/fileformat2.html, *WAL
/// File Format*), so the stale tail of an earlier cut transaction,
/// overwritten in part since, is not counted again.
pub fn wal_frames(path: &Path) -> Option<Wal> {
    let bytes = std::fs::read(path).ok()?;
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    if bytes.len() < 32 || be(0) & !1 != 0x377f_0682 {
        return None;
    }
    let big_endian = be(0) & 1 == 1;
    let page = match be(8) {
        1 => 65536,
        n => n as usize,
    };
    let checksum = |seed: (u32, u32), data: &[u8]| {
        let (mut s0, mut s1) = seed;
        for pair in data.chunks_exact(8) {
            let word = |b: &[u8]| {
                let w: [u8; 4] = b.try_into().unwrap();
                if big_endian {
                    u32::from_be_bytes(w)
                } else {
                    u32::from_le_bytes(w)
                }
            };
            s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
            s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
        }
        (s0, s1)
    };
    let mut sum = checksum((0, 0), &bytes[..24]);
    let mut wal = Wal::default();
    if sum != (be(24), be(28)) {
        return Some(wal);
    }
    let mut at = 32;
    while at + 24 + page <= bytes.len() {
        if (be(at + 8), be(at + 12)) != (be(16), be(20)) {
            break;
        }
        let next = checksum(
            checksum(sum, &bytes[at..at + 8]),
            &bytes[at + 24..at + 24 + page],
        );
        if next != (be(at + 16), be(at + 20)) {
            break;
        }
        sum = next;
        wal.uncommitted += 1;
        if be(at + 4) != 0 {
            wal.committed += wal.uncommitted;
            wal.uncommitted = 0;
        }
        at += 24 + page;
    }
    Some(wal)
}

/// The WAL reader behind the `wal_*` figures counts the pages of a
/// transaction whose commit frame is not written yet, and nothing once it
/// is: a zero in the figures means no kill fell there, not a blind reader.
#[test]
fn the_wal_reader_sees_a_transaction_cut_before_its_commit_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(tmp.path().join("t.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch("CREATE TABLE t (b BLOB)").unwrap();
    let wal = tmp.path().join("t.db-wal");
    let empty = wal_frames(&wal).unwrap();
    assert_eq!(empty.uncommitted, 0, "{empty:?}");
    // A small page cache spills the open transaction's pages into the WAL.
    conn.pragma_update(None, "cache_size", 10).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for _ in 0..100 {
        conn.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
            .unwrap();
    }
    // The WAL as a kill at this moment would leave it.
    let cut = tmp.path().join("cut-wal");
    std::fs::copy(&wal, &cut).unwrap();
    let open = wal_frames(&cut).unwrap();
    assert!(open.uncommitted > 10, "{open:?}");
    assert_eq!(open.committed, empty.committed, "{open:?}");
    conn.execute_batch("COMMIT").unwrap();
    let done = wal_frames(&wal).unwrap();
    assert_eq!(done.uncommitted, 0, "{done:?}");
    assert!(done.committed > open.uncommitted, "{done:?}");
    assert_eq!(wal_frames(&tmp.path().join("none")), None);
}

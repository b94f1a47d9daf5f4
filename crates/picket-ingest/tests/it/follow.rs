//! Following a growing file: resume from a checkpoint loses and repeats nothing; rotation,
//! truncation and in-place rewrites are noticed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use picket_ingest::{Checkpoint, ConnEvent, Follower, IngestError, Input};

use crate::fixed_clock;

fn line(uid: &str, port: u16) -> String {
    format!(
        "{{\"ts\":1714564800,\"src\":\"198.51.100.7\",\"dst\":\"10.0.0.5\",\"dst_port\":{port},\"proto\":\"tcp\",\"uid\":\"{uid}\"}}\n"
    )
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Everything available now, as uids (errors as `error:` + message).
fn drain(f: &mut Follower) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(item) = f.next_event() {
        out.push(uid(item));
    }
    out
}

fn uid(item: Result<ConnEvent, IngestError>) -> String {
    match item {
        Ok(ev) => ev.uid.unwrap_or_default(),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn partial_lines_wait_and_resume_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    append(
        &path,
        &format!("{}{}{}", line("a", 1), line("b", 2), line("c", 3)),
    );
    let partial = line("d", 4);
    let (head, tail) = partial.split_at(20);
    append(&path, head);

    let mut f = Follower::new(&path, None).with_clock(fixed_clock);
    assert_eq!(f.next_event().map(uid).as_deref(), Some("a"));
    let after_a = f.checkpoint();
    assert_eq!(drain(&mut f), ["b", "c"], "the partial line waits");
    assert_eq!(f.checkpoint().input, Some(Input::Ndjson));
    assert_eq!(f.checkpoint().line, 3);

    append(&path, tail);
    append(&path, &line("e", 5));
    assert_eq!(drain(&mut f), ["d", "e"]);
    let end = f.checkpoint();

    // A second session from the checkpoint after `a` sees exactly what followed it.
    let json = serde_json::to_string(&after_a).unwrap();
    let restored: Checkpoint = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, after_a);
    let mut g = Follower::resume(restored).with_clock(fixed_clock);
    assert_eq!(drain(&mut g), ["b", "c", "d", "e"]);
    assert_eq!(g.checkpoint(), end);

    // And one from the end sees only what is appended later.
    let mut h = Follower::resume(end).with_clock(fixed_clock);
    assert!(drain(&mut h).is_empty());
    append(&path, &line("f", 6));
    assert_eq!(drain(&mut h), ["f"]);
}

#[test]
fn every_checkpoint_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let uids: Vec<String> = (0..8).map(|i| format!("u{i}")).collect();
    let mut text = String::new();
    for (i, u) in uids.iter().enumerate() {
        text.push_str(&line(u, 1000 + i as u16));
        if i % 3 == 0 {
            text.push('\n'); // blank lines are skipped, not events
        }
    }
    append(&path, &text);
    let mut f = Follower::new(&path, Some(Input::Ndjson));
    let mut checkpoints = Vec::new();
    while let Some(item) = f.next_event() {
        item.unwrap();
        checkpoints.push(f.checkpoint());
    }
    assert_eq!(checkpoints.len(), uids.len());
    for (k, cp) in checkpoints.into_iter().enumerate() {
        let mut g = Follower::resume(cp);
        assert_eq!(drain(&mut g), uids[k + 1..], "resumed after event {k}");
    }
}

#[test]
fn zeek_header_survives_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    let fixture = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zeek_conn_brimdata_zed.log"),
    )
    .unwrap();
    let lines: Vec<&str> = fixture.lines().collect();
    let (first, rest) = lines.split_at(20);
    append(&path, &(first.join("\n") + "\n"));
    let mut f = Follower::new(&path, None);
    let seen = drain(&mut f);
    assert_eq!(seen.len(), 12, "8 header lines, 12 rows");
    let cp = f.checkpoint();
    assert_eq!(cp.input, Some(Input::ZeekTsv));
    assert!(cp.header.iter().any(|h| h.starts_with("#fields\t")));
    drop(f);

    append(&path, &(rest.join("\n") + "\n"));
    let mut g = Follower::resume(cp);
    let more = drain(&mut g);
    assert_eq!(
        more.len(),
        80,
        "rows after the checkpoint, then nothing for #close"
    );
    assert!(more.iter().all(|u| u.starts_with('C')), "{more:?}");
    assert_eq!(g.stats().errors, 0);
}

#[test]
fn truncation_restarts_from_the_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    append(
        &path,
        &format!("{}{}{}", line("a", 1), line("b", 2), line("c", 3)),
    );
    let mut f = Follower::new(&path, Some(Input::Ndjson));
    assert_eq!(drain(&mut f), ["a", "b", "c"]);
    // copytruncate: the file is emptied in place, then written again.
    File::create(&path).unwrap();
    append(&path, &line("x", 9));
    assert_eq!(drain(&mut f), ["x"]);
    assert_eq!(f.checkpoint().line, 1);
}

#[test]
fn in_place_rewrite_is_noticed_by_the_head_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    append(&path, &line("a", 1));
    let mut f = Follower::new(&path, Some(Input::Ndjson));
    assert_eq!(drain(&mut f), ["a"]);
    let cp = f.checkpoint();
    drop(f);
    // Same inode, longer than the old offset, different beginning.
    fs::write(&path, format!("{}{}", line("p", 7), line("q", 8))).unwrap();
    let mut g = Follower::resume(cp);
    assert_eq!(drain(&mut g), ["p", "q"]);
}

/// Lines `prefix000`, `prefix001` ... for `range`, all of one length.
fn numbered(prefix: &str, range: std::ops::Range<u16>) -> String {
    range.map(|i| line(&format!("{prefix}{i:03}"), i)).collect()
}

#[test]
fn truncation_refilled_past_the_offset_with_the_same_beginning_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    // About 12 KiB: the head hash sees only the first 4 KiB.
    append(&path, &numbered("l", 0..100));
    let mut f = Follower::new(&path, Some(Input::Ndjson));
    assert_eq!(drain(&mut f).len(), 100);
    let cp = f.checkpoint();
    // copytruncate, then the same first half and new lines, to beyond the old size, all before
    // the follower looks again.
    File::create(&path).unwrap();
    append(
        &path,
        &format!("{}{}", numbered("l", 0..50), numbered("n", 50..110)),
    );
    let expected: Vec<String> = (0..50)
        .map(|i| format!("l{i:03}"))
        .chain((50..110).map(|i| format!("n{i:03}")))
        .collect();
    assert_eq!(drain(&mut f), expected);
    // The same, found on resume from a checkpoint taken before the rewrite.
    let mut g = Follower::resume(cp);
    assert_eq!(drain(&mut g), expected);
}

#[test]
fn rotation_finishes_the_old_file_then_reads_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    append(&path, &format!("{}{}", line("a", 1), line("b", 2)));
    let mut f = Follower::new(&path, Some(Input::Ndjson));
    assert_eq!(drain(&mut f), ["a", "b"]);

    // The writer's last line lands in the old file after the rename, before it reopens.
    let old = dir.path().join("events.ndjson.1");
    fs::rename(&path, &old).unwrap();
    assert!(drain(&mut f).is_empty(), "no new file yet");
    append(&old, &line("c", 3));
    append(&path, &format!("{}{}", line("n1", 4), line("n2", 5)));
    assert_eq!(drain(&mut f), ["c", "n1", "n2"]);
    let cp = f.checkpoint();
    assert_eq!(cp.line, 2);
    assert_eq!(cp.inode, {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&path).unwrap().ino()
    });

    // A resume from a checkpoint of the old file starts the new one from its beginning.
    let mut stale = cp.clone();
    stale.inode = stale.inode.wrapping_add(1);
    let mut g = Follower::resume(stale);
    assert_eq!(drain(&mut g), ["n1", "n2"]);
}

#[test]
fn waits_for_a_missing_file_and_an_undecided_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.log");
    let mut f = Follower::new(&path, None).with_clock(fixed_clock);
    assert!(f.next_event().is_none(), "no file yet");
    append(&path, "#close\t2024\n");
    assert!(f.next_event().is_none(), "one line decides nothing yet");
    append(
        &path,
        "    [NEW] tcp      6 120 SYN_SENT src=198.51.100.7 dst=10.0.0.5 sport=40000 dport=22 [UNREPLIED] src=10.0.0.5 dst=198.51.100.7 sport=22 dport=40000\n",
    );
    let items: Vec<String> = drain(&mut f);
    assert_eq!(f.checkpoint().input, Some(Input::Conntrack));
    assert_eq!(items.len(), 2);
    assert!(items[0].starts_with("error: "), "{items:?}");
}

#[test]
fn undetectable_file_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.txt");
    let junk: String = (0..40).map(|i| format!("junk line {i}\n")).collect();
    append(&path, &junk);
    let mut f = Follower::new(&path, None);
    let e = f.next_event().unwrap().unwrap_err();
    assert!(matches!(e, IngestError::UnknownFormat { .. }), "{e}");
    assert!(f.next_event().is_none());
}

#[test]
fn pretty_printed_json_is_one_error_when_followed() {
    let dir = tempfile::tempdir().unwrap();
    let pretty = "{\n  \"ts\": 1714564800,\n  \"src\": \"198.51.100.7\"\n}\n";
    for input in [None, Some(Input::Ndjson)] {
        let path = dir.path().join(format!("pretty-{}.json", input.is_some()));
        append(&path, pretty);
        let mut f = Follower::new(&path, input).with_clock(fixed_clock);
        let items = drain(&mut f);
        assert_eq!(items.len(), 1, "{input:?}: {items:?}");
        assert!(
            items[0].contains(":1: JSON spread over many lines"),
            "{items:?}"
        );
        // More of the same later is not read either.
        append(&path, pretty);
        assert!(f.next_event().is_none());
    }
}

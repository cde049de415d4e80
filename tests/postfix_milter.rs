//! Milter mode end to end with a real Postfix (Debian's `postfix`, started by the test on
//! loopback ports from its own config directory): Postfix's smtpd calls Hallpass's milter,
//! then relays to a recording SMTP sink. A clean message arrives with X-Hallpass-Result; a
//! pupil's name to an outside address is refused by Postfix with Hallpass's guidance; a class
//! list to a partner is held in Hallpass's quarantine and not delivered; a mixed message
//! reaches the colleague only.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::milter_mta::milter_outcomes;
use common::postfix::*;
use common::serve;

/// Hallpass (the milter listener, `hold` as given, notices through the sink; no review page
/// or metrics) and a private Postfix calling it, relaying to a recording sink. Returns them
/// with Postfix's smtpd port and what reached the sink.
async fn hallpass_and_postfix(
    tmp: &Path,
    hold: &str,
) -> (serve::Served, Postfix, u16, Arc<Mutex<Vec<Got>>>) {
    let smtpd = free_port();
    let (sink_port, got) = recording_sink().await;
    let hallpass = serve::with_milter(tmp, sink_port, hold);
    let milter = hallpass.milter();
    let postfix = postfix(
        &tmp.join("postfix"),
        smtpd,
        sink_port,
        &format!("smtpd_milters = inet:127.0.0.1:{milter}\nmilter_default_action = tempfail\n"),
        "",
    );
    (hallpass, postfix, smtpd, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_with_the_hallpass_milter() {
    let tmp = tempfile::tempdir().unwrap();
    let hp = tmp.path().join("hallpass");
    let (hallpass, _postfix, smtpd, got) = hallpass_and_postfix(tmp.path(), "hallpass").await;

    milter_outcomes(smtpd, &got, &hp.join("hallpass.toml")).await;
    drop(hallpass);
}

/// `hold = "mta"`: held mail goes to Postfix's own hold queue (SMFIR_QUARANTINE); nothing is delivered until the postmaster releases it
/// with `postsuper -H` (and flushes the queue), and then it is delivered (milters do not run
/// again on release).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_holds_in_its_own_queue_with_hold_mta() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let tmp = tempfile::tempdir().unwrap();
    let (_hallpass, postfix, smtpd, got) = hallpass_and_postfix(tmp.path(), "mta").await;
    let staff = "luke.rich0@beaulieupark.example.sch.uk";
    let partner = "mash@essex.gov.uk";
    let class_list = std::fs::read(samples.join("messages/class-list-csv-to-partner.eml")).unwrap();
    send(smtpd, staff, &[partner], &class_list)
        .await
        .expect("Postfix accepts it into its hold queue");
    // In the hold queue (a readiness poll, up to 60 s).
    let queue = |conf: &Path| {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(conf)
            .arg("-j")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let mut held = Vec::new();
    for _ in 0..600 {
        held = queue(postfix.conf());
        if !held.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["queue_name"], "hold", "{held:?}");
    assert_eq!(held[0]["recipients"][0]["address"], partner, "{held:?}");
    // Hallpass logs Postfix's queue id beside its reference, to find the held message.
    let queue_id = held[0]["queue_id"].as_str().unwrap().to_string();
    let hallpass_log = std::fs::read_to_string(tmp.path().join("hallpass.log")).unwrap();
    assert!(
        hallpass_log.lines().any(|l| l.contains("message (milter)")
            && l.contains("reference=HP-")
            && l.contains(&format!("queue_id={queue_id}"))),
        "{hallpass_log}"
    );
    let log = std::fs::read_to_string(tmp.path().join("postfix/postfix.log")).unwrap();
    assert!(
        log.contains("milter-hold: END-OF-MESSAGE")
            && log.contains("milter triggers HOLD action; from=<luke.rich0@"),
        "{log}"
    );
    // Nothing left Postfix while it was held, and Hallpass kept no copy of its own.
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.rcpts.iter().any(|r| r == partner))
    );
    let list = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["quarantine", "list", "--config"])
        .arg(tmp.path().join("hallpass/hallpass.toml"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 0);
    // The postmaster releases it: delivered.
    let released = Command::new("postsuper")
        .arg("-c")
        .arg(postfix.conf())
        .args(["-H", "ALL"])
        .status()
        .unwrap();
    assert!(released.success());
    // Released mail waits in the deferred queue for the next queue run; flush it now.
    let flushed = Command::new("postqueue")
        .arg("-c")
        .arg(postfix.conf())
        .arg("-f")
        .status()
        .unwrap();
    assert!(flushed.success());
    let g = arrives(&got, |g| g.rcpts.iter().any(|r| r == partner)).await;
    assert!(g.data.contains("cohort.csv"));
}

/// The recipient rule in milter mode: `%`, `!` in the local part are refused at RCPT with
/// 553 5.1.3 (Postfix passes Hallpass's reply to the client), while an ordinary recipient
/// in the same transaction is accepted and delivered alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_recipients_are_refused_by_the_milter() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let (_hallpass, _postfix, smtpd, got) = hallpass_and_postfix(tmp.path(), "hallpass").await;
    let staff = "luke.rich0@beaulieupark.example.sch.uk";
    let colleague = "rosie.griffiths1@beaulieupark.example.sch.uk";
    let sock = tokio::net::TcpStream::connect(("127.0.0.1", smtpd))
        .await
        .unwrap();
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    let mut reply = async |line: &str| {
        if !line.is_empty() {
            wr.write_all(format!("{line}\r\n").as_bytes())
                .await
                .unwrap();
        }
        let mut all = String::new();
        loop {
            let mut l = String::new();
            rd.read_line(&mut l).await.unwrap();
            all.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    };
    assert!(reply("").await.starts_with("220"));
    reply("EHLO client.example").await;
    assert!(
        reply(&format!("MAIL FROM:<{staff}>"))
            .await
            .starts_with("250")
    );
    for rcpt in [
        "user%outside.example@beaulieupark.example.sch.uk",
        "outside.example!user@beaulieupark.example.sch.uk",
    ] {
        let r = reply(&format!("RCPT TO:<{rcpt}>")).await;
        assert!(r.starts_with("553 5.1.3"), "{rcpt}: {r}");
        assert!(r.contains("user@domain"), "{r}");
    }
    assert!(
        reply(&format!("RCPT TO:<{colleague}>"))
            .await
            .starts_with("250")
    );
    assert!(reply("DATA").await.starts_with("354"));
    let r = reply("Subject: lunch\r\n\r\nSee you at lunch.\r\n.").await;
    assert!(r.starts_with("250"), "{r}");
    reply("QUIT").await;
    let g = arrives(&got, |g| g.data.contains("See you at lunch")).await;
    assert_eq!(g.rcpts, [colleague]);
}

/// Detection as staff write, through the milter: the wrong child named to a parent at
/// nhs.net and a family-name-first name to a tutor are refused by Postfix with Hallpass's
/// reply; a reply quoting a supplier who shares a pupil's name, and a bus stop named like a
/// pupil, are delivered (the same samples as tests/names.rs through the relay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_milter_judges_names_as_staff_write_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (_hallpass, _postfix, smtpd, got) = hallpass_and_postfix(tmp.path(), "hallpass").await;
    for name in ["contact-at-nhs-wrong-child", "name-family-first-to-tutor"] {
        let (raw, from, to) = sample_message(name);
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let refused = send(smtpd, &from, &to, &raw)
            .await
            .expect_err(&format!("{name} was accepted"));
        assert!(refused.contains("5.7.1"), "{name}: {refused}");
    }
    for name in [
        "clean-quoted-writer-shares-a-pupil-name",
        "clean-place-bus-stop-external",
    ] {
        let (raw, from, to) = sample_message(name);
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        send(smtpd, &from, &to, &raw)
            .await
            .unwrap_or_else(|e| panic!("{name} refused: {e}"));
        let id = format!("<{name}@hallpass.samples>");
        let g = arrives(&got, |g| g.data.contains(&id)).await;
        assert_eq!(g.rcpts, to, "{name}");
    }
    assert!(
        !got.lock().unwrap().iter().any(|g| g
            .data
            .contains("<contact-at-nhs-wrong-child@hallpass.samples>")
            || g.data
                .contains("<name-family-first-to-tutor@hallpass.samples>")),
        "a refused sample was delivered"
    );
}

/// A deliberate send through the milter is honoured as through the relay (it used to be
/// refused in milter mode): delivered by Postfix with the tag taken out of the Subject and
/// the body unchanged, and the data lead told; a school that does not allow overrides still
/// gets the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_milter_honours_a_deliberate_send() {
    let tmp = tempfile::tempdir().unwrap();
    let (_hallpass, _postfix, smtpd, got) = hallpass_and_postfix(tmp.path(), "hallpass").await;
    let bos_staff = "callum.watson0@boswells.example.sch.uk";
    let supplier = "bookings@coach-hire.example.com";
    let pupil = "Chloé Richards"; // the first pupil of samples/boswells-ctf.xml
    let raw = format!(
        "From: {bos_staff}\r\nTo: {supplier}\r\nSubject: Work experience [dlp-override: employer needs the name] placement\r\nMessage-ID: <deliberate@milter.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{pupil} starts on Monday.\r\n"
    );
    send(smtpd, bos_staff, &[supplier], raw.as_bytes())
        .await
        .expect("a deliberate send is delivered");
    let g = arrives(&got, |g| g.data.contains("<deliberate@milter.test>")).await;
    assert_eq!(g.rcpts, [supplier]);
    assert!(
        g.data.contains("\nSubject: Work experience placement\r\n"),
        "{}",
        g.data
    );
    assert!(!g.data.contains("dlp-override"), "{}", g.data);
    assert!(g.data.contains(&format!("{pupil} starts on Monday.")));
    let told = arrives(&got, |g| {
        g.data.contains("X-Hallpass-Notice: override") && g.rcpts == ["dpo@boswells.example.sch.uk"]
    })
    .await;
    assert!(told.data.contains(bos_staff), "{}", told.data);
    // The Beaulieu Park school does not allow overrides: refused, tag or not.
    let refused = send(
        smtpd,
        "luke.rich0@beaulieupark.example.sch.uk",
        &[supplier],
        b"From: luke.rich0@beaulieupark.example.sch.uk\r\nSubject: seats [dlp-override: trust me]\r\n\r\nPlease seat Leah Walker at the front.\r\n",
    )
    .await
    .unwrap_err();
    assert!(refused.contains("5.7.1"), "{refused}");
}

//! Clients that never finish their requests, or never leave: what they can
//! hold is bounded by the header and idle timeouts and the connection cap.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const ADA: &str = "+12015550123";

/// Reads until the server closes the connection or `limit` passes;
/// answers what was read and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (seen, false),
            Ok(Ok(0) | Err(_)) => return (seen, true),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// CPU time the process has used, user and system, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's closing parenthesis; utime and stime
    // are the 14th and 15th of the line.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf reads a constant.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_unfinished_requests_holds_the_webhook_up_no_longer_than_the_header_timeout() {
    raise_open_file_limit();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let agent = FakeAgent::start().await;
    let envs = [
        ("SMS_ROUTER_TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
    ];
    // The usual open-file limit, which the server cannot raise.
    let server = tokio::task::block_in_place(|| {
        RunningServer::start_under(&["prlimit", "--nofile=1024:1024"], &db, &envs, &["serve"])
    });
    let pid = server.child.id();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();

    let mut unfinished = Vec::new();
    for _ in 0..1100 {
        let mut stream = TcpStream::connect(&server.bind).await.unwrap();
        stream
            .write_all(b"POST /sms-router/webhook/sms HTTP/1.1\r\nHost: x\r\nContent-Ty")
            .await
            .unwrap();
        unfinished.push(stream);
    }
    let webhook = server.url(WEBHOOK_PATH);
    let params = sms(ADA, "are you there?");
    let signature = twilio_signature(AUTH_TOKEN, &webhook, &params);
    let answer = reqwest::Client::new()
        .post(&webhook)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .timeout(crate::wait::PATIENCE)
        .send()
        .await;

    // Past the cap, the webhook waits in the backlog until the header
    // timeout (10 s) frees a slot: answered at all, it was not shut out.
    let answer = answer.unwrap_or_else(|e| panic!("no answer: {e}\n{}", server.logs()));
    assert_eq!(answer.status(), 200);
    let deadline = Instant::now() + crate::wait::PATIENCE;
    let mut still_open = 0;
    for stream in &mut unfinished {
        let left = deadline.saturating_duration_since(Instant::now());
        if !read_until_closed(stream, left).await.1 {
            still_open += 1;
        }
    }
    let cpu = cpu_seconds(pid) - cpu_before;
    let elapsed = started.elapsed();
    let logs = server.stop();
    assert_eq!(still_open, 0, "connections still open\n{logs}");
    // A server spinning on failed accepts would use a whole core while it
    // waits for the header timeout; one that pauses, a fraction of it.
    assert!(
        cpu < elapsed.as_secs_f64() / 2.0,
        "the server spent {cpu:.1} s of CPU in {elapsed:?}"
    );
}

/// The two timeouts far apart, so that which one closed a connection
/// shows on any machine: after at least its own, and long before the other.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(&[
        ("SMS_ROUTER_IDLE_TIMEOUT_MS", "500"),
        ("SMS_ROUTER_HEADER_TIMEOUT_MS", "600000"),
    ])
    .await;

    let mut idle = TcpStream::connect(app.address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let opened = Instant::now();
    let (answer, closed) = read_until_closed(&mut idle, crate::wait::PATIENCE).await;
    let idle_for = opened.elapsed();

    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(closed, "an idle keep-alive connection stayed open");
    assert!(idle_for >= Duration::from_millis(500), "closed after {idle_for:?}");
}

#[tokio::test]
async fn a_new_connection_that_sends_nothing_is_closed_after_the_header_timeout_not_the_idle_one() {
    let app = spawn_app_with(&[
        ("SMS_ROUTER_IDLE_TIMEOUT_MS", "3600000"),
        ("SMS_ROUTER_HEADER_TIMEOUT_MS", "500"),
    ])
    .await;

    let mut silent = TcpStream::connect(app.address).await.unwrap();
    let opened = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, crate::wait::PATIENCE).await;
    let silent_for = opened.elapsed();

    assert!(closed, "a connection that sent nothing stayed open");
    assert!(silent_for >= Duration::from_millis(400), "closed after {silent_for:?}");
}

/// A second request's head, sent while the first is answered, owes its
/// bytes within the header timeout too: once the first answer is out, a
/// head that never ends closes the connection after the header timeout,
/// not the idle one.
#[tokio::test]
async fn a_pipelined_request_head_that_never_ends_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(&[
        ("SMS_ROUTER_IDLE_TIMEOUT_MS", "3600000"),
        ("SMS_ROUTER_HEADER_TIMEOUT_MS", "1000"),
    ])
    .await;
    app.add_user("Ada", ADA, true).await;
    app.agent.set(Behaviour::Held("thought it over".into()));
    let params = sms(ADA, "hello");
    let body = serde_urlencoded::to_string(&params).unwrap();
    let signature = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK_PATH), &params);
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    let first = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
        app.address,
        body.len()
    );
    stream.write_all(first.as_bytes()).await.unwrap();
    eventually("the agent to have the first request", || app.agent.calls() == 1).await;
    // Half of a second request's head, while the first waits for its agent.
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
    let sent_half = Instant::now();
    app.agent.release();

    let (answer, closed) = read_until_closed(&mut stream, crate::wait::PATIENCE).await;
    let held_for = sent_half.elapsed();

    assert!(
        String::from_utf8_lossy(&answer).contains("thought it over"),
        "the first is answered"
    );
    assert!(closed, "a pipelined head that never ended held the connection");
    assert!(held_for >= Duration::from_millis(900), "closed after {held_for:?}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_at_the_header_timeout() {
    let app = spawn_app_with(&[("SMS_ROUTER_HEADER_TIMEOUT_MS", "500")]).await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: x\r\nContent-Length: 100\r\n\r\nFrom=%2B1"
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let (answer, closed) = read_until_closed(&mut stream, crate::wait::PATIENCE).await;

    let answer = String::from_utf8_lossy(&answer);
    assert!(closed || answer.starts_with("HTTP/1.1 4"), "still waiting: {answer:?}");
}

#[tokio::test]
async fn cleartext_http2_is_not_spoken() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    // The HTTP/2 preface, then an empty SETTINGS frame.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    stream.write_all(&hello).await.unwrap();

    let (answer, closed) = read_until_closed(&mut stream, crate::wait::PATIENCE).await;

    let is_settings_frame = answer.len() >= 9 && answer[3] == 4;
    assert!(!is_settings_frame, "the server answered HTTP/2: {answer:?}");
    assert!(closed, "an HTTP/2 preface left the connection open");
}

/// The peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// README's bound on the server's peak resident memory under this load.
const PEAK_RSS_BOUND: u64 = 128 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn many_senders_with_the_longest_replies_stay_under_the_memory_bound() {
    const SENDERS: usize = 8_000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    {
        let mut conn = rusqlite::Connection::open(&db).unwrap();
        let tx = conn.transaction().unwrap();
        for n in 0..SENDERS {
            tx.execute(
                "INSERT INTO users (full_name, phone_number) VALUES ('Someone', ?1)",
                [format!("+1202555{n:04}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let envs = [
        ("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000"),
    ];
    let server = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let client = reqwest::Client::new();
    let set = client
        .put(server.url("/sms-router/admin/configs/max_reply_messages"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "value": "10" }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let webhook = server.url(WEBHOOK_PATH);
    // The echo agent answers the text back: ten messages of 1600 characters.
    let text = "x".repeat(16_000);

    let senders = futures_util::stream::iter(0..SENDERS).map(|n| {
        let (client, webhook, text) = (&client, &webhook, &text);
        async move {
            let answer = client
                .post(webhook)
                .form(&sms(&format!("+1202555{n:04}"), text))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.text().await.unwrap().len()
        }
    });
    let answered: Vec<usize> = senders.buffer_unordered(8).collect().await;

    let peak = peak_rss(server.child.id());
    let logs = server.stop();
    assert!(
        answered.iter().all(|len| *len > 16_000),
        "{:?}\n{logs}",
        answered.first()
    );
    assert!(
        peak < PEAK_RSS_BOUND,
        "peak RSS {} MiB over {} MiB",
        peak >> 20,
        PEAK_RSS_BOUND >> 20
    );
}

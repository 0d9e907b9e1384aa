//! Heap allocations per message, counted: `cargo bench --bench allocations`.
//!
//! The real server runs in this process (SQLite in a temp dir, an HTTP
//! agent on loopback that answers at once, logs at `info` into a sink), and
//! a counting allocator around the system's counts every allocation of
//! every thread while sequential webhooks are answered, then while as many
//! `/healthz` are: the difference is what a message costs beyond the HTTP
//! round trip itself (the client's share of both is alike). Counts, not
//! times: the same on a busy machine as on an idle one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Json;
use poem::{Route, Server, handler};
use sms_router::config::Config;
use sms_router::domain::phone::{PhoneNumber, Region};
use sms_router::domain::user::{FullName, NewUser};
use sms_router::ports::UserRegistry;
use sms_router::startup::Application;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to `System` as it came; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` takes it.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` or `realloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as `GlobalAlloc::realloc` takes them.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MESSAGES: u64 = 2000;
const USER: &str = "+12015550123";

#[handler]
fn agent() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "reply": "Your 9 o'clock is with Ada." }))
}

fn counted() -> (u64, u64) {
    (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::INFO)
        .init();
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("bench.db");
    {
        let store = sms_router::adapters::sqlite::SqliteStore::open(&db).expect("a store");
        store
            .create_user(NewUser {
                full_name: FullName::parse("Ada").expect("a name"),
                email: None,
                phone_number: Some(PhoneNumber::parse(USER, Region::default()).expect("a number")),
                is_active: true,
                agent: None,
            })
            .await
            .expect("a user");
    }
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("a port");
    let agent_port = acceptor.local_addr()[0]
        .as_socket_addr()
        .map(|a| a.port())
        .expect("an address");
    tokio::spawn(Server::new_with_acceptor(acceptor).run(Route::new().at("/agent", poem::post(agent))));

    let vars: HashMap<String, String> = [
        ("SMS_ROUTER_BIND", "127.0.0.1:0".to_owned()),
        ("SMS_ROUTER_DATABASE_PATH", db.display().to_string()),
        ("SMS_ROUTER_AGENT_URL", format!("http://127.0.0.1:{agent_port}/agent")),
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_vars(&vars).expect("a configuration");
    let app = Application::build(&config, true).await.expect("the server");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let webhook = format!("{base}/sms-router/webhook/sms");
    let healthz = format!("{base}/healthz");
    let mut sid = 0u64;
    let mut post = async |client: &reqwest::Client| {
        sid += 1;
        let form = [
            ("MessageSid", format!("SM{sid:032x}")),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef".to_owned()),
            ("From", USER.to_owned()),
            ("To", "+15005550006".to_owned()),
            ("Body", "What is on my calendar tomorrow morning?".to_owned()),
            ("NumMedia", "0".to_owned()),
        ];
        let answer = client.post(&webhook).form(&form).send().await.expect("an answer");
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.bytes().await.expect("a body");
    };
    let get = async |client: &reqwest::Client| {
        let answer = client.get(&healthz).send().await.expect("an answer");
        answer.bytes().await.expect("a body");
    };
    // Warm: connections, caches, prepared statements.
    for _ in 0..200 {
        post(&client).await;
        get(&client).await;
    }
    let before = counted();
    for _ in 0..MESSAGES {
        post(&client).await;
    }
    let between = counted();
    for _ in 0..MESSAGES {
        get(&client).await;
    }
    let after = counted();
    let per = |(a0, b0): (u64, u64), (a1, b1): (u64, u64)| ((a1 - a0) / MESSAGES, (b1 - b0) / MESSAGES);
    let (webhook_allocs, webhook_bytes) = per(before, between);
    let (healthz_allocs, healthz_bytes) = per(between, after);
    println!("allocations per request, {MESSAGES} sequential requests, server and client in one process:");
    println!("  POST /sms-router/webhook/sms  {webhook_allocs:6} allocations  {webhook_bytes:8} bytes");
    println!("  GET  /healthz                 {healthz_allocs:6} allocations  {healthz_bytes:8} bytes");
    println!(
        "  a message beyond the round trip: {} allocations, {} bytes",
        webhook_allocs.saturating_sub(healthz_allocs),
        webhook_bytes.saturating_sub(healthz_bytes)
    );
    let _ = stop.send(());
    let _ = server.await;
}

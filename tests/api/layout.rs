//! The shape of the source tree, as CONTRIBUTING describes it: the domain
//! and its ports name no technology and read no clock, and a long file says
//! why it is long.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_domain_and_its_ports_name_no_technology_and_read_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // Their unit tests too: they take adapters from `crate::testing`.
    let forbidden = [
        "crate::adapters",
        "rusqlite",
        "tokio_postgres",
        "deadpool",
        "poem",
        "reqwest",
        "anyhow",
        "Utc::now",
        "Instant::now",
        "SystemTime",
        "uuid::Uuid::new",
    ];
    let mut broken = Vec::new();
    for dir in ["domain", "ports"] {
        for path in sources(&root.join(dir)) {
            let text = std::fs::read_to_string(&path).unwrap();
            for name in forbidden.iter().filter(|name| text.contains(*name)) {
                broken.push(format!("{} names {name}", path.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn a_source_file_over_300_lines_says_why_at_its_top() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut unexplained = Vec::new();
    for path in sources(&root) {
        let text = std::fs::read_to_string(&path).unwrap();
        let head: Vec<&str> = text.lines().take_while(|line| line.starts_with("//!")).collect();
        if text.lines().count() > 300 && !head.iter().any(|line| line.contains("Over 300 lines")) {
            unexplained.push(path.display().to_string());
        }
    }
    assert!(unexplained.is_empty(), "long files without a reason: {unexplained:#?}");
}

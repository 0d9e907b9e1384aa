//! `deploy/sms-router.service`: a unit systemd accepts, hardened.

use std::process::Command;

/// The unit as installed, its `ExecStart` pointed at this build (systemd
/// checks that the program exists).
fn unit_in(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/sms-router.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/sms-router serve"));
    let path = dir.join("sms-router.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/sms-router", env!("CARGO_BIN_EXE_sms-router")),
    )
    .unwrap();
    path
}

fn systemd_analyze() -> Option<Command> {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!(
            "\n!!!!!!!! systemd-analyze is not on this machine: the unit is NOT verified (apt-get install systemd)\n"
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "under CI the unit must be verified"
        );
        return None;
    }
    Some(Command::new("systemd-analyze"))
}

#[test]
fn systemd_verifies_the_unit_and_rates_its_exposure_low() {
    let Some(mut verify) = systemd_analyze() else { return };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());

    let verified = verify.args(["verify", "--man=no"]).arg(&unit).output().unwrap();
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();

    let complaints = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|line| line.split("Overall exposure level for sms-router.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|level| level.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {report}"));
    assert!(exposure <= 2.0, "exposure {exposure}: {report}");
}

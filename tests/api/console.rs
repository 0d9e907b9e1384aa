//! The console in a real browser at a phone's size: a wrong token asked
//! again; a user created, their number added and verified with the code the
//! fake Twilio received, a message seen on the number's timeline, the user
//! deactivated and lookup's reason changing, an opt-out cleared, a bad
//! setting refused next to its field, a name holding HTML shown as text,
//! the user found by a part of their name and deleted after a question
//! that names them.
//! Screenshots of each page go to the tests' temp dir (`console-*.png`).

use serde_json::{Value, json};
use sms_router::startup::Tuning;

use crate::helpers::browser::Driver;
use crate::helpers::{ADMIN_TOKEN, FakeTwilio, TestApp, eventually, spawn_app_with_twilio};

const ADA: &str = "+12015550123";
const EXTRA: &str = "+12015550177";
/// A name that would make an element if it were put in the page as HTML.
const NAME: &str = "Ada <b id=bold>Lovelace</b>";
/// The Enter key, as WebDriver types it.
const ENTER: &str = "\u{E007}";

/// What every page must be: no sideways scrolling on a phone, a label on
/// every control, and nothing made from the name as HTML.
async fn check_page(driver: &Driver, page: &str) -> Value {
    let shape = driver
        .run(
            "return { width: document.documentElement.scrollWidth, \
                      unlabelled: [...document.querySelectorAll('input, textarea, select')] \
                         .filter(c => c.offsetParent !== null && c.labels.length === 0).map(c => c.name), \
                      bold: document.getElementById('bold') !== null }",
        )
        .await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(shots.join(format!("console-{page}.png")), driver.screenshot().await).unwrap();
    assert!(
        shape["width"].as_u64().unwrap() <= 390,
        "{page}: sideways scrolling: {shape}"
    );
    assert_eq!(shape["unlabelled"], json!([]), "{page}: controls without a label");
    assert_eq!(shape["bold"], false, "{page}: a name was put in the page as HTML");
    shape
}

/// Goes to the console's `hash` and waits for its view to be shown.
async fn visit(driver: &Driver, app: &TestApp, hash: &str) {
    driver.go(&app.url(&format!("/sms-router/dashboard#{hash}"))).await;
    let view = hash.split('/').next().unwrap();
    driver
        .until(
            &format!("the {view} view"),
            &format!(
                "return document.body.dataset.shown === '{view}' || document.getElementById('error').textContent \
                 || (!document.getElementById('login').hidden && 'asked for the token again')"
            ),
        )
        .await;
    let error = driver.run("return document.getElementById('error').textContent").await;
    assert_eq!(error, "", "{hash}");
    let shown = driver.run("return document.body.dataset.shown").await;
    assert_eq!(shown, view, "{hash}: the token was asked for again");
}

/// The code the fake Twilio was last asked to text.
fn texted_code(twilio: &FakeTwilio) -> String {
    let request = twilio.received().pop().unwrap();
    let body = request.field("Body").unwrap().to_owned();
    body.chars().filter(char::is_ascii_digit).take(6).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_hoster_manages_users_numbers_opt_outs_and_settings_from_a_phone() {
    let Some(driver) = Driver::start().await else { return };
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;

    // A wrong token is asked for again, with the server's reason.
    driver.go(&app.url("/sms-router/dashboard#users")).await;
    driver.type_into("#token", "not-the-token-0123456789").await;
    driver.click("#login button").await;
    let refused = driver
        .until(
            "the token refused",
            "return document.getElementById('login-error').textContent",
        )
        .await;
    assert!(!refused.as_str().unwrap().is_empty());
    driver.type_into("#token", ADMIN_TOKEN).await;
    driver.click("#login button").await;
    driver
        .until("the users view", "return document.body.dataset.shown === 'users'")
        .await;
    check_page(&driver, "users").await;

    // A user added, with the keyboard alone (Enter submits): an impossible
    // number is refused next to its field, what was typed stays; once
    // corrected, the console goes to their page.
    driver.type_into("#new-name", NAME).await;
    driver.type_into("#new-number", &format!("12{ENTER}")).await;
    let refusal = driver
        .until(
            "the number refused",
            "return document.querySelector('#user-new [data-error-for=phone_number]').textContent",
        )
        .await;
    assert!(refusal.as_str().unwrap().contains("phone_number"), "{refusal}");
    let kept = driver.run("return document.getElementById('new-name').value").await;
    assert_eq!(kept, NAME);
    driver
        .run("document.getElementById('new-number').value = ''; return null")
        .await;
    driver.type_into("#new-number", &format!("{ADA}{ENTER}")).await;
    driver
        .until(
            "the user's page",
            "return document.body.dataset.shown === 'user' && location.hash",
        )
        .await;
    let title = driver
        .run("return document.getElementById('user-title').textContent")
        .await;
    assert_eq!(title, NAME, "the name is shown as text");

    // A number added, then verified with the code Twilio was asked to text.
    driver.type_into("#phone-number", EXTRA).await;
    driver.click("#phone-new button[type=submit]").await;
    driver
        .until(
            "the number listed",
            &format!("return document.getElementById('numbers').textContent.includes('{EXTRA}')"),
        )
        .await;
    let before = twilio.received().len();
    driver
        .run("[...document.querySelectorAll('#numbers button')].find(b => b.textContent === 'Text a code').click(); return null")
        .await;
    eventually("the code to be texted", || twilio.received().len() > before).await;
    let code = texted_code(&twilio);
    driver
        .until(
            "the code's field",
            "return document.querySelector('#numbers form.code input') !== null",
        )
        .await;
    driver.type_into("#numbers form.code input", &code).await;
    driver.click("#numbers form.code button").await;
    driver
        .until(
            "the number verified",
            "return [...document.querySelectorAll('#numbers tbody tr')].some(r => r.textContent.includes('verified (sms)'))",
        )
        .await;
    check_page(&driver, "user").await;

    // A message from the number, on its timeline; what its next one gets.
    app.send(EXTRA, "hello").await;
    visit(&driver, &app, &format!("number/{EXTRA}")).await;
    let rows = driver
        .run("return [...document.querySelectorAll('#timeline tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "the code out, the message in and its reply: {rows:?}");
    assert_eq!(
        (rows[1][1].as_str(), rows[1][2].as_str()),
        (Some("in"), Some("routed")),
        "{rows:?}"
    );
    let reason = driver
        .run("return document.getElementById('number-next').dataset.reason")
        .await;
    assert_eq!(reason, "routed");
    check_page(&driver, "number").await;

    // Deactivated: lookup's reason changes.
    let user_link = driver
        .run("return document.querySelector('#number-owner a').getAttribute('href')")
        .await;
    visit(&driver, &app, user_link.as_str().unwrap().trim_start_matches('#')).await;
    driver.click("#user-toggle").await;
    driver
        .until(
            "the user deactivated",
            "return document.getElementById('user-toggle').textContent === 'Activate'",
        )
        .await;
    visit(&driver, &app, &format!("number/{EXTRA}")).await;
    let reason = driver
        .run("return document.getElementById('number-next').dataset.reason")
        .await;
    assert_eq!(reason, "inactive_user");

    // An opt-out cleared, after a confirmation that names the number.
    app.send(ADA, "STOP").await;
    visit(&driver, &app, "opt-outs").await;
    check_page(&driver, "opt-outs").await;
    driver.click("#opt-outs button").await;
    let question = driver
        .until(
            "the confirmation",
            "return document.querySelector('#opt-outs .confirm p')?.textContent",
        )
        .await;
    assert!(question.as_str().unwrap().contains(ADA), "{question}");
    // The question's answer has the focus: Enter gives it.
    let focused = driver.run("return document.activeElement.textContent").await;
    assert_eq!(focused, "Clear it");
    driver.type_into("#opt-outs .confirm button.danger", ENTER).await;
    driver
        .until(
            "the opt-out gone",
            &format!("return !document.getElementById('opt-outs').textContent.includes('{ADA}')"),
        )
        .await;
    assert!(!app.is_opted_out(ADA).await);

    // A bad setting refused next to its field; what was typed stays.
    visit(&driver, &app, "settings").await;
    check_page(&driver, "settings").await;
    driver
        .run("document.getElementById('setting-max_reply_messages').value = ''; return null")
        .await;
    driver.type_into("#setting-max_reply_messages", "eleven").await;
    driver
        .click("form[data-key=max_reply_messages] button[type=submit]")
        .await;
    let refusal = driver
        .until(
            "the refusal",
            "return document.querySelector('form[data-key=max_reply_messages] [data-error-for=value]').textContent",
        )
        .await;
    assert!(refusal.as_str().unwrap().contains("from 1 to 10"), "{refusal}");
    let kept = driver
        .run("return document.getElementById('setting-max_reply_messages').value")
        .await;
    assert_eq!(kept, "eleven");

    // Found by a part of the name; deleted after a question that names them.
    visit(&driver, &app, "users").await;
    driver.type_into("#search", "LOVE").await;
    driver.click("#user-search button").await;
    driver
        .until(
            "the search's answer",
            "return document.getElementById('users').dataset.query === 'name=LOVE' \
                 && document.querySelectorAll('#users tbody a').length === 1",
        )
        .await;
    driver.click("#users tbody a").await;
    driver
        .until("the user's page", "return document.body.dataset.shown === 'user'")
        .await;
    driver.click("#user-delete").await;
    let question = driver
        .until(
            "the question",
            "return document.querySelector('#user-delete-place .confirm p')?.textContent",
        )
        .await;
    assert!(question.as_str().unwrap().contains(NAME), "{question}");
    driver.click("#user-delete-place button.danger").await;
    driver
        .until("the users view", "return document.body.dataset.shown === 'users'")
        .await;
    let users = crate::helpers::spec::ok(app.api().list_users().send().await).items;
    assert!(users.is_empty(), "{users:?}");

    // The usage view still draws.
    visit(&driver, &app, "usage").await;
    driver
        .until("the charts", "return document.body.dataset.drawn === 'yes'")
        .await;
    check_page(&driver, "usage").await;
}

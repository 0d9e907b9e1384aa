//! `GET /sms-router/dashboard`: the console (usage, users and their numbers,
//! a number's last messages, opt-outs, settings), one page and its assets
//! embedded in the binary (nothing from another host: the box may be
//! offline). The page asks for the admin token and calls the admin API from
//! the browser; the server only hands out files. A strict
//! Content-Security-Policy allows nothing but this server's own scripts,
//! styles and API.

use poem::http::header;
use poem::{Response, Route, get, handler};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
}

/// `GET /`: where a person who opens the server's address finds the rest.
pub fn home() -> Response {
    asset("text/html; charset=utf-8", include_str!("../../../assets/home.html"))
}

#[handler]
fn page() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../../../assets/dashboard/index.html"),
    )
}

#[handler]
fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/dashboard/dashboard.js"),
    )
}

#[handler]
fn core_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/dashboard/core.js"),
    )
}

#[handler]
fn console_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/dashboard/console.js"),
    )
}

#[handler]
fn style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../assets/dashboard/dashboard.css"),
    )
}

#[handler]
fn uplot_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/dashboard/vendor/uPlot.iife.min.js"),
    )
}

#[handler]
fn uplot_style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../assets/dashboard/vendor/uPlot.min.css"),
    )
}

/// The dashboard's routes, under `/sms-router/dashboard`.
pub fn routes() -> Route {
    Route::new()
        .at("/", get(page))
        .at("/core.js", get(core_script))
        .at("/dashboard.js", get(script))
        .at("/console.js", get(console_script))
        .at("/dashboard.css", get(style))
        .at("/uplot.js", get(uplot_script))
        .at("/uplot.css", get(uplot_style))
}

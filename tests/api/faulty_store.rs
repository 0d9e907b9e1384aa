//! A fault injector around a real store: each port method passes through
//! to it, unless a fault is armed for that method (or, for the admin API's
//! methods, for "admin"), which then fails as a store that cannot be read
//! or written would. The store under it stays real: a failed write writes
//! nothing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use sms_router::ports::StoreError;

/// Which methods fail, and how many more times each; and how many times
/// each was called.
#[derive(Clone, Default)]
pub struct Faults(
    Arc<Mutex<HashMap<&'static str, Armed>>>,
    Arc<Mutex<HashMap<&'static str, u32>>>,
);

/// Calls to let through, then calls to fail.
#[derive(Clone, Copy, Default)]
struct Armed {
    pass: u32,
    fail: u32,
}

impl Faults {
    /// The next `times` calls of `method` fail.
    pub fn arm(&self, method: &'static str, times: u32) {
        self.arm_after(method, 0, times);
    }

    /// After `pass` more calls of `method` succeed, the next `times` fail.
    pub fn arm_after(&self, method: &'static str, pass: u32, times: u32) {
        self.0.lock().unwrap().insert(method, Armed { pass, fail: times });
    }

    /// Fails when a fault is armed for `method`, using it up.
    fn check(&self, method: &'static str) -> Result<(), StoreError> {
        *self.1.lock().unwrap().entry(method).or_default() += 1;
        let mut armed = self.0.lock().unwrap();
        match armed.get_mut(method) {
            Some(armed) if armed.pass > 0 => {
                armed.pass -= 1;
                Ok(())
            }
            Some(armed) if armed.fail > 0 => {
                armed.fail -= 1;
                Err(StoreError::new(format!("injected fault in {method}")))
            }
            _ => Ok(()),
        }
    }

    /// How many times `method` was called so far.
    pub fn calls(&self, method: &'static str) -> u32 {
        self.1.lock().unwrap().get(method).copied().unwrap_or_default()
    }

    /// Whether every armed fault was used.
    pub fn all_used(&self) -> bool {
        self.0.lock().unwrap().values().all(|armed| armed.fail == 0)
    }
}

/// Faults wrap whichever store the app serves from.
impl sms_router::startup::Wrap for Faults {
    type Wrapped<S: sms_router::ports::Store> = FaultyStore<S>;
    fn wrap<S: sms_router::ports::Store>(self, inner: S) -> FaultyStore<S> {
        FaultyStore { inner, faults: self }
    }
}

#[derive(Clone)]
pub struct FaultyStore<S> {
    pub inner: S,
    pub faults: Faults,
}

/// The methods the admin API calls: one fault, "admin", fails them all.
const ADMIN: &[&str] = &[
    "list",
    "stored",
    "put",
    "delete",
    "save",
    "create_user",
    "get_user",
    "list_users",
    "update_user",
    "delete_user",
    "list_phones",
    "add_phone",
    "get_phone",
    "update_phone",
    "delete_phone",
    "owner_of",
    "list_usage_logs",
    "summarize",
];

impl<S> FaultyStore<S> {
    async fn pass<T, E: From<StoreError>>(
        &self,
        method: &'static str,
        call: impl Future<Output = Result<T, E>> + Send,
    ) -> Result<T, E> {
        let fault = if ADMIN.contains(&method) { "admin" } else { method };
        self.faults.check(fault)?;
        call.await
    }
}

sms_router::forward_store_ports!(FaultyStore<S>, inner, pass);

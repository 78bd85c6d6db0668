//! Failed logins, counted so that guessing a password is slow: after
//! [`MAX_FAILURES`] failures for one e-mail from one address within
//! [`FAILURE_WINDOW`], that pair is refused (429) until the window has passed.
//! One count for the login form and the API's `POST /api/v1/auth/token`, so
//! neither is a way around the other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pricegate_store::ClientInfo;

const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Beyond this many tracked (e-mail, address) pairs, the oldest are forgotten.
const MAX_TRACKED: usize = 10_000;

/// Failed logins per (e-mail, client address), in this process's memory.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<(String, String), Vec<Instant>>>,
}

/// Without the e-mails it holds: they are not for logs.
impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").finish_non_exhaustive()
    }
}

impl LoginThrottle {
    /// The pair a login attempt is counted under.
    pub fn key(email: &str, client: &ClientInfo) -> (String, String) {
        (email.trim().to_ascii_lowercase(), client.addr.clone().unwrap_or_default())
    }

    /// How long until this pair may try again, if it is blocked now.
    pub fn blocked_for(&self, key: &(String, String)) -> Option<Duration> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let recent: Vec<&Instant> = map.get(key)?.iter().filter(|t| now.duration_since(**t) < FAILURE_WINDOW).collect();
        if recent.len() >= MAX_FAILURES {
            recent.first().map(|first| FAILURE_WINDOW.saturating_sub(now.duration_since(**first)))
        } else {
            None
        }
    }

    pub fn record_failure(&self, key: (String, String)) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < FAILURE_WINDOW));
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let times = map.entry(key).or_default();
        times.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        times.push(now);
    }

    pub fn forget(&self, key: &(String, String)) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

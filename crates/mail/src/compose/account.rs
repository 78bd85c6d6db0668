//! The e-mails about an account: a link to choose a password, a password or address changed.

use askama::Template;
use pricegate_domain::Role;
use pricegate_store::AccountChange;

/// The e-mail with a link to choose a password (its HTML part;
/// [`PasswordText`] is the same letter as text).
#[derive(Template)]
#[template(path = "password.html")]
pub(super) struct PasswordLetter<'a> {
    pub(super) title: &'a str,
    pub(super) name: &'a str,
    pub(super) email: &'a str,
    /// The administrator who sent it; `None` when its reader asked for it.
    pub(super) invited_by: Option<&'a str>,
    pub(super) new_account: bool,
    /// What their role has them do, said to someone yet to choose their
    /// first password (see [`role_in_words`]).
    pub(super) role: &'static str,
    pub(super) link: &'a str,
    pub(super) works_for: &'a str,
}

/// An account's role as it was and is, in words: "you were {was}, and now
/// work {now}", and what becomes of the drafts it leaves (`drafts`, a
/// sentence), if any.
pub(super) struct RoleMove {
    pub(super) was: &'static str,
    pub(super) now: &'static str,
    pub(super) drafts: Option<String>,
}

impl RoleMove {
    /// `drafts`: how many open drafts they own or sign and can no longer
    /// edit or finalise.
    pub(super) fn new(from: Role, to: Role, drafts: u64) -> RoleMove {
        let was = match from {
            Role::Sales => "a salesperson",
            Role::Finance => "in finance",
            Role::Admin => "an administrator",
        };
        let drafts = match drafts {
            0 => None,
            1 => Some(
                "You can no longer edit or finalise the draft quote you own or sign: an administrator can hand it \
                 to a salesperson, and if you only sign it, its owner is told to choose another signer."
                    .to_owned(),
            ),
            n => Some(format!(
                "You can no longer edit or finalise the {n} draft quotes you own or sign: an administrator can hand \
                 them to a salesperson, and the owners of those you only sign are told to choose another signer."
            )),
        };
        RoleMove { was, now: role_in_words(to), drafts }
    }
}

/// What an account of `role` is for, as its holder is told: "… to work
/// {as a salesperson: you draft quotes, …}".
pub(super) fn role_in_words(role: Role) -> &'static str {
    match role {
        Role::Sales => {
            "as a salesperson: you draft quotes, and sign them once you have read the price notices that concern them"
        }
        Role::Finance => {
            "in finance: you keep the price list, publish price notices and see who has read them, and approve \
             keeping a quote's old prices"
        }
        Role::Admin => "as an administrator: you manage Pricegate's users, its settings and its outgoing e-mail",
    }
}

#[derive(Template)]
#[template(path = "password.txt")]
pub(super) struct PasswordText<'a> {
    pub(super) letter: &'a PasswordLetter<'a>,
}

#[derive(Template)]
#[template(path = "account_changed.html")]
pub(super) struct AccountLetter<'a> {
    pub(super) title: &'a str,
    pub(super) name: &'a str,
    /// The address the letter goes to: the one that changed, for an address.
    pub(super) email: &'a str,
    /// When, in the business's time.
    pub(super) at: String,
    /// The administrator who made the change; `None` when its reader did.
    pub(super) by: Option<&'a str>,
    /// The password changed; else the role, if this is set; else the address.
    pub(super) password: bool,
    pub(super) role: Option<RoleMove>,
    pub(super) by_link: bool,
    pub(super) if_it_was: String,
    pub(super) if_not: String,
    pub(super) forgot_url: &'a str,
}

#[derive(Template)]
#[template(path = "account_changed.txt")]
pub(super) struct AccountText<'a> {
    pub(super) letter: &'a AccountLetter<'a>,
}

/// What to do about an account's change, made by the administrator `by`
/// or by the reader: nothing if it was meant, and else what now.
pub(super) fn account_advice(change: AccountChange, by: Option<&str>) -> (String, String) {
    // The address that follows is the page to ask at, said last, so that it is not read as an administrator's.
    const NEW_ONE: &str = "ask for a new password on this page, which e-mails you a link:";
    match (change, by) {
        (AccountChange::Password { by_link: false }, None) => (
            "If it was you, there is nothing to do.".to_owned(),
            format!("If it was not, someone else knows your password: tell your administrator, and {NEW_ONE}"),
        ),
        // A link to the same mailbox is no way out of it: the administrator first.
        (AccountChange::Password { by_link: true }, _) => (
            "If it was you, there is nothing to do.".to_owned(),
            format!(
                "If it was not, someone else could read a link sent to your e-mail, and could read the next one: \
                 tell your administrator now, then {NEW_ONE}"
            ),
        ),
        (AccountChange::Password { .. }, Some(by)) => (
            format!("If you asked {by} for it, there is nothing to do."),
            format!(
                "If you did not, ask {by} why, or choose a password of your own now (the page e-mails you a link):"
            ),
        ),
        (AccountChange::Address, Some(by)) => (
            "If you asked for it, there is nothing to do.".to_owned(),
            format!(
                "If you did not, tell {by} or another administrator now: whoever reads the new address can have \
                 Pricegate e-mail them a link to choose your password."
            ),
        ),
        (AccountChange::Role { .. }, by) => (
            "If you expected it, there is nothing to do.".to_owned(),
            format!(
                "If not, ask {} why.",
                by.map_or("an administrator".to_owned(), |by| format!("{by} or another administrator"))
            ),
        ),
        (AccountChange::Address, None) => (
            "If it was you, there is nothing to do.".to_owned(),
            "If it was not, tell another administrator now: whoever reads the new address can have Pricegate \
             e-mail them a link to choose your password."
                .to_owned(),
        ),
    }
}

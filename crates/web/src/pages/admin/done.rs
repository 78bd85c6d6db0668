//! What an administrator's form did to a person, carried across the redirect to the users page and told there
//! once.

use axum::response::Response;
use pricegate_store::OpenDrafts;
use uuid::Uuid;

use super::users::UserRow;
use crate::pages::{DoneCookie, Seal};

/// What a form on the users page did, told once by the list it leads back
/// to. It names ids and counts, never text: the list says it from the users
/// as they are.
#[derive(Debug, PartialEq)]
pub(super) enum Done {
    Created(Uuid),
    Updated(Uuid),
    /// Their e-mail address corrected (with or without their name), and
    /// whether the address they had is e-mailed so.
    Readdressed {
        id: Uuid,
        told: bool,
    },
    /// A form saved as it was: nothing changed, nothing was written.
    Unchanged(Uuid),
    HandedOver {
        from: Uuid,
        to: Uuid,
        drafts: u64,
        owned: u64,
        signed: u64,
    },
    /// Deactivated, their drafts handed over first (see [`Done::HandedOver`]).
    LeftHandingOver {
        from: Uuid,
        to: Uuid,
        drafts: u64,
        owned: u64,
        signed: u64,
    },
    PasswordSet(Uuid),
    /// Created without a password: e-mailed an invitation to choose one.
    Invited(Uuid),
    /// E-mailed a link to choose a password.
    LinkSent(Uuid),
}

pub(super) const DONE: DoneCookie = DoneCookie { name: "pricegate_users_done", page: "/admin/users" };

/// `n` open drafts, in words.
pub(super) fn open_drafts(n: u64) -> String {
    if n == 1 { "open draft".to_owned() } else { format!("{n} open drafts") }
}

/// What a hand-over did, naming both people: how many drafts changed hands,
/// then which part of them the taker has now (a draft `from` both owned and
/// signed counts in both).
pub(super) fn handed_over(from: &str, to: &str, drafts: u64, owned: u64, signed: u64) -> String {
    let part = |n: u64, verb: &str, past: &str| match n {
        0 => None,
        n if n == drafts => Some(format!("{verb} {}", if n == 1 { "it" } else { "all of them" })),
        1 => Some(format!("{verb} the one {from} {past}")),
        n => Some(format!("{verb} the {n} {from} {past}")),
    };
    let parts: Vec<String> =
        [part(owned, "owns", "owned"), part(signed, "signs", "signed")].into_iter().flatten().collect();
    if parts.is_empty() {
        return format!("{from} had no open drafts to hand over to {to}.");
    }
    let verb = if drafts == 1 { "is" } else { "are" };
    format!("The {} of {from} {verb} handed over: {to} now {}.", open_drafts(drafts), parts.join(" and "))
}

/// What a role out of sales, or deactivating, leaves undone with `name`'s
/// open drafts: nobody can edit those they own (only an owner edits), nor
/// finalise those they sign (only the signer finalises).
pub(super) fn stranded(name: &str, open: OpenDrafts) -> Option<String> {
    let parts: Vec<String> = [
        (open.owned > 0).then(|| format!("edit the {} {name} owns", open_drafts(open.owned))),
        (open.signed > 0).then(|| format!("finalise the {} {name} signs", open_drafts(open.signed))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        return None;
    }
    let owner_too = match open.signed_for_others() {
        0 => String::new(),
        _ => format!(
            "; where someone else owns a draft {name} signs, that owner can also choose another signer, and is \
             e-mailed to ask them to"
        ),
    };
    Some(format!(
        "Nobody can {}{} until you hand {} to a salesperson (Open quotes, in {name}'s row){owner_too}.",
        parts.join(", nor "),
        if parts.len() > 1 { "," } else { "" },
        if open.drafts() == 1 { "it" } else { "them" }
    ))
}

/// A user's form saved, said from the row they have now: their role, whether
/// active, drafts a role out of sales leaves nobody can sign, an invitation
/// still waiting for them.
fn saved(row: &UserRow) -> String {
    let u = &row.user;
    let active = if u.active { "active" } else { "inactive: they can no longer log in" };
    // A role out of sales strands their drafts as deactivating does.
    let stranded = match row.can_sign {
        true => None,
        false => stranded(&u.name, row.open),
    };
    let stranded = stranded.map(|s| format!(" {s}")).unwrap_or_default();
    let invited = match (&row.invited, u.active, row.invitation_set_aside) {
        (Some(_), true, true) => " They have yet to choose their password, and the last invitation did \
                                  not go out: e-mail it again from their row."
            .to_owned(),
        (Some(at), true, false) => {
            format!(" They have yet to choose their password: the invitation last went to {} at {at}.", u.email)
        }
        _ => String::new(),
    };
    format!("Saved {} ({}): {}, {active}.{stranded}{invited}", u.name, u.email, u.role)
}

impl Done {
    /// A user's form saved: what the store says it changed, under the row's lock.
    pub(super) fn saved(id: Uuid, changed: bool) -> Done {
        if changed { Done::Updated(id) } else { Done::Unchanged(id) }
    }

    pub(super) fn cookie_value(&self) -> String {
        match self {
            Done::Created(id) => format!("created.{id}"),
            Done::Updated(id) => format!("updated.{id}"),
            Done::Readdressed { id, told } => format!("readdressed.{id}.{}", u8::from(*told)),
            Done::Unchanged(id) => format!("unchanged.{id}"),
            Done::HandedOver { from, to, drafts, owned, signed } => {
                format!("handed_over.{from}.{to}.{drafts}.{owned}.{signed}")
            }
            Done::LeftHandingOver { from, to, drafts, owned, signed } => {
                format!("left_handing_over.{from}.{to}.{drafts}.{owned}.{signed}")
            }
            Done::PasswordSet(id) => format!("password_set.{id}"),
            Done::Invited(id) => format!("invited.{id}"),
            Done::LinkSent(id) => format!("link_sent.{id}"),
        }
    }

    /// The people it was about, whom the list shows first.
    pub(super) fn about(&self) -> Vec<Uuid> {
        match self {
            Done::Created(id)
            | Done::Updated(id)
            | Done::Readdressed { id, .. }
            | Done::Unchanged(id)
            | Done::PasswordSet(id)
            | Done::Invited(id)
            | Done::LinkSent(id) => vec![*id],
            Done::HandedOver { from, to, .. } | Done::LeftHandingOver { from, to, .. } => vec![*from, *to],
        }
    }

    pub(super) fn parse(value: &str) -> Option<Done> {
        let mut parts = value.split('.');
        let kind = parts.next()?;
        let mut id = || parts.next().and_then(|p| Uuid::parse_str(p).ok());
        let done = match kind {
            "created" => Done::Created(id()?),
            "updated" => Done::Updated(id()?),
            "readdressed" => {
                let id = id()?;
                let told = match parts.next()? {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                };
                Done::Readdressed { id, told }
            }
            "unchanged" => Done::Unchanged(id()?),
            "password_set" => Done::PasswordSet(id()?),
            "invited" => Done::Invited(id()?),
            "link_sent" => Done::LinkSent(id()?),
            "handed_over" | "left_handing_over" => {
                let (from, to) = (id()?, id()?);
                let mut count = || parts.next().and_then(|p| p.parse().ok());
                let (drafts, owned, signed) = (count()?, count()?, count()?);
                match kind {
                    "handed_over" => Done::HandedOver { from, to, drafts, owned, signed },
                    _ => Done::LeftHandingOver { from, to, drafts, owned, signed },
                }
            }
            _ => return None,
        };
        parts.next().is_none().then_some(done)
    }

    pub(super) fn sentence(&self, users: &[UserRow]) -> Option<String> {
        let user = |id: &Uuid| users.iter().find(|r| r.user.id == *id).map(|r| &r.user);
        Some(match self {
            Done::Created(id) => {
                let u = user(id)?;
                format!("Created {} ({}, {}). Give them their password in person.", u.name, u.email, u.role)
            }
            Done::Invited(id) => {
                let u = user(id)?;
                format!(
                    "Created {} ({}, {}). They are e-mailed a link to choose their password, which works for {} \
                     days; until then no password logs them in.",
                    u.name,
                    u.email,
                    u.role,
                    pricegate_store::INVITATION_LINK_DAYS
                )
            }
            Done::LinkSent(id) => {
                let row = users.iter().find(|r| r.user.id == *id)?;
                let u = &row.user;
                if row.invited.is_some() {
                    return Some(format!(
                        "{} is e-mailed the invitation again, at {}: a new link to choose their password, which works \
                         for {} days.",
                        u.name,
                        u.email,
                        pricegate_store::INVITATION_LINK_DAYS
                    ));
                }
                format!(
                    "{} is e-mailed a link to choose a new password, at {}; it works once, for {} days. Their \
                     password stays as it is until they use it.",
                    u.name,
                    u.email,
                    pricegate_store::INVITATION_LINK_DAYS
                )
            }
            Done::Unchanged(id) => {
                let u = user(id)?;
                format!("Nothing to change for {} ({}): it was saved as it already was.", u.name, u.email)
            }
            Done::Updated(id) => saved(users.iter().find(|r| r.user.id == *id)?),
            Done::Readdressed { id, told } => {
                let row = users.iter().find(|r| r.user.id == *id)?;
                let u = &row.user;
                // Whether it was told is the store's to decide (`tell_account_changed`);
                // why not is said from the account as it is now.
                let old = match (told, u.active) {
                    (true, _) => "The address they had is e-mailed that it changed",
                    (false, false) => "The address they had is told nothing, the account being inactive",
                    (false, true) => "The address they had is told nothing: they never logged in with it",
                };
                // An inactive account's mail is set aside, not sent anywhere.
                let waiting = if u.active { ", and mail still waiting for them goes to the new address" } else { "" };
                format!("{} {old}; acknowledgement links e-mailed to it no longer work{waiting}.", saved(row))
            }
            Done::HandedOver { from, to, drafts, owned, signed } => {
                handed_over(&user(from)?.name, &user(to)?.name, *drafts, *owned, *signed)
            }
            Done::LeftHandingOver { from, to, drafts, owned, signed } => {
                let (u, taker) = (user(from)?, user(to)?);
                let left = match u.active {
                    false => "is inactive: they can no longer log in",
                    // Reactivated meanwhile, by another admin.
                    true => "is active",
                };
                format!(
                    "{} ({}) {left}. {}",
                    u.name,
                    u.email,
                    handed_over(&u.name, &taker.name, *drafts, *owned, *signed)
                )
            }
            Done::PasswordSet(id) => {
                let u = user(id)?;
                if u.active {
                    format!(
                        "New password set for {}. Every session and API token they had has ended, and if wrong \
                         passwords had them waiting to log in, they need not wait: the new one works now. \
                         Give them the password in person, and ask them to change it on their account page.",
                        u.name
                    )
                } else {
                    format!(
                        "New password set for {}, whose account is deactivated: it lets them in once the account \
                         is reactivated, not before. Give them the password in person then, and ask them to \
                         change it on their account page.",
                        u.name
                    )
                }
            }
        })
    }

    /// The redirect to the list that reports this.
    pub(super) fn back_to_list(self, seal: &Seal) -> Response {
        DONE.redirect(seal, &self.cookie_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_over_says_what_the_taker_now_owns_and_signs_without_adding_them_up() {
        assert_eq!(
            handed_over("Sara", "Nina", 4, 2, 3),
            "The 4 open drafts of Sara are handed over: Nina now owns the 2 Sara owned and signs the 3 Sara signed."
        );
        assert_eq!(
            handed_over("Sara", "Nina", 3, 1, 3),
            "The 3 open drafts of Sara are handed over: Nina now owns the one Sara owned and signs all of them."
        );
        assert_eq!(
            handed_over("Sara", "Nina", 1, 1, 1),
            "The open draft of Sara is handed over: Nina now owns it and signs it."
        );
        assert_eq!(handed_over("Sara", "Nina", 1, 0, 1), "The open draft of Sara is handed over: Nina now signs it.");
        assert_eq!(handed_over("Sara", "Nina", 0, 0, 0), "Sara had no open drafts to hand over to Nina.");
    }

    #[test]
    fn someone_who_can_no_longer_sign_is_said_to_leave_drafts_nobody_can_edit_or_finalise() {
        let open = |owned, signed, both| OpenDrafts { owned, signed, both };
        assert_eq!(
            stranded("Omar", open(2, 3, 1)).as_deref(),
            Some(
                "Nobody can edit the 2 open drafts Omar owns, nor finalise the 3 open drafts Omar signs, until you \
                 hand them to a salesperson (Open quotes, in Omar's row); where someone else owns a draft Omar \
                 signs, that owner can also choose another signer, and is e-mailed to ask them to."
            )
        );
        assert_eq!(
            stranded("Sara", open(1, 1, 1)).as_deref(),
            Some(
                "Nobody can edit the open draft Sara owns, nor finalise the open draft Sara signs, until you hand it \
                 to a salesperson (Open quotes, in Sara's row)."
            )
        );
        assert_eq!(
            stranded("Omar", open(1, 0, 0)).as_deref(),
            Some(
                "Nobody can edit the open draft Omar owns until you hand it to a salesperson (Open quotes, in Omar's row)."
            )
        );
        assert_eq!(stranded("Omar", open(0, 0, 0)), None);
    }

    #[test]
    fn what_was_done_survives_its_cookie_and_nothing_else_parses() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for done in [
            Done::Created(a),
            Done::Updated(a),
            Done::Readdressed { id: a, told: true },
            Done::Readdressed { id: b, told: false },
            Done::Unchanged(a),
            Done::PasswordSet(a),
            Done::HandedOver { from: a, to: b, drafts: 3, owned: 3, signed: 0 },
        ] {
            assert_eq!(Done::parse(&done.cookie_value()), Some(done));
        }
        let junk = [
            String::new(),
            "created".into(),
            "created.not-a-uuid".into(),
            format!("created.{a}.extra"),
            format!("handed_over.{a}.{b}.1.1"),
            format!("handed_over.{a}.{b}.1.-1.0"),
            format!("deleted.{a}"),
            format!("readdressed.{a}"),
            format!("readdressed.{a}.2"),
        ];
        for junk in junk {
            assert_eq!(Done::parse(&junk), None, "{junk}");
        }
    }
}

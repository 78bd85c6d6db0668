//! Changing a person: name, address, role, active or not, with the confirmation a change that strands drafts
//! asks for.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pricegate_domain::{Email, Role, Text, limits};
use pricegate_store::{OpenDrafts, StoreError, UserPatch};
use uuid::Uuid;

use super::done::Done;
use super::users::{LABELS, Listing, UsersPage, page};
use crate::pages::{Admin, CsrfForm, Layout, PageError, PageId, PageUser, in_words, render};
use crate::{AppState, filters};

pub(super) async fn update(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    if form.get("what") == "identity" {
        return correct_identity(&app, &user, id, form.get("name"), form.get("email")).await;
    }
    let role = match form.get("role") {
        "" => Ok(None),
        role => Role::parse(role).map(Some).map_err(|e| in_words(e.message, LABELS)),
    };
    let active = match form.get("active") {
        "" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err("An account can only be made active or inactive.".to_owned()),
    };
    match (role, active) {
        (Ok(role), Ok(active)) => {
            if let Some(new) = role
                && form.get("confirmed") != "yes"
                && let Some(page) = role_change_to_confirm(&app, &user, id, new).await?
            {
                return Ok(render(StatusCode::OK, &page));
            }
            // Deactivating with a taker for their drafts (the confirmation's
            // choice): handed over first, so that no owner is e-mailed to
            // choose another signer whom the hand-over names a moment later.
            let taker = match (active, form.get("to").trim()) {
                // One's own account is not deactivated here, nor its drafts handed away by it.
                (Some(false), to) if !to.is_empty() && id == user.0.actor.id => {
                    let why = "You cannot deactivate your own account.";
                    return refused_on_list(&app, &user, (id, "to"), "No change", why).await;
                }
                (Some(false), to) if !to.is_empty() => match Uuid::parse_str(to) {
                    Ok(to) => Some(to),
                    Err(_) => {
                        let why = "Choose who takes the quotes over from the list.";
                        return refused_on_list(&app, &user, (id, "to"), "No change", why).await;
                    }
                },
                _ => None,
            };
            let moved = match taker {
                Some(to) => match app.store.hand_over_quotes(&user.0.actor, id, to).await {
                    Ok(moved) => Some((to, moved)),
                    Err(StoreError::Invalid(e)) => {
                        let why = in_words(e.message, &[("to", "Whoever takes the quotes over")]);
                        return refused_on_list(&app, &user, (id, "to"), "No change", &why).await;
                    }
                    Err(e) => return Err(e.into()),
                },
                None => None,
            };
            let patch = UserPatch { role, active, ..UserPatch::default() };
            let saved = match (app.store.update_user(&user.0.actor, id, patch).await, &moved) {
                (Ok(saved), _) => saved,
                // Handed over, but not deactivated: said, rather than an
                // error page that hides that the drafts changed hands.
                (Err(e), Some((_, moved))) => {
                    let why = match &e {
                        StoreError::Invalid(e) => e.message.clone(),
                        StoreError::Conflict { message, .. } | StoreError::Forbidden { message, .. } => message.clone(),
                        _ => {
                            tracing::error!(error = %pricegate_store::causes(&e), "deactivating after a hand-over");
                            "the change could not be saved just now.".to_owned()
                        }
                    };
                    let handed = match moved.drafts {
                        1 => "Their open draft was handed over".to_owned(),
                        n => format!("Their {n} open drafts were handed over"),
                    };
                    let why = format!("{handed}, but the account is still active: {why} Deactivate it again.");
                    return refused_on_list(&app, &user, (id, "active"), "Handed over, not deactivated", &why).await;
                }
                (Err(e), None) => return Err(e.into()),
            };
            let done = match moved {
                Some((to, moved)) => Done::LeftHandingOver {
                    from: id,
                    to,
                    drafts: moved.drafts,
                    owned: moved.owned,
                    signed: moved.signed,
                },
                None => Done::saved(id, saved.changed),
            };
            Ok(done.back_to_list(&user.seal(&app)))
        }
        (role, active) => {
            let why: Vec<String> = [role.err(), active.err()].into_iter().flatten().collect();
            refused_on_list(&app, &user, (id, "role"), "No change", &why.join(" ")).await
        }
    }
}

#[derive(Template)]
#[template(path = "pages/admin_role.html")]
pub(super) struct RolePage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) role: String,
    pub(super) new_role: &'static str,
    /// Open drafts they own and sign, which leaving sales strands.
    pub(super) owned: u64,
    pub(super) signed: u64,
    pub(super) drafts: Vec<DraftRow>,
    /// Where their drafts are handed over, as the pages say it.
    pub(super) hand_over_where: &'static str,
}

/// One of someone's open drafts, as the pages that ask before stranding
/// them list it: for the admin to know which customers wait on whom.
pub(super) struct DraftRow {
    pub(super) customer: String,
    pub(super) reference: String,
    pub(super) total: String,
    pub(super) valid_until: String,
    /// "owns and signs", "owns" or "signs".
    pub(super) part: &'static str,
}

/// `person`'s open drafts as [`DraftRow`]s.
pub(super) async fn draft_rows(app: &AppState, person: Uuid) -> Result<Vec<DraftRow>, PageError> {
    let drafts = app.store.open_drafts_of(person).await?;
    Ok(drafts
        .into_iter()
        .map(|d| DraftRow {
            customer: match d.customer_company.is_empty() {
                true => d.customer_name,
                false => format!("{} ({})", d.customer_name, d.customer_company),
            },
            reference: pricegate_domain::quote_reference(d.id),
            total: pricegate_mail::compose::money(&d.currency, d.total_minor),
            valid_until: d.valid_until.to_string(),
            part: match (d.owns, d.signs) {
                (true, true) => "owns and signs",
                (true, false) => "owns",
                _ => "signs",
            },
        })
        .collect())
}

/// The page that asks before a role change that does what one click should
/// not: taking a salesperson with open drafts out of sales (nobody can
/// edit or finalise those until they are handed over), or making someone
/// an admin. `None` for any other change, which is saved at once.
pub(super) async fn role_change_to_confirm(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    new: Role,
) -> Result<Option<RolePage>, PageError> {
    let who = app.store.get_user(id).await?;
    if who.role == new.as_str() || id == user.0.actor.id {
        return Ok(None);
    }
    let OpenDrafts { owned, signed, .. } =
        app.store.open_quote_counts(Some(&[id])).await?.get(&id).copied().unwrap_or_default();
    let strands = who.role == Role::Sales.as_str() && owned + signed > 0;
    if !strands && new != Role::Admin {
        return Ok(None);
    }
    Ok(Some(RolePage {
        hand_over_where: "on the users page",
        layout: user.layout(format!("Make {} {}", who.name, new.as_str())),
        csrf: user.csrf().to_owned(),
        id,
        drafts: if strands { draft_rows(app, id).await? } else { Vec::new() },
        name: who.name,
        email: who.email,
        role: who.role,
        new_role: new.as_str(),
        owned,
        signed,
    }))
}

/// Corrects someone's name or e-mail address (a typo when they were added):
/// what differs from what they have is checked (an address taken under
/// looser rules may stay as it is while the name is corrected), and the
/// first refused is named on the list.
pub(super) async fn correct_identity(
    app: &AppState,
    user: &PageUser,
    id: Uuid,
    name: &str,
    email: &str,
) -> Result<Response, PageError> {
    let now = app.store.get_user(id).await?;
    let typed = (id, name.to_owned(), email.to_owned());
    let name = (name.trim() != now.name).then(|| Text::parse("name", name, limits::NAME)).transpose();
    let email = (!email.trim().eq_ignore_ascii_case(&now.email)).then(|| Email::parse(email)).transpose();
    let refused = match (name, email) {
        (Ok(None), Ok(None)) => return Ok(Done::Unchanged(id).back_to_list(&user.seal(app))),
        (Ok(name), Ok(email)) => {
            let readdressed = email.is_some();
            let patch = UserPatch { name, email, ..UserPatch::default() };
            match app.store.update_user(&user.0.actor, id, patch).await {
                Ok(saved) if saved.changed && readdressed => {
                    let done = Done::Readdressed { id, told: saved.old_address_told };
                    return Ok(done.back_to_list(&user.seal(app)));
                }
                Ok(saved) => return Ok(Done::saved(id, saved.changed).back_to_list(&user.seal(app))),
                Err(StoreError::Conflict { code: "email_taken", message }) => ("email", message),
                Err(e) => return Err(e.into()),
            }
        }
        (Err(e), _) => ("name", in_words(e.message, LABELS)),
        (_, Err(e)) => ("email", in_words(e.message, LABELS)),
    };
    let mut page = refused_page(app, user, (id, refused.0), "Not saved", &refused.1).await?;
    page.typed = Some(typed);
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// The list again, saying what was refused for whom (`what` for the user
/// of `at`) and why, with the focus on the control of `at` in their row.
pub(super) async fn refused_on_list(
    app: &AppState,
    user: &PageUser,
    at: (Uuid, &'static str),
    what: &str,
    why: &str,
) -> Result<Response, PageError> {
    let page = refused_page(app, user, at, what, why).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// The list, saying what was refused (see [`refused_on_list`]).
pub(super) async fn refused_page(
    app: &AppState,
    user: &PageUser,
    at: (Uuid, &'static str),
    what: &str,
    why: &str,
) -> Result<UsersPage, PageError> {
    let mut page = page(app, user, &Listing::default(), &[at.0]).await?;
    let name = page.users.iter().find(|r| r.user.id == at.0).map(|r| r.user.name.clone());
    let name = name.ok_or_else(|| PageError::from(StoreError::not_found("user")))?;
    page.refused = Some(format!("{what} for {name}. {why}"));
    page.refused_at = Some(at);
    Ok(page)
}

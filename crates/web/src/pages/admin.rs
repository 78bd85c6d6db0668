//! Admin: the people who use Pricegate — create, change role, set a new
//! password, deactivate, hand their quotes over — the mail outbox, and the
//! settings the server runs with.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pricegate_domain::{Email, Invalid, Password, Role, Text, limits};
use pricegate_store::views::UserView;
use pricegate_store::{ListedAfter, NewUser, OpenDrafts, StoreError, UserPatch};
use uuid::Uuid;

use super::{Admin, CsrfForm, DoneCookie, Layout, PageError, PageId, PageQuery, PageUser, Seal, in_words, render};
use crate::{AppState, filters};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/{id}", post(update))
        .route("/admin/users/{id}/deactivate", get(confirm_deactivate))
        .route("/admin/users/{id}/handover", post(hand_over))
        .route("/admin/users/{id}/password", post(set_password))
        .route("/admin/users/{id}/password-link", post(send_password_link))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{id}/resend", post(resend))
        .route("/admin/settings", get(settings))
}

#[derive(Template)]
#[template(path = "pages/admin_users.html")]
struct UsersPage {
    layout: Layout,
    csrf: String,
    /// The admin looking: their own password is changed on their account page.
    me: uuid::Uuid,
    /// What the last action did.
    message: Option<String>,
    /// Why the last action was refused.
    refused: Option<String>,
    /// Whose control it was refused on, and which (`role`, `password`, `to`):
    /// that control takes the focus.
    refused_at: Option<(Uuid, &'static str)>,
    /// A refused correction of someone's name and e-mail, as typed: their
    /// row's form shows it again, to be put right.
    typed: Option<(Uuid, String, String)>,
    /// The shortest password allowed.
    min_chars: usize,
    /// How many days a link to choose a password works.
    link_days: i64,
    users: Vec<UserRow>,
    /// The search as typed.
    q: String,
    /// Whether the list is narrowed by a search.
    searched: bool,
    /// Whether this is a later page of the list.
    later: bool,
    /// What in the address could not be read, said once above the list.
    note: Option<String>,
    /// The next page of the list, when there is one.
    more: Option<String>,
    /// The whole list's first page, when this is not it.
    everyone: Option<String>,
    /// Active salespeople: who can take quotes over.
    sales: Vec<super::Signer>,
    name: String,
    email: String,
    role: String,
    /// The new-user form's refused fields, each with its sentence.
    errors: std::collections::HashMap<String, String>,
    /// Set when mail is only written as files there: invitations and
    /// links reach nobody.
    mail_to_files: Option<String>,
}

struct UserRow {
    u: UserView,
    /// Draft quotes this person owns and signs.
    open: OpenDrafts,
    /// Active and in sales: their drafts need nobody else.
    can_sign: bool,
    /// When they were invited to choose a password, while they have yet to.
    invited: Option<String>,
    /// Their last invitation e-mail never went out.
    invitation_set_aside: bool,
    /// When they last logged in, as the page writes times; `None` if never.
    last_login: Option<String>,
}

impl UserRow {
    /// The e-mail address in two parts, so that a narrow column breaks it
    /// before the `@` rather than inside the domain.
    fn email_parts(&self) -> (&str, &str) {
        match self.u.email.rfind('@') {
            Some(at) => self.u.email.split_at(at),
            None => (self.u.email.as_str(), ""),
        }
    }

    /// When they last logged in, or that they never have.
    fn last_login_said(&self) -> String {
        match &self.last_login {
            Some(at) => format!("last logged in {at}"),
            None => "never logged in".to_owned(),
        }
    }
}

impl UsersPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    /// Whether `control` of `id`'s row is the one the last refusal was about.
    fn refused_at(&self, id: &Uuid, control: &str) -> bool {
        self.refused_at.is_some_and(|(i, c)| i == *id && c == control)
    }

    /// The name and e-mail `u`'s correction form shows: as typed, if a
    /// correction of theirs was just refused; else as they are.
    fn identity_of<'a>(&'a self, u: &'a UserView) -> (&'a str, &'a str) {
        match &self.typed {
            Some((id, name, email)) if *id == u.id => (name, email),
            _ => (&u.name, &u.email),
        }
    }
}

/// Users on one page of the list.
const PAGE_SIZE: u64 = 100;

/// Which users the list shows: those whose name or e-mail contains `q`
/// (everyone without it), by name, after the row with the name `after_name`
/// and the address `after` (the last of the page before, as it was shown).
#[derive(serde::Deserialize, Default)]
struct Listing {
    #[serde(default)]
    q: String,
    after: Option<String>,
    after_name: Option<String>,
}

impl Listing {
    /// What to look for: the search without control characters, trimmed,
    /// and cut at 200 characters.
    fn text(&self) -> Option<String> {
        super::search_text(&self.q)
    }

    /// Where the list goes on from, if this is a later page.
    fn after(&self) -> Option<ListedAfter<'_>> {
        let email = self.after.as_deref()?;
        Some(ListedAfter { name: self.after_name.as_deref(), email })
    }

    /// The list's address, from after `last` (a row as shown) on.
    fn address(&self, last: Option<&UserView>) -> String {
        let text = self.text();
        super::list_address(
            "/admin/users",
            &[
                text.as_deref().map(|q| ("q", q)),
                last.map(|u| ("after", u.email.as_str())),
                last.map(|u| ("after_name", u.name.as_str())),
            ],
        )
    }
}

/// The users page: the users `listing` asks for, after those in `pinned`
/// (whom the last action was about, wherever the list would place them).
async fn page(app: &AppState, user: &PageUser, listing: &Listing, pinned: &[Uuid]) -> Result<UsersPage, PageError> {
    let text = listing.text();
    let mut note = None;
    let mut found = match app.store.find_users(text.as_deref(), listing.after(), PAGE_SIZE + 1).await {
        // A later page's link naming nobody now (an old link, or a mistyped one): the first page.
        Err(StoreError::Invalid(_)) => {
            note = Some(
                "That page of the list is gone: its link names nobody on the list now. Showing the first.".to_owned(),
            );
            app.store.find_users(text.as_deref(), None, PAGE_SIZE + 1).await?
        }
        found => found?,
    };
    let more = (found.len() as u64 > PAGE_SIZE).then(|| {
        found.truncate(PAGE_SIZE as usize);
        listing.address(found.last())
    });
    let mut pinned: Vec<UserView> = app.store.users_by_id(pinned).await?.into_values().collect();
    pinned.sort_by(|a, b| a.email.cmp(&b.email));
    let users: Vec<UserView> =
        pinned.iter().cloned().chain(found.into_iter().filter(|u| !pinned.iter().any(|p| p.id == u.id))).collect();
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let open = app.store.open_quote_counts(Some(&ids)).await?;
    let invited = app.store.invited_users(&ids).await?;
    // Whom drafts can go to, read only when a row offers to hand some over.
    let hands_over = users.iter().any(|u| !u.can_sign() && open.get(&u.id).is_some_and(|o| o.owned + o.signed > 0));
    let sales = match hands_over {
        true => super::signers_by_name(app).await?,
        false => Vec::new(),
    };
    let calendar = app.store.calendar();
    Ok(UsersPage {
        mail_to_files: app.configuration.mail_to_files.clone(),
        q: text.clone().unwrap_or_default(),
        searched: text.is_some(),
        later: listing.after.is_some() && note.is_none(),
        note,
        more,
        everyone: (text.is_some() || listing.after.is_some()).then(|| "/admin/users".to_owned()),
        layout: user.layout("Users"),
        me: user.0.actor.id,
        message: None,
        refused: None,
        refused_at: None,
        typed: None,
        min_chars: Password::MIN_CHARS,
        link_days: pricegate_store::INVITATION_LINK_DAYS,
        csrf: user.csrf().to_owned(),
        sales,
        users: users
            .into_iter()
            .map(|u| {
                let open = open.get(&u.id).copied().unwrap_or_default();
                let invitation = invited.get(&u.id);
                let invitation_set_aside = invitation.is_some_and(|i| i.set_aside);
                let invited = invitation.map(|i| calendar.stamp(i.at, true));
                let last_login = u.last_login_at.map(|at| calendar.stamp(at, true));
                UserRow { can_sign: u.can_sign(), open, invited, invitation_set_aside, last_login, u }
            })
            .collect(),
        name: String::new(),
        email: String::new(),
        role: "sales".into(),
        errors: Default::default(),
    })
}

/// What a form on the users page did, told once by the list it leads back
/// to. It names ids and counts, never text: the list says it from the users
/// as they are.
#[derive(Debug, PartialEq)]
enum Done {
    Created(Uuid),
    Updated(Uuid),
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

const DONE: DoneCookie = DoneCookie { name: "pricegate_users_done", page: "/admin/users" };

/// `n` open drafts, in words.
fn open_drafts(n: u64) -> String {
    if n == 1 { "open draft".to_owned() } else { format!("{n} open drafts") }
}

/// What a hand-over did, naming both people: how many drafts changed hands,
/// then which part of them the taker has now (a draft `from` both owned and
/// signed counts in both).
fn handed_over(from: &str, to: &str, drafts: u64, owned: u64, signed: u64) -> String {
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
fn stranded(name: &str, open: OpenDrafts) -> Option<String> {
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

impl Done {
    /// A user's form saved: what the store says it changed, under the row's lock.
    fn saved(id: Uuid, changed: bool) -> Done {
        if changed { Done::Updated(id) } else { Done::Unchanged(id) }
    }

    fn cookie_value(&self) -> String {
        match self {
            Done::Created(id) => format!("created.{id}"),
            Done::Updated(id) => format!("updated.{id}"),
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
    fn about(&self) -> Vec<Uuid> {
        match self {
            Done::Created(id)
            | Done::Updated(id)
            | Done::Unchanged(id)
            | Done::PasswordSet(id)
            | Done::Invited(id)
            | Done::LinkSent(id) => vec![*id],
            Done::HandedOver { from, to, .. } | Done::LeftHandingOver { from, to, .. } => vec![*from, *to],
        }
    }

    fn parse(value: &str) -> Option<Done> {
        let mut parts = value.split('.');
        let kind = parts.next()?;
        let mut id = || parts.next().and_then(|p| Uuid::parse_str(p).ok());
        let done = match kind {
            "created" => Done::Created(id()?),
            "updated" => Done::Updated(id()?),
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

    fn sentence(&self, users: &[UserRow]) -> Option<String> {
        let user = |id: &Uuid| users.iter().find(|r| r.u.id == *id).map(|r| &r.u);
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
                let row = users.iter().find(|r| r.u.id == *id)?;
                let u = &row.u;
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
            Done::Updated(id) => {
                let row = users.iter().find(|r| r.u.id == *id)?;
                let u = &row.u;
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
                    (Some(at), true, false) => format!(
                        " They have yet to choose their password: the invitation last went to {} at {at}.",
                        u.email
                    ),
                    _ => String::new(),
                };
                format!("Saved {} ({}): {}, {active}.{stranded}{invited}", u.name, u.email, u.role)
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
    fn back_to_list(self, seal: &Seal) -> Response {
        DONE.redirect(seal, &self.cookie_value())
    }
}

async fn list(
    State(app): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    // An address that cannot be read (a search given twice) lists everyone, and says so.
    PageQuery { query: listing, unreadable }: PageQuery<Listing>,
) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    let seal = user.seal(&app);
    let done = DONE.read(&headers, &seal).and_then(Done::parse);
    let pinned = done.as_ref().map(Done::about).unwrap_or_default();
    let mut page = page(&app, &user, &listing, &pinned).await?;
    if unreadable {
        page.note = Some("This address could not be read (a search given twice, say): showing everyone.".to_owned());
    }
    page.message = done.and_then(|d| d.sentence(&page.users));
    Ok(DONE.told(&headers, &seal, &page))
}

/// Domain messages name the field as the API spells it; the page says it in words.
const LABELS: &[(&str, &str)] =
    &[("name", "The name"), ("email", "The e-mail"), ("role", "The role"), ("password", "The password")];

async fn create(
    State(app): State<AppState>,
    CsrfForm { user, form, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    // Every field is checked, so the form comes back with all its problems at once.
    let name = Text::parse("name", form.get("name"), pricegate_domain::limits::NAME);
    let email = Email::parse(form.get("email"));
    let role = Role::parse(form.get("role"));
    // No password: they are e-mailed a link to choose their own.
    let password = match form.get("password") {
        "" => Ok(None),
        typed => Password::parse(typed).map(Some),
    };
    let errors: Vec<Invalid> = match (name, email, role, password) {
        (Ok(name), Ok(email), Ok(role), Ok(password)) => {
            let invited = password.is_none();
            match app.store.create_user(Some(&user.0.actor), NewUser { name, email, role, password }).await {
                Ok(created) if invited => return Ok(Done::Invited(created.id).back_to_list(&user.seal(&app))),
                Ok(created) => return Ok(Done::Created(created.id).back_to_list(&user.seal(&app))),
                Err(StoreError::Invalid(e)) => vec![e],
                Err(StoreError::Conflict { message, .. }) => vec![Invalid::new("email", message)],
                Err(e) => return Err(e.into()),
            }
        }
        (name, email, role, password) => {
            [name.err(), email.err(), role.err(), password.err()].into_iter().flatten().collect()
        }
    };
    let mut page = page(&app, &user, &Listing::default(), &[]).await?;
    // An address already taken is named with the rest, not after they are put right.
    let taken = match Email::parse(form.get("email")) {
        Ok(e) => app.store.email_taken(&e).await?,
        Err(_) => false,
    };
    let errors = errors.into_iter().chain(taken.then(|| Invalid::new("email", pricegate_store::EMAIL_TAKEN)));
    page.name = form.get("name").to_owned();
    page.email = form.get("email").to_owned();
    page.role = form.get("role").to_owned();
    for invalid in errors {
        let field = if ["name", "email", "role", "password"].contains(&invalid.field.as_str()) {
            invalid.field
        } else {
            "email".into()
        };
        page.errors.entry(field).or_insert(in_words(invalid.message, LABELS));
    }
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

async fn update(
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
struct RolePage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    name: String,
    email: String,
    role: String,
    new_role: &'static str,
    /// Open drafts they own and sign, which leaving sales strands.
    owned: u64,
    signed: u64,
    drafts: Vec<DraftRow>,
    /// Where their drafts are handed over, as the pages say it.
    hand_over_where: &'static str,
}

/// One of someone's open drafts, as the pages that ask before stranding
/// them list it: for the admin to know which customers wait on whom.
struct DraftRow {
    customer: String,
    reference: String,
    total: String,
    valid_until: String,
    /// "owns and signs", "owns" or "signs".
    part: &'static str,
}

/// `person`'s open drafts as [`DraftRow`]s.
async fn draft_rows(app: &AppState, person: Uuid) -> Result<Vec<DraftRow>, PageError> {
    let drafts = app.store.open_drafts_of(person).await?;
    Ok(drafts
        .into_iter()
        .map(|d| DraftRow {
            customer: match d.customer_company.is_empty() {
                true => d.customer_name,
                false => format!("{} ({})", d.customer_name, d.customer_company),
            },
            reference: pricegate_mail::compose::quote_reference(d.id),
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
async fn role_change_to_confirm(
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
async fn correct_identity(
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
            let patch = UserPatch { name, email, ..UserPatch::default() };
            match app.store.update_user(&user.0.actor, id, patch).await {
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
async fn refused_on_list(
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
async fn refused_page(
    app: &AppState,
    user: &PageUser,
    at: (Uuid, &'static str),
    what: &str,
    why: &str,
) -> Result<UsersPage, PageError> {
    let mut page = page(app, user, &Listing::default(), &[at.0]).await?;
    let name = page.users.iter().find(|r| r.u.id == at.0).map(|r| r.u.name.clone());
    let name = name.ok_or_else(|| PageError::from(StoreError::not_found("user")))?;
    page.refused = Some(format!("{what} for {name}. {why}"));
    page.refused_at = Some(at);
    Ok(page)
}

#[derive(Template)]
#[template(path = "pages/admin_deactivate.html")]
struct DeactivatePage {
    layout: Layout,
    csrf: String,
    id: Uuid,
    name: String,
    email: String,
    role: String,
    owned: u64,
    signed: u64,
    drafts: Vec<DraftRow>,
    /// Whom their drafts can go to as they are deactivated: active
    /// salespeople but them.
    sales: Vec<super::Signer>,
    hand_over_where: &'static str,
}

/// What deactivating someone does, before it is done: the button on the
/// users page leads here, and this page's form deactivates.
async fn confirm_deactivate(
    State(app): State<AppState>,
    PageId(id): PageId,
    user: PageUser,
) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    let who = app.store.get_user(id).await?;
    if id == user.0.actor.id || !who.active {
        // Nothing to confirm: one's own account, or one already inactive.
        return Ok(Redirect::to("/admin/users").into_response());
    }
    let OpenDrafts { owned, signed, .. } =
        app.store.open_quote_counts(Some(&[id])).await?.get(&id).copied().unwrap_or_default();
    let sales = match owned + signed > 0 {
        true => super::signers_by_name(&app).await?.into_iter().filter(|s| s.id != id).collect(),
        false => Vec::new(),
    };
    let page = DeactivatePage {
        hand_over_where: match sales.is_empty() {
            false => "below, as you deactivate them (or later, on the users page)",
            true => "on the users page, once another salesperson can take them (there is none now)",
        },
        layout: user.layout(format!("Deactivate {}", who.name)),
        csrf: user.csrf().to_owned(),
        drafts: if owned + signed > 0 { draft_rows(&app, id).await? } else { Vec::new() },
        sales,
        id,
        name: who.name,
        email: who.email,
        role: who.role,
        owned,
        signed,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Hands a person's draft quotes to a salesperson (see
/// [`pricegate_store::Store::hand_over_quotes`]).
async fn hand_over(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    let Ok(to) = Uuid::parse_str(form.get("to").trim()) else {
        return refused_on_list(&app, &user, (id, "to"), "No hand-over", "Choose who takes the quotes over.").await;
    };
    match app.store.hand_over_quotes(&user.0.actor, id, to).await {
        Ok(moved) => {
            Ok(Done::HandedOver { from: id, to, drafts: moved.drafts, owned: moved.owned, signed: moved.signed }
                .back_to_list(&user.seal(&app)))
        }
        Err(StoreError::Invalid(e)) => {
            let why = in_words(e.message, &[("to", "Whoever takes the quotes over")]);
            refused_on_list(&app, &user, (id, "to"), "No hand-over", &why).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Sets a new password for someone who lost theirs (see
/// [`pricegate_store::Store::update_user`]: it ends their sessions and API
/// tokens). An admin's own password is changed on their account page, where
/// the current one is asked for.
async fn set_password(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, form, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    let password = match crate::api::auth::new_password(form.get("new_password")) {
        Ok(password) => password,
        Err(e) => return refused_on_list(&app, &user, (id, "password"), "No new password", &e.message).await,
    };
    let patch = UserPatch { password: Some(password), ..UserPatch::default() };
    match app.store.update_user(&user.0.actor, id, patch).await {
        Ok(_) => Ok(Done::PasswordSet(id).back_to_list(&user.seal(&app))),
        // The rules the form could not check alone: none built on their name or address.
        Err(StoreError::Invalid(e)) => {
            refused_on_list(&app, &user, (id, "password"), "No new password", &Password::as_new(e).message).await
        }
        Err(e) => Err(e.into()),
    }
}

/// E-mails someone a link to choose a password: the way to give a new
/// password without typing one for them.
async fn send_password_link(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    match app.store.send_password_link(&user.0.actor, id).await {
        Ok(_) => Ok(Done::LinkSent(id).back_to_list(&user.seal(&app))),
        Err(StoreError::Conflict { message, .. }) => {
            refused_on_list(&app, &user, (id, "password"), "No link sent", &message).await
        }
        Err(e) => Err(e.into()),
    }
}

struct MailRow {
    id: Uuid,
    /// When it was queued, and when the SMTP server took it.
    queued: String,
    sent: String,
    kind: String,
    /// The kind in words.
    kind_said: &'static str,
    to: String,
    subject: String,
    state: String,
    attempts: i32,
    next_attempt_at: String,
    last_error: String,
    /// A failed e-mail about a notice that a later one has reached its
    /// person since: why it is not offered to send again.
    reached_later: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin_outbox.html")]
struct OutboxPage {
    layout: Layout,
    csrf: String,
    /// The state shown, or empty for every message.
    state: &'static str,
    /// What in the address could not be read (a state there is not): every message is shown.
    list_note: Option<&'static str>,
    /// The address searched for, as typed, or empty.
    to: String,
    /// What the last "Send again" did.
    message: Option<String>,
    messages: Vec<MailRow>,
    /// The next page's address, when there are older messages.
    older: Option<String>,
    /// The first page's address, when this is a later one.
    newest: Option<String>,
    /// A later page's link that names no message now: the first page is shown.
    gone: bool,
    /// Set when mail is only written as files there.
    mail_to_files: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin_settings.html")]
struct SettingsPage<'a> {
    layout: Layout,
    entries: &'a [crate::ConfigEntry],
    mail_to_files: Option<String>,
}

/// The settings this process runs with (read-only: they come from the environment).
async fn settings(State(app): State<AppState>, user: PageUser) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    let page = SettingsPage {
        layout: user.layout("Settings"),
        entries: &app.configuration.entries,
        mail_to_files: app.configuration.mail_to_files.clone(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// What the outbox page's "Send again" did, told once: `resent.<id>`.
const OUTBOX_DONE: DoneCookie = DoneCookie { name: "pricegate_outbox_done", page: "/admin/outbox" };

/// The outbox's states, as the page's filter offers them.
const MAIL_STATES: [&str; 4] = ["pending", "failed", "skipped", "sent"];

/// Messages on one page of the outbox.
const OUTBOX_PAGE: u64 = 200;

/// Which messages the outbox page shows: `?state=failed&to=<part of the address>&before=<id>`.
#[derive(serde::Deserialize, Default)]
struct OutboxListing {
    state: Option<String>,
    /// Part of the recipients' address.
    #[serde(default)]
    to: String,
    before: Option<String>,
}

/// The mail outbox, newest first: what was sent, what waits, and why it
/// failed. Two hundred messages to a page, of one state or all
/// (`?state=failed`; a state it does not know shows all, and says so), and
/// `&before=<id>` for those queued before that one.
async fn outbox(
    State(app): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    // An address that cannot be read (a state given twice) lists every message, and says so.
    PageQuery { query: listing, unreadable }: PageQuery<OutboxListing>,
) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    let asked = listing.state.as_deref().filter(|a| !a.is_empty());
    let state = MAIL_STATES.into_iter().find(|s| Some(*s) == asked).unwrap_or("");
    // A state it does not know (an edited address), or an address that
    // cannot be read (a search given twice), is said, not ignored in silence.
    let list_note = match (unreadable, asked.is_some() && state.is_empty()) {
        (true, _) => Some("This address could not be read (a filter given twice, say): showing every message."),
        (false, true) => Some("There is no such state of a message: showing every message."),
        (false, false) => None,
    };
    let to = super::search_text(&listing.to);
    let listing_before = |before: Option<Uuid>| {
        app.store.list_outbox((!state.is_empty()).then_some(state), to.as_deref(), before, OUTBOX_PAGE + 1)
    };
    // An id that names no message (an old or edited link) shows the first page, and says so.
    let (mut listed, before, gone) = match listing.before.as_deref().filter(|b| !b.is_empty()).map(Uuid::parse_str) {
        None => (listing_before(None).await?, None, false),
        Some(Ok(id)) => match listing_before(Some(id)).await {
            Err(StoreError::Invalid(_)) => (listing_before(None).await?, None, true),
            listed => (listed?, Some(id), false),
        },
        Some(Err(_)) => (listing_before(None).await?, None, true),
    };
    let state_pair = (!state.is_empty()).then_some(("state", state));
    let to_pair = to.as_deref().map(|to| ("to", to));
    let first_page = super::list_address("/admin/outbox", &[state_pair, to_pair]);
    let older = (listed.len() as u64 > OUTBOX_PAGE).then(|| {
        listed.truncate(OUTBOX_PAGE as usize);
        let last = listed.last().map(|m| m.id.to_string()).unwrap_or_default();
        super::list_address("/admin/outbox", &[state_pair, to_pair, Some(("before", &last))])
    });
    let newest = before.is_some().then_some(first_page);
    let calendar = app.store.calendar();
    let failed: Vec<Uuid> = listed.iter().filter(|m| m.state == "failed").map(|m| m.id).collect();
    let mut reached_later = app.store.reached_later(&failed).await?;
    let messages = listed
        .into_iter()
        .map(|m| MailRow {
            reached_later: reached_later.remove(&m.id),
            id: m.id,
            last_error: reason(&m.state, m.attempts, m.last_error.as_deref()),
            queued: calendar.stamp(m.created_at, true),
            sent: m.sent_at.map(|at| calendar.stamp(at, true)).unwrap_or_else(|| "—".to_owned()),
            kind_said: kind_in_words(&m.kind),
            kind: m.kind,
            to: m.to,
            subject: m.subject,
            state: m.state,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at.map(|at| calendar.stamp(at, true)).unwrap_or_else(|| "—".to_owned()),
        })
        .collect();
    let seal = user.seal(&app);
    let resent = OUTBOX_DONE
        .read(&headers, &seal)
        .and_then(|v| v.strip_prefix("resent."))
        .and_then(|id| Uuid::parse_str(id).ok());
    let message = match resent {
        Some(id) => Some(app.store.get_outbox_message(id).await?.row.to).map(|to| {
            format!("Sent again, to {to}: it goes with the next batch, or is set aside if no longer needed.")
        }),
        None => None,
    };
    let page = OutboxPage {
        layout: user.layout("Outbox"),
        csrf: user.csrf().to_owned(),
        state,
        list_note,
        to: to.unwrap_or_default(),
        message,
        messages,
        older,
        newest,
        gone,
        mail_to_files: app.configuration.mail_to_files.clone(),
    };
    Ok(OUTBOX_DONE.told(&headers, &seal, &page))
}

/// "Send again" on a failed message.
async fn resend(
    State(app): State<AppState>,
    PageId(id): PageId,
    CsrfForm { user, .. }: CsrfForm<Admin>,
) -> Result<Response, PageError> {
    match app.store.resend_mail(&user.0.actor, id).await {
        Ok(resent) => Ok(OUTBOX_DONE.redirect_to(
            &user.seal(&app),
            "/admin/outbox?state=pending",
            &format!("resent.{}", resent.id),
        )),
        Err(StoreError::Conflict { message, .. }) => {
            Err(PageError::new(StatusCode::CONFLICT, "Not sent again", message))
        }
        Err(e) => Err(e.into()),
    }
}

/// An outbox row's kind (`signer`, `invitation`) as the outbox page says it.
fn kind_in_words(kind: &str) -> &'static str {
    match kind {
        "publication" => "price notice",
        "reminder" => "reminder",
        "escalation" => "escalation to finance",
        "signer" => "signer or hand-over",
        "approval" => "old prices approved",
        "approval_request" => "approval asked of finance",
        "approval_declined" => "approval declined",
        "finalised" => "quote finalised, to its owner",
        "password_reset" => "password link, asked for",
        "invitation" => "password link, from an admin",
        "password_changed" => "password changed",
        "address_changed" => "address changed",
        _ => "other",
    }
}

/// The outbox page's "last error or reason" of a row: a sent one keeps the
/// error of an earlier attempt, said as such.
fn reason(state: &str, attempts: i32, last_error: Option<&str>) -> String {
    match (state, last_error) {
        ("sent", Some(how)) if how.starts_with(pricegate_store::outbox::NOT_EMAILED) => how.to_owned(),
        ("sent", Some(error)) => format!("Sent at attempt {attempts}; an earlier attempt failed: {error}"),
        (_, error) => error.unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_mail_is_said_in_words() {
        for kind in pricegate_store::OUTBOX_KINDS {
            assert_ne!(kind_in_words(kind), "other", "{kind}");
        }
    }

    #[test]
    fn a_sent_message_s_earlier_failure_is_told_as_such() {
        assert_eq!(reason("sent", 1, None), "");
        assert_eq!(
            reason("sent", 3, Some("SMTP: cannot connect")),
            "Sent at attempt 3; an earlier attempt failed: SMTP: cannot connect"
        );
        assert_eq!(reason("pending", 2, Some("SMTP: cannot connect")), "SMTP: cannot connect");
        let written = "Not e-mailed: written as a file in /var/mail/pricegate by a Pricegate process without SMTP_URL.";
        assert_eq!(reason("sent", 1, Some(written)), written);
    }

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
        ];
        for junk in junk {
            assert_eq!(Done::parse(&junk), None, "{junk}");
        }
    }
}

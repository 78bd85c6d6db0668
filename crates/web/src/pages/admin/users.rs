//! The users page: everyone who uses Pricegate, found by name or address, and the form that invites someone.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pricegate_domain::{Email, Invalid, Password, Role, Text};
use pricegate_store::LoginHold;
use pricegate_store::views::UserView;
use pricegate_store::{ListedAfter, NewUser, OpenDrafts, StoreError};
use uuid::Uuid;

use super::done::{DONE, Done};
use crate::pages::{Admin, CsrfForm, Layout, PageError, PageQuery, PageUser, in_words, render};
use crate::{AppState, filters};

#[derive(Template)]
#[template(path = "pages/admin_users.html")]
pub(super) struct UsersPage {
    pub(super) layout: Layout,
    pub(super) csrf: String,
    /// The admin looking: their own password is changed on their account page.
    pub(super) me: uuid::Uuid,
    /// What the last action did.
    pub(super) message: Option<String>,
    /// Why the last action was refused.
    pub(super) refused: Option<String>,
    /// Whose control it was refused on, and which (`role`, `password`, `to`):
    /// that control takes the focus.
    pub(super) refused_at: Option<(Uuid, &'static str)>,
    /// A refused correction of someone's name and e-mail, as typed: their
    /// row's form shows it again, to be put right.
    pub(super) typed: Option<(Uuid, String, String)>,
    /// The shortest password allowed.
    pub(super) min_chars: usize,
    /// How many days a link to choose a password works.
    pub(super) link_days: i64,
    pub(super) users: Vec<UserRow>,
    /// The search as typed.
    pub(super) q: String,
    /// Whether the list is narrowed by a search.
    pub(super) searched: bool,
    /// Whether this is a later page of the list.
    pub(super) later: bool,
    /// What in the address could not be read, said once above the list.
    pub(super) note: Option<String>,
    /// The next page of the list, when there is one.
    pub(super) more: Option<String>,
    /// The whole list's first page, when this is not it.
    pub(super) everyone: Option<String>,
    /// Active salespeople: who can take quotes over.
    pub(super) sales: Vec<crate::pages::Signer>,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) role: String,
    /// The new-user form's refused fields, each with its sentence.
    pub(super) errors: std::collections::HashMap<String, String>,
    /// Set when mail is only written as files there: invitations and
    /// links reach nobody.
    pub(super) mail_to_files: Option<String>,
}

pub(super) struct UserRow {
    pub(super) user: UserView,
    /// Draft quotes this person owns and signs.
    pub(super) open: OpenDrafts,
    /// Active and in sales: their drafts need nobody else.
    pub(super) can_sign: bool,
    /// When they were invited to choose a password, while they have yet to.
    pub(super) invited: Option<String>,
    /// Their last invitation e-mail never went out.
    pub(super) invitation_set_aside: bool,
    /// When they last logged in, as the page writes times; `None` if never.
    pub(super) last_login: Option<String>,
    /// Failed logins holding them off now, in words ([`held_in_words`]).
    pub(super) held: Option<String>,
}

/// A hold failed logins put on someone's account, as the users page says it
/// to the administrator they ask, with what lifts it.
fn held_in_words(hold: &LoginHold, calendar: pricegate_domain::Calendar) -> String {
    let whence = match (hold.everywhere, hold.addresses) {
        (true, _) => "from every address".to_owned(),
        (false, 1) => "from 1 address".to_owned(),
        (false, n) => format!("from {n} addresses"),
    };
    let minutes = pricegate_store::FAILURE_WINDOW.as_secs() / 60;
    format!(
        "Held off after failed logins ({} in the last {minutes} minutes) {whence} until {}. A password set here, or \
         one they choose by a link, lets them in at once.",
        hold.failures,
        calendar.stamp(hold.until, true)
    )
}

impl UserRow {
    /// The e-mail address in two parts, so that a narrow column breaks it
    /// before the `@` rather than inside the domain.
    pub(super) fn email_parts(&self) -> (&str, &str) {
        match self.user.email.rfind('@') {
            Some(at) => self.user.email.split_at(at),
            None => (self.user.email.as_str(), ""),
        }
    }

    /// When they last logged in, or that they never have.
    pub(super) fn last_login_said(&self) -> String {
        match &self.last_login {
            Some(at) => format!("last logged in {at}"),
            None => "never logged in".to_owned(),
        }
    }
}

impl UsersPage {
    pub(super) fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    /// Whether `control` of `id`'s row is the one the last refusal was about.
    pub(super) fn refused_at(&self, id: &Uuid, control: &str) -> bool {
        self.refused_at.is_some_and(|(i, c)| i == *id && c == control)
    }

    /// The name and e-mail `u`'s correction form shows: as typed, if a
    /// correction of theirs was just refused; else as they are.
    pub(super) fn identity_of<'a>(&'a self, u: &'a UserView) -> (&'a str, &'a str) {
        match &self.typed {
            Some((id, name, email)) if *id == u.id => (name, email),
            _ => (&u.name, &u.email),
        }
    }
}

/// Users on one page of the list.
pub(super) const PAGE_SIZE: u64 = 100;

/// Which users the list shows: those whose name or e-mail contains `q`
/// (everyone without it), by name, after the row with the name `after_name`
/// and the address `after` (the last of the page before, as it was shown).
#[derive(serde::Deserialize, Default)]
pub(super) struct Listing {
    #[serde(default)]
    pub(super) q: String,
    pub(super) after: Option<String>,
    pub(super) after_name: Option<String>,
}

impl Listing {
    /// What to look for: the search without control characters, trimmed,
    /// and cut at 200 characters.
    pub(super) fn text(&self) -> Option<String> {
        crate::pages::search_text(&self.q)
    }

    /// Where the list goes on from, if this is a later page.
    pub(super) fn after(&self) -> Option<ListedAfter<'_>> {
        let email = self.after.as_deref()?;
        Some(ListedAfter { name: self.after_name.as_deref(), email })
    }

    /// The list's address, from after `last` (a row as shown) on.
    pub(super) fn address(&self, last: Option<&UserView>) -> String {
        let text = self.text();
        crate::pages::list_address(
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
pub(super) async fn page(
    app: &AppState,
    user: &PageUser,
    listing: &Listing,
    pinned: &[Uuid],
) -> Result<UsersPage, PageError> {
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
    let more = crate::pages::cut_to_page(&mut found, PAGE_SIZE, |last| listing.address(last));
    let mut pinned: Vec<UserView> = app.store.users_by_id(pinned).await?.into_values().collect();
    pinned.sort_by(|a, b| a.email.cmp(&b.email));
    let users: Vec<UserView> =
        pinned.iter().cloned().chain(found.into_iter().filter(|u| !pinned.iter().any(|p| p.id == u.id))).collect();
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let open = app.store.open_quote_counts(Some(&ids)).await?;
    let invited = app.store.invited_users(&ids).await?;
    let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
    let holds = app.store.login_holds(&emails).await?;
    // Whom drafts can go to, read only when a row offers to hand some over.
    let hands_over = users.iter().any(|u| !u.can_sign() && open.get(&u.id).is_some_and(|o| o.owned + o.signed > 0));
    let sales = match hands_over {
        true => crate::pages::signers_by_name(app).await?,
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
                let held = holds.get(&u.email).map(|hold| held_in_words(hold, calendar));
                UserRow { can_sign: u.can_sign(), open, invited, invitation_set_aside, last_login, held, user: u }
            })
            .collect(),
        name: String::new(),
        email: String::new(),
        role: "sales".into(),
        errors: Default::default(),
    })
}

pub(super) async fn list(
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
pub(super) const LABELS: &[(&str, &str)] =
    &[("name", "The name"), ("email", "The e-mail"), ("role", "The role"), ("password", "The password")];

pub(super) async fn create(
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

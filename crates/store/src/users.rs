use chrono::{DateTime, Utc};
use pricegate_domain::{Email, Password, Role, Text};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, record};
use crate::auth::{Checked, hash_password};
use crate::db::{IN_LIST_CHUNK, db_now};
use crate::entity::{api_tokens, sessions, users};
use crate::views::UserView;
use crate::{Actor, ClientInfo, LoginOutcome, Store, StoreError};

/// Why a new account's e-mail address is refused when another has it.
pub const EMAIL_TAKEN: &str = "A user with this e-mail address already exists.";

#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: Text,
    pub role: Role,
    /// `None`: they choose their own, from the invitation e-mailed to them
    /// in the same transaction (until then no password logs them in).
    pub password: Option<Password>,
}

/// How asking to change one's own password ended.
#[derive(Debug)]
pub enum PasswordChange {
    /// The new password is set, and every session and API token the
    /// account had is ended (the caller opens a new one).
    Changed(Checked),
    /// The current password given is not the account's.
    WrongPassword,
    /// Too many wrong passwords for this account from this address lately
    /// (logins count too): try again after this long.
    HeldOff(std::time::Duration),
    /// Other tries of this account's password from this address are being
    /// checked at this moment, as many as may be: try again in a moment.
    AtOnce,
}

#[derive(Debug, Default)]
pub struct UserPatch {
    pub name: Option<Text>,
    /// A corrected address: what they log in with and are mailed at from now.
    pub email: Option<Email>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password: Option<Password>,
}

/// Someone invited to choose a password who has yet to.
#[derive(Debug, Clone, Copy)]
pub struct Invited {
    pub at: DateTime<Utc>,
    /// The last invitation e-mail never went out (set aside, or failed):
    /// they have no link until one is sent again.
    pub set_aside: bool,
}

/// A place in the list of users (by name, then address) to go on from: the
/// last row of the page before, as it was shown. With its `name`, the place
/// stays where it was when that person is renamed or their address changes
/// (a name alone cannot say it: two people may share one); without it (a
/// link made before names were kept in it), it is where that address's
/// person stands now.
#[derive(Debug, Clone, Copy)]
pub struct ListedAfter<'a> {
    pub name: Option<&'a str>,
    pub email: &'a str,
}

/// A person's name as lists sort and search it: folded as the quotes'
/// search folds text ([`pricegate_migration::fold_case`]), so that Łukasz
/// sorts among the Ls and "wojcik" finds Wójcik. Kept in `users.name_key`.
pub fn name_key(name: &str) -> String {
    pricegate_migration::fold_case(name)
}

impl Store {
    /// Creates a user; `actor` is `None` when the command line does it.
    /// Without a password, the account gets one nobody knows, and an
    /// invitation to choose their own is e-mailed from `actor`.
    pub async fn create_user(&self, actor: Option<&Actor>, new: NewUser) -> Result<UserView, StoreError> {
        let invited_by = match (&new.password, actor) {
            (Some(_), _) => None,
            (None, Some(actor)) => Some(self.get_user(actor.id).await?.name),
            (None, None) => {
                return Err(pricegate_domain::Invalid::new("password", "Give the new account a password.").into());
            }
        };
        let password = match new.password {
            Some(password) => {
                password.check_not_built_on(new.email.as_str(), new.name.as_str())?;
                password
            }
            // 256 random bits nobody is ever shown.
            None => Password::parse(&crate::auth::random_token()?)?,
        };
        let setup = if invited_by.is_some() { Some(self.mail_setup()?) } else { None };
        let password_hash = hash_password(&password).await?;
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        let user = users::ActiveModel {
            id: Set(Uuid::new_v4()),
            email: Set(new.email.as_str().to_owned()),
            name_key: Set(name_key(new.name.as_str())),
            name: Set(new.name.into_inner()),
            role: Set(new.role.as_str().to_owned()),
            password_hash: Set(password_hash),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            invited_at: Set(invited_by.is_some().then_some(now)),
            last_login_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::unique_as(e, "email_taken", EMAIL_TAKEN))?;
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: actor.map(|a| a.id),
                action: "user.created",
                subject_type: "user",
                subject_id: Some(user.id),
                detail: json!({ "email": user.email, "role": user.role, "invited": invited_by.is_some() }),
            },
        )
        .await?;
        if let (Some(by), Some(setup), Some(actor)) = (&invited_by, &setup, actor) {
            crate::outbox::owe_password_mail(&txn, setup, now, &user, Some(by), true).await?;
            crate::password_links::audit_link_sent(&txn, now, actor, &user).await?;
        }
        txn.commit().await?;
        Ok(user.into())
    }

    pub async fn list_users(&self) -> Result<Vec<UserView>, StoreError> {
        let rows = users::Entity::find().order_by_asc(users::Column::Email).all(&self.db).await?;
        Ok(rows.into_iter().map(UserView::from).collect())
    }

    /// Up to `limit` users whose name or e-mail contains `text` (capitals
    /// and accents aside, as [`name_key`] folds them; every user without
    /// it), by name so folded, then address, after the place `after` names
    /// (the last of the page before).
    /// An `after` by address alone that names nobody now is
    /// [`StoreError::Invalid`].
    pub async fn find_users(
        &self,
        text: Option<&str>,
        after: Option<ListedAfter<'_>>,
        limit: u64,
    ) -> Result<Vec<UserView>, StoreError> {
        let mut query = users::Entity::find();
        if let Some(text) = text {
            let folded = name_key(text);
            query =
                query.filter(crate::db::containing(self.db.get_database_backend(), &["name_key", "email"], &folded));
        }
        if let Some(after) = after {
            let key = match after.name {
                Some(name) => name_key(name),
                None => {
                    users::Entity::find()
                        .filter(users::Column::Email.eq(after.email))
                        .one(&self.db)
                        .await?
                        .ok_or_else(|| pricegate_domain::Invalid::new("after", "after names no user."))?
                        .name_key
                }
            };
            query =
                query.filter(Condition::any().add(users::Column::NameKey.gt(key.clone())).add(
                    Condition::all().add(users::Column::NameKey.eq(key)).add(users::Column::Email.gt(after.email)),
                ));
        }
        let rows = query
            .order_by_asc(users::Column::NameKey)
            .order_by_asc(users::Column::Email)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(UserView::from).collect())
    }

    /// Whether an account has the address `email` (stored as [`Email`]
    /// writes it, in small letters, as logging in looks it up).
    pub async fn email_taken(&self, email: &Email) -> Result<bool, StoreError> {
        let found = users::Entity::find().filter(users::Column::Email.eq(email.as_str())).one(&self.db).await?;
        Ok(found.is_some())
    }

    /// The account whose address is `email` as logging in looks it up
    /// ([`Email::for_login`]: trimmed, in small letters).
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<Uuid>, StoreError> {
        let found = users::Entity::find().filter(users::Column::Email.eq(email)).one(&self.db).await?;
        Ok(found.map(|u| u.id))
    }

    /// Who had `email` as their address before it was changed, and when it
    /// changed (the latest change away from it), if anyone: read from the
    /// audit log's `user.updated` entries, which keep each change. Asked by
    /// an auditor with an old e-mail in hand, whether or not someone has
    /// the address now: only the entries whose detail holds it are read.
    pub async fn former_holder_of(&self, email: &str) -> Result<Option<(Uuid, DateTime<Utc>)>, StoreError> {
        use crate::entity::audit_log;
        let backend = self.db.get_database_backend();
        let changes: Vec<(Option<Uuid>, DateTime<Utc>, serde_json::Value)> = audit_log::Entity::find()
            .select_only()
            .column(audit_log::Column::SubjectId)
            .column(audit_log::Column::At)
            .column(audit_log::Column::Detail)
            .filter(audit_log::Column::Action.eq("user.updated"))
            .filter(crate::db::containing(backend, &["CAST(detail AS TEXT)"], email))
            .order_by_desc(audit_log::Column::At)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(changes.into_iter().find_map(|(user, at, detail)| {
            let (before, after) = (detail["before"]["email"].as_str()?, detail["after"]["email"].as_str()?);
            (before.eq_ignore_ascii_case(email) && !after.eq_ignore_ascii_case(email)).then_some((user?, at))
        }))
    }

    /// Everyone invited who has yet to choose a password: one statement
    /// however many users there are (lists of signers mark them).
    pub async fn invited_user_ids(&self) -> Result<std::collections::HashSet<Uuid>, StoreError> {
        Ok(users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::InvitedAt.is_not_null())
            .into_tuple::<Uuid>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect())
    }

    /// Of the users `ids`, the accounts created without a password whose
    /// owners have yet to choose one, each with when they were invited to.
    pub async fn invited_users(&self, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, Invited>, StoreError> {
        use crate::entity::outbox;
        let mut invited = std::collections::HashMap::new();
        for chunk in ids.chunks(IN_LIST_CHUNK) {
            let rows = users::Entity::find()
                .select_only()
                .column(users::Column::Id)
                .column(users::Column::InvitedAt)
                .filter(users::Column::Id.is_in(chunk.iter().copied()))
                .filter(users::Column::InvitedAt.is_not_null())
                .into_tuple::<(Uuid, Option<DateTime<Utc>>)>()
                .all(&self.db)
                .await?;
            if rows.is_empty() {
                continue;
            }
            let people: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
            // Each one's invitation e-mails, the latest last: whether the last went out.
            let mails = outbox::Entity::find()
                .select_only()
                .column(outbox::Column::UserId)
                .column(outbox::Column::State)
                .filter(outbox::Column::UserId.is_in(people))
                .filter(outbox::Column::Kind.eq(crate::outbox::INVITATION))
                .order_by_asc(outbox::Column::CreatedAt)
                .into_tuple::<(Option<Uuid>, String)>()
                .all(&self.db)
                .await?;
            let mut last_state: std::collections::HashMap<Uuid, String> = std::collections::HashMap::new();
            for (user, state) in mails {
                if let Some(user) = user {
                    last_state.insert(user, state);
                }
            }
            invited.extend(rows.into_iter().filter_map(|(id, at)| {
                let set_aside = last_state
                    .get(&id)
                    .is_some_and(|state| state == crate::outbox::SKIPPED || state == crate::outbox::FAILED);
                Some((id, Invited { at: at?, set_aside }))
            }));
        }
        Ok(invited)
    }

    /// The users `ids`, by id (an id that names nobody is left out).
    pub async fn users_by_id(&self, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, UserView>, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut found = std::collections::HashMap::new();
        for chunk in ids.chunks(IN_LIST_CHUNK) {
            let users =
                users::Entity::find().filter(users::Column::Id.is_in(chunk.iter().copied())).all(&self.db).await?;
            found.extend(users.into_iter().map(|u| (u.id, UserView::from(u))));
        }
        Ok(found)
    }

    /// The names of the users `ids`, for a list that names a few of them
    /// (an id that names nobody is left out).
    pub async fn user_names(&self, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, String>, StoreError> {
        Ok(self.users_by_id(ids).await?.into_iter().map(|(id, u)| (id, u.name)).collect())
    }

    pub async fn get_user(&self, id: Uuid) -> Result<UserView, StoreError> {
        users::Entity::find_by_id(id).one(&self.db).await?.map(UserView::from).ok_or(StoreError::not_found("user"))
    }

    pub async fn count_users(&self) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(users::Entity::find().count(&self.db).await?)
    }

    /// Changes the logged-in person's own password, given their current one.
    /// The current password is checked as a login is
    /// ([`Store::attempt_login`]), so wrong guesses here and at the login
    /// form count together. The change is audited as [`Store::update_user`]'s
    /// are, and ends every session and API token of the account. It is
    /// refused (409 `password_changed_meanwhile`) if the password changed
    /// between the check and the change: an admin's reset in that moment
    /// stands.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        current: &str,
        new: Password,
        client: &ClientInfo,
    ) -> Result<PasswordChange, StoreError> {
        let me = users::Entity::find_by_id(actor.id).one(&self.db).await?.ok_or(StoreError::not_found("user"))?;
        let checked = me.password_hash;
        match self.attempt_login(&me.email, current, client).await? {
            LoginOutcome::LoggedIn(_) => {}
            LoginOutcome::Refused | LoginOutcome::Deactivated => return Ok(PasswordChange::WrongPassword),
            LoginOutcome::HeldOff(wait) => return Ok(PasswordChange::HeldOff(wait)),
            LoginOutcome::AtOnce => return Ok(PasswordChange::AtOnce),
        }
        if new.expose() == current {
            return Err(pricegate_domain::Invalid::new(
                "new_password",
                "The new password must differ from the current one.",
            )
            .into());
        }
        let patch = UserPatch { password: Some(new), ..UserPatch::default() };
        let (saved, password_hash) = self.apply_user_patch(actor, actor.id, patch, Some(&checked)).await?;
        Ok(PasswordChange::Changed(Checked { user: saved.user, password_hash }))
    }

    /// Changes a user's name, role, password or whether they may log in.
    /// Role changes and deactivations are audited with the old and new value.
    /// Nobody sets their own password here, admins included: that is
    /// [`Store::change_own_password`], which asks for the current one.
    pub async fn update_user(&self, actor: &Actor, id: Uuid, patch: UserPatch) -> Result<UserUpdate, StoreError> {
        if actor.id == id && patch.password.is_some() {
            return Err(StoreError::conflict(
                "own_password",
                "Your own password is changed with your current one: on your account page, \
                 or with POST /api/v1/me/password.",
            ));
        }
        Ok(self.apply_user_patch(actor, id, patch, None).await?.0)
    }

    /// [`Store::update_user`]'s change, in one transaction with the user's
    /// row locked; with `checked_hash`, only if the password hash is still
    /// the one the caller checked a password against. Also returns the
    /// password hash the user has now.
    async fn apply_user_patch(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: UserPatch,
        checked_hash: Option<&str>,
    ) -> Result<(UserUpdate, String), StoreError> {
        if let Some(password) = &patch.password {
            // Checked before it is hashed and anything is locked, against
            // the account as the patch leaves it.
            let user = users::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::not_found("user"))?;
            let email = patch.email.as_ref().map_or(user.email.as_str(), Email::as_str);
            let name = patch.name.as_ref().map_or(user.name.as_str(), Text::as_str);
            // One's own, changed with the current one, is the new password.
            let own = checked_hash.is_some();
            password.check_not_built_on(email, name).map_err(|e| if own { Password::as_new(e) } else { e })?;
        }
        let password_hash = match &patch.password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let txn = self.begin_write().await?;
        // A deactivation or a role change (what decides who may sign, and
        // who may administer) takes the gate exclusively. Finalisations
        // under way finish first, and those after read the person as they
        // are now: otherwise one that read them still able to sign could
        // commit after they were deactivated, and be stamped later too.
        // And two admins changing each other at once take turns, the second
        // reading itself as the first left it. The gate first, then the
        // user row, in the order drafting takes them.
        // A reactivation too: stamped in commit order, the finalisations
        // it lets through are stamped after it (see `signer_changed_at`).
        let changes_who_may_act = patch.active.is_some() || patch.role.is_some();
        let stamp = if changes_who_may_act {
            crate::gate::lock_gate_exclusively(&txn).await?;
            still_an_admin(&txn, actor).await?;
            Some(crate::gate::stamp_under_exclusive_gate(&txn).await?)
        } else {
            None
        };
        let user =
            users::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or(StoreError::not_found("user"))?;
        // The clock read again once the row is locked: what held it (an
        // acknowledgement by their e-mail's link) is stamped before this.
        let locked_at = db_now(&txn).await?;
        // After the account's own last change, too: a reactivation reads
        // after the deactivation it undoes, whatever the clock says.
        let now = match stamp {
            Some(stamp) => crate::gate::in_commit_order(stamp.max(locked_at), Some(user.updated_at)),
            None => locked_at,
        };
        if checked_hash.is_some_and(|checked| checked != user.password_hash) {
            return Err(StoreError::conflict(
                "password_changed_meanwhile",
                "Your password was changed by someone else just now; nothing was changed. Log in again.",
            ));
        }
        if actor.id == id && (patch.active == Some(false) || patch.role.is_some_and(|r| r != Role::Admin)) {
            return Err(StoreError::conflict(
                "cannot_demote_self",
                "An administrator cannot deactivate themselves or take away their own admin role.",
            ));
        }
        let could_sign = user.can_sign();
        let reactivated = !user.active && patch.active == Some(true);
        let said = |u: &users::Model| json!({ "role": u.role, "active": u.active, "name": u.name, "email": u.email });
        let before = said(&user);
        let before_user = user.clone();
        let mut model = patched(&user, &patch, password_hash);
        if !model.is_changed() {
            txn.rollback().await?;
            let password_hash = user.password_hash.clone();
            return Ok((UserUpdate { user: user.into(), changed: false, old_address_told: false }, password_hash));
        }
        // `set_ne` set them only where they differ.
        let readdressed = model.email.is_set() || model.name.is_set();
        let address_corrected = model.email.is_set();
        let role_changed = model.role.is_set();
        // A link to choose a password is for the person at the address it
        // went to, with the password they had: a new password, a
        // deactivation or a corrected address ends those sent and those
        // still to go (a link to a mistyped address must not let its reader in).
        let links_end = if patch.password.is_some() {
            Some(crate::password_links::NEW_PASSWORD)
        } else if patch.active == Some(false) {
            Some(crate::password_links::DEACTIVATED)
        } else if address_corrected {
            Some(crate::password_links::READDRESSED)
        } else {
            None
        };
        model.updated_at = Set(now);
        let user = model.update(&txn).await.map_err(|e| StoreError::unique_as(e, "email_taken", EMAIL_TAKEN))?;
        let links_ended = match links_end {
            Some(reason) => crate::password_links::void_password_links(&txn, user.id, now, reason).await?,
            None => 0,
        };
        // Someone invited who has yet to choose a password, whose address
        // was mistyped: the invitation just ended goes again, to the address
        // as corrected, or they would have no way in. So does it to someone
        // reactivated: their deactivation ended the link they had. And to
        // someone moved to another role: the invitation says what theirs has
        // them do.
        let invite_again = address_corrected || reactivated || role_changed;
        let user = match (&self.mail, invite_again && user.invited_at.is_some() && user.active) {
            (Some(setup), true) if patch.password.is_none() => {
                // One still to go, in the role they had, would arrive beside
                // it (a corrected address sets it aside with the links).
                if role_changed && links_end.is_none() {
                    crate::password_links::set_aside_password_mail(&txn, user.id, crate::password_links::ROLE_CHANGED)
                        .await?;
                }
                let by = name_of(&txn, actor.id).await?;
                crate::outbox::owe_password_mail(&txn, setup, now, &user, Some(&by), true).await?;
                crate::password_links::audit_link_sent(&txn, now, actor, &user).await?;
                let mut invited: users::ActiveModel = user.into();
                invited.invited_at = Set(Some(now));
                invited.update(&txn).await?
            }
            _ => user,
        };
        // Acknowledgement links sent to the address before: whoever reads
        // mail there must not acknowledge for them. They end as expired
        // (the page says to acknowledge in Pricegate itself, or wait for
        // the next reminder, whose links go to the address as corrected).
        // So do they at a deactivation: a leaver's mailbox, often passed on
        // to someone else, must not acknowledge for them if they come back.
        let ack_links_ended = match address_corrected || patch.active == Some(false) {
            true => crate::ack_links::end_ack_links(&txn, user.id, now).await?,
            false => 0,
        };
        if readdressed {
            readdress_mail_to_go(&txn, &user, address_corrected, now).await?;
        }
        let old_address_told = match &self.mail {
            Some(setup) => {
                tell_account_changed(&txn, setup, actor, &before_user, &user, patch.password.is_some(), now).await?
            }
            None => false,
        };
        // Drafts they signed for someone else now wait for another signer,
        // whom only their owners (or an administrator) can name: told so.
        if could_sign && !user.can_sign() {
            self.tell_owners_signer_gone(&txn, actor, &user, !user.active, now).await?;
        }
        // Back (reactivated, or into sales) with drafts they sign: the
        // notices published while they could not sign, never mailed to
        // them, that hold those drafts up are mailed to them now, and their
        // reminders count from now, not from each publication. Those mailed
        // to them before keep the schedule they were on.
        if !could_sign && user.can_sign() {
            self.tell_new_signer(&txn, user.id, &[], crate::Told::Returned, now).await?;
            // Owners told they could no longer finalise are told they can again.
            self.tell_owners_signer_back(&txn, actor, &user, reactivated, now).await?;
        }
        // A password set by someone else is for someone held off after
        // wrong ones, too: it works at once.
        let holds_lifted = match (&patch.password, checked_hash) {
            (Some(_), None) => crate::login_limit::lift_holds(&txn, &user.email).await?,
            _ => 0,
        };
        // A new password or a deactivation is how an account is taken back:
        // every session and API token it had ends now, so reactivating it
        // later does not bring them back either.
        let ended = if patch.password.is_some() || patch.active == Some(false) {
            end_sessions_and_tokens(&txn, id, now).await?
        } else {
            0
        };
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(actor.id),
                action: "user.updated",
                subject_type: "user",
                subject_id: Some(user.id),
                detail: json!({
                    "before": before,
                    "after": said(&user),
                    "password_changed": patch.password.is_some(),
                    "sessions_and_tokens_ended": ended,
                    "failed_logins_forgotten": holds_lifted,
                    "password_links_ended": links_ended,
                    "ack_links_ended": ack_links_ended,
                }),
            },
        )
        .await?;
        txn.commit().await?;
        let password_hash = user.password_hash.clone();
        Ok((UserUpdate { user: user.into(), changed: true, old_address_told }, password_hash))
    }
}

/// `user` with `patch` and the new `password_hash`, each field set only
/// where it differs: a save that changes nothing writes nothing, and is no
/// audit entry.
fn patched(user: &users::Model, patch: &UserPatch, password_hash: Option<String>) -> users::ActiveModel {
    let mut model: users::ActiveModel = user.clone().into();
    if let Some(name) = &patch.name {
        model.name_key.set_ne(name_key(name.as_str()));
        model.name.set_ne(name.as_str().to_owned());
    }
    if let Some(email) = &patch.email {
        model.email.set_ne(email.as_str().to_owned());
    }
    if let Some(role) = patch.role {
        model.role.set_ne(role.as_str().to_owned());
    }
    if let Some(active) = patch.active {
        model.active.set_ne(active);
    }
    if let Some(hash) = password_hash {
        model.password_hash = Set(hash);
        model.invited_at.set_ne(None);
    }
    model
}

/// Mail still to go to `user`, whose name or address (`address_corrected`)
/// was just changed, goes to them as they are now. Those kept at their
/// address (telling it that it is no longer theirs) stay addressed to it.
async fn readdress_mail_to_go(
    txn: &DatabaseTransaction,
    user: &users::Model,
    address_corrected: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use crate::entity::outbox;
    // Taken first, in the one order every change of several takes them.
    let locked = crate::outbox::lock_mail_to_go(txn, user.id).await?;
    if locked.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    let still_to_go = || {
        let update = outbox::Entity::update_many()
            .col_expr(outbox::Column::ToAddr, Expr::value(user.email.clone()))
            .col_expr(outbox::Column::ToName, Expr::value(user.name.clone()))
            .filter(outbox::Column::UserId.eq(user.id))
            .filter(outbox::Column::State.eq(crate::outbox::PENDING))
            .filter(outbox::Column::Kind.is_not_in(crate::outbox::KEPT_AT_ITS_ADDRESS.iter().copied()));
        match &locked {
            Some(locked) => update.filter(outbox::Column::Id.is_in(locked.iter().copied())),
            None => update,
        }
    };
    still_to_go().filter(outbox::Column::Attempts.eq(0)).exec(txn).await?;
    // Mail tried before (a claim counts an attempt) at an address now
    // corrected, deferred there (a mistyped domain, say), goes at once to
    // the corrected one, not to the old one on its next try. One being sent
    // this moment may still reach the old address: counting one more
    // attempt ends that worker's claim, so its row is not marked sent to an
    // address it did not go to, and it goes again, to the corrected one.
    if address_corrected {
        still_to_go()
            .col_expr(
                outbox::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(outbox::Column::Attempts), 1),
            )
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
            // What the old address's server answered says nothing of the new one.
            .col_expr(outbox::Column::LastError, Expr::value(Option::<String>::None))
            .filter(outbox::Column::Attempts.gt(0))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// What [`Store::update_user`] did: the user as they are now, and whether
/// it wrote anything (a patch that differs from them in nothing writes
/// nothing, not even an audit entry), as decided under their row's lock.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub user: UserView,
    pub changed: bool,
    /// Its address was corrected and the address it had is e-mailed so.
    pub old_address_told: bool,
}

/// The name of user `id`, as a letter names who did something; empty for
/// someone gone.
async fn name_of(conn: &impl sea_orm::ConnectionTrait, id: Uuid) -> Result<String, StoreError> {
    Ok(users::Entity::find_by_id(id).one(conn).await?.map(|u| u.name).unwrap_or_default())
}

/// Tells someone of a change [`Store::apply_user_patch`] made to their
/// account: a new `password` or role at their address, and a corrected
/// address at the one they had (`before`). Only once they have logged in: until then
/// the account is not yet anyone's to take, and an address mistyped when it
/// was made (an invitation's, or one an administrator gave a password) may
/// be a stranger's, who is told nothing more. Nor while it is deactivated:
/// nobody logs in with it, and the e-mail would only be set aside. Whether
/// the address it had is told.
async fn tell_account_changed(
    txn: &DatabaseTransaction,
    setup: &crate::MailSetup,
    actor: &Actor,
    before: &users::Model,
    after: &users::Model,
    password: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use crate::outbox::{AccountChange, owe_account_mail, recipient};
    let readdressed = before.email != after.email;
    let moved = match before.role != after.role {
        true => Some((Role::parse(&before.role)?, Role::parse(&after.role)?)),
        false => None,
    };
    if before.invited_at.is_some()
        || before.last_login_at.is_none()
        || !after.active
        || (!password && !readdressed && moved.is_none())
    {
        return Ok(false);
    }
    let by = match actor.id == after.id {
        true => None,
        false => Some(name_of(txn, actor.id).await?),
    };
    if password {
        let change = AccountChange::Password { by_link: false };
        owe_account_mail(txn, setup, now, &recipient(after), change, by.as_deref()).await?;
    }
    if let Some((from, to)) = moved {
        // Out of sales (not deactivated: they are not told then), their
        // drafts go to someone else.
        let drafts = match from == Role::Sales && to != Role::Sales {
            true => count_open_drafts(txn, after.id).await?,
            false => 0,
        };
        let change = AccountChange::Role { from, to, drafts };
        owe_account_mail(txn, setup, now, &recipient(after), change, by.as_deref()).await?;
    }
    if readdressed {
        owe_account_mail(txn, setup, now, &recipient(before), AccountChange::Address, by.as_deref()).await?;
    }
    Ok(readdressed)
}

/// How many open drafts `user` owns or signs.
async fn count_open_drafts(txn: &DatabaseTransaction, user: Uuid) -> Result<u64, StoreError> {
    use crate::entity::quotes;
    use sea_orm::PaginatorTrait;
    let theirs = Condition::any().add(quotes::Column::OwnerId.eq(user)).add(quotes::Column::SignerId.eq(user));
    let drafts = quotes::Entity::find().filter(quotes::Column::State.eq(crate::quotes::DRAFT)).filter(theirs);
    Ok(drafts.count(txn).await?)
}

/// Refuses unless `actor` is an active admin as of now, read under the
/// gate's exclusive lock: the role their request was let in with may have
/// been taken away by another admin meanwhile. Every change of a role or
/// deactivation checks this first, so the last admin is never demoted: the
/// one who would do it is then the only admin left, and nobody can take
/// away their own.
async fn still_an_admin(txn: &DatabaseTransaction, actor: &Actor) -> Result<(), StoreError> {
    still_in_role(txn, actor, Role::Admin).await
}

/// Refuses unless `actor` is active in `role` as of now, read in `txn`
/// under the gate lock (held shared or exclusively), which every change of
/// a role or deactivation takes exclusively: the role a request was let in
/// with may have been taken away while it waited.
pub(crate) async fn still_in_role(txn: &DatabaseTransaction, actor: &Actor, role: Role) -> Result<(), StoreError> {
    match users::Entity::find_by_id(actor.id).one(txn).await? {
        Some(u) if u.active && u.role == role.as_str() => Ok(()),
        _ => Err(StoreError::forbidden(
            "forbidden",
            match role {
                Role::Admin => {
                    "Only admins may do this, and you are no longer one: another admin changed your \
                                account just now. Nothing was changed."
                }
                Role::Finance => {
                    "Only finance may do this, and you are no longer in finance: an admin changed \
                                  your account just now. Nothing was changed."
                }
                Role::Sales => {
                    "Only salespeople may do this, and you are no longer one: an admin changed your \
                                account just now. Nothing was changed."
                }
            },
        )),
    }
}

/// Revokes, as of `now`, every live session and API token of `user`
/// (neither revoked nor expired by the database's clock: `now` may be a
/// stamp ahead of it); returns how many. Those expired are left alone:
/// nothing brings one back, and the hourly purge of ended ones
/// ([`Store::forget_ended_sessions`]), which may be deleting them this
/// moment, is neither waited for nor deadlocked with.
pub(crate) async fn end_sessions_and_tokens(
    txn: &DatabaseTransaction,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let clock = db_now(txn).await?;
    let tokens = api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::RevokedAt, Expr::value(now))
        .filter(api_tokens::Column::UserId.eq(user))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .filter(api_tokens::Column::ExpiresAt.gt(clock))
        .exec(txn)
        .await?;
    let sessions = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::UserId.eq(user))
        .filter(sessions::Column::RevokedAt.is_null())
        .filter(sessions::Column::ExpiresAt.gt(clock))
        .exec(txn)
        .await?;
    Ok(tokens.rows_affected + sessions.rows_affected)
}

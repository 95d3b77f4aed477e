//! Accounts: signing in, tokens, the member's own profile and settings, their stats and
//! export, and the life of the account (deactivate, change the password, close).

use crate::views::*;
use crate::{auth, notifications, optional_field, stats, App, AppError, AppResult, PageRequest};
use rapport_domain::{
    Email, InvitationsFrom, MemberId, Password, ProfileField, RuleError, Timestamp,
};
use rapport_store::{
    AccountStatus, MemberRecord, NewMember, ProfilePatch, Tier, TokenHash, TokenRecord,
};
use std::net::IpAddr;
use std::sync::Arc;

/// A member made by a seeding tool rather than by a person signing up.
#[derive(Debug, Clone, Default)]
pub struct SeedMember {
    pub email: String,
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
}

/// What a member may change about their profile.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub name: Option<String>,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

impl App {
    /// Creates members who all share `password` (hashed once) and signs each in, for seeding a
    /// network and for benchmarks. Runs many creates at once so the writer folds them into few
    /// commits. Returns each member's id and token, in input order.
    pub async fn seed_members(
        &self,
        members: Vec<SeedMember>,
        password: &str,
    ) -> AppResult<Vec<(MemberId, String)>> {
        let password = Password::parse(password)?;
        let password_hash = self.hash_password(password).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, m) in members.into_iter().enumerate() {
            let (app, password_hash) = (self.clone(), password_hash.clone());
            tasks.spawn(async move {
                let record = app
                    .store()
                    .create_member(NewMember {
                        email: Email::parse(&m.email)?,
                        password_hash,
                        name: ProfileField::name(&m.name)?.into_string(),
                        headline: m.headline.clone(),
                        company: m.company.clone(),
                        location: m.location.clone(),
                        at: app.now(),
                    })
                    .await?;
                let token = app.issue_token(record.id).await?;
                Ok::<_, AppError>((i, record.id, token))
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            out.push(joined.map_err(|e| AppError::Internal(e.to_string()))??);
        }
        out.sort_by_key(|(i, _, _)| *i);
        Ok(out.into_iter().map(|(_, id, token)| (id, token)).collect())
    }

    /// Connects each pair of members, for seeding a network; returns how many connections were new.
    /// Large lists are written in chunks so that no single transaction holds the writer for long.
    pub async fn seed_connections(&self, pairs: Vec<(MemberId, MemberId)>) -> AppResult<u64> {
        let mut added = 0;
        for chunk in pairs.chunks(5_000) {
            added += self
                .store()
                .seed_connections(chunk.to_vec(), self.now())
                .await?;
        }
        Ok(added)
    }

    /// Signs in from `client`. An unknown email and a wrong password get the same answer after the
    /// same work; guessing is slowed as `login_limit` says.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> AppResult<(Me, String)> {
        let now = self.now();
        self.password_attempts_allowed(email, client, now).await?;
        if !self.inner.config.password_sign_in {
            return Err(password_sign_in_off(&self.inner.config));
        }
        // A member without a password (provisioned, or created at a sign-in through the
        // provider) is checked against the dummy hash like an unknown address: same answer, same
        // work.
        let found = match Email::parse(email) {
            Ok(e) => self.store().login_lookup(&e).await?,
            Err(_) => None,
        }
        .filter(|(_, hash)| !hash.is_empty());
        let hash = found
            .as_ref()
            .map_or_else(|| self.inner.dummy_hash.clone(), |(_, h)| h.clone());
        let password = password.to_owned();
        let matches = self
            .inner
            .hashing
            .run(self.now(), move || auth::verify_password(&password, &hash))
            .await?;
        let member = match found {
            Some((id, _)) if matches => self.store().member(id).await?,
            _ => None,
        };
        let Some(member) = member.filter(|m| m.status.may_sign_in()) else {
            self.login_failed(email, client, now).await?;
            return Err(RuleError::InvalidCredentials.into());
        };
        self.login_succeeded(email, client).await?;
        // Signing in brings a deactivated account back, connections and all.
        let member = if member.status == AccountStatus::Deactivated {
            tracing::info!(member = %member.id, "account reactivated");
            self.store()
                .set_status(member.id, AccountStatus::Active, now)
                .await?
        } else {
            member
        };
        let token = self.issue_token(member.id).await?;
        Ok((self.me_view(member).await?, token))
    }

    /// The argon2id hash of `password`, made through the hashing gate (at most one hash per core
    /// at a time; `503 overloaded` past its short queue).
    pub(crate) async fn hash_password(&self, password: Password) -> AppResult<String> {
        self.inner
            .hashing
            .run(self.now(), move || auth::hash_password(password.expose()))
            .await?
            .map_err(AppError::Internal)
    }

    pub(crate) async fn issue_token(&self, member: MemberId) -> AppResult<String> {
        let token = auth::new_token();
        let hash = auth::token_hash(&token);
        let now = self.now();
        self.store().insert_token(hash, member, now).await?;
        let record = TokenRecord {
            member,
            created_at: now,
            last_used_at: now,
        };
        self.inner.tokens.put(hash, record);
        Ok(token)
    }

    pub async fn logout(&self, token: &str) -> AppResult<()> {
        // The store first: a lookup that read the token before it went cannot be cached after.
        let hash = auth::token_hash(token);
        self.store().delete_token(hash, self.now()).await?;
        self.inner.tokens.forget(&hash);
        Ok(())
    }

    /// The member a bearer token belongs to, while the token lives (`RAPPORT_TOKEN_LIFETIME`
    /// from issue, `RAPPORT_TOKEN_IDLE_LIFETIME` from its last use); a dead, revoked or unknown
    /// token is `Unauthenticated`. A use is recorded at most once a minute, in the background.
    pub async fn authenticate(&self, token: &str) -> AppResult<MemberId> {
        if token.len() > 200 {
            return Err(AppError::Unauthenticated);
        }
        let hash = auth::token_hash(token);
        let now = self.now();
        let lifetime = self.inner.config.token_lifetime;
        let alive = |t: &TokenRecord| lifetime.alive(t.created_at, t.last_used_at, now);
        if let Some(t) = self.inner.tokens.get(&hash) {
            if alive(&t) {
                metrics::counter!("rapport_token_lookups_total", "from" => "cache").increment(1);
                self.record_use(hash, t, now);
                return Ok(t.member);
            }
            // Dead as this process last saw it; over a shared store another replica may have
            // recorded a later use, so the store has the last word.
            self.inner.tokens.forget(&hash);
        }
        metrics::counter!("rapport_token_lookups_total", "from" => "store").increment(1);
        let epoch = self.inner.tokens.epoch();
        let mut t = self
            .store()
            .token(hash)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !alive(&t) && lifetime.alive(t.created_at, now, now) {
            // Idle only by what the store holds: a use this process is still writing may keep it
            // alive. Let those writes land and read again (on this rare path only).
            self.settle_recorded_uses().await;
            t = self
                .store()
                .token(hash)
                .await?
                .ok_or(AppError::Unauthenticated)?;
        }
        if !alive(&t) {
            return Err(AppError::Unauthenticated);
        }
        self.inner.tokens.put_unless_revoked(hash, t, epoch);
        self.record_use(hash, t, now);
        Ok(t.member)
    }

    /// Writes a use of a token at `now` when the last one written is a minute old or more, without
    /// making the request wait for it. Each write in flight holds `recording_uses` shared, so that
    /// [`App::settle_recorded_uses`] can wait for them.
    fn record_use(&self, hash: TokenHash, seen: TokenRecord, now: Timestamp) {
        if !self.inner.tokens.claim_use(&hash, seen.last_used_at, now) {
            return;
        }
        let store = self.inner.store.clone();
        let gate = self.inner.recording_uses.clone();
        let held = gate.clone().try_read_owned().ok();
        tokio::spawn(async move {
            let _held = match held {
                Some(held) => held,
                None => gate.read_owned().await,
            };
            if let Err(e) = store.touch_token(hash, now).await {
                // The token may then die up to this minute early; never late.
                tracing::warn!(error = %e, "a token's last use was not recorded");
            }
        });
    }

    /// Waits until every use this process started recording is written: before a token is found
    /// idle (or pruned as such), no write of this process that would keep it alive is in flight.
    pub(crate) async fn settle_recorded_uses(&self) {
        drop(self.inner.recording_uses.write().await);
    }

    pub async fn me(&self, id: MemberId) -> AppResult<Me> {
        let record = self
            .store()
            .member(id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        self.me_view(record).await
    }

    /// Changes the member's settings: who may invite them, and how they are notified. Every part
    /// is checked before anything is written.
    pub async fn update_settings(
        &self,
        id: MemberId,
        invitations_from: Option<&str>,
        notifications: Option<&std::collections::BTreeMap<String, notifications::ChannelsInput>>,
    ) -> AppResult<Me> {
        let from = invitations_from
            .map(|raw| {
                InvitationsFrom::parse(raw).ok_or_else(|| {
                    RuleError::validation(
                        "invitations_from",
                        "must be everyone, second_degree, email_required or nobody",
                    )
                })
            })
            .transpose()?;
        let prefs = match notifications {
            Some(changes) => {
                let current = self
                    .store()
                    .member(id)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                Some(notifications::apply_changes(
                    current.notification_prefs,
                    changes,
                )?)
            }
            None => None,
        };
        if let Some(from) = from {
            self.store().set_invitations_from(id, from).await?;
        }
        if let Some(prefs) = prefs {
            self.store().set_notification_prefs(id, prefs).await?;
        }
        self.me(id).await
    }

    pub async fn update_me(&self, id: MemberId, input: ProfileInput) -> AppResult<Me> {
        let patch = ProfilePatch {
            name: input
                .name
                .as_deref()
                .map(ProfileField::name)
                .transpose()?
                .map(ProfileField::into_string),
            headline: optional_field("headline", input.headline.as_deref(), 200)?,
            company: optional_field("company", input.company.as_deref(), 100)?,
            location: optional_field("location", input.location.as_deref(), 100)?,
        };
        let record = self.store().update_profile(id, patch).await?;
        self.me_view(record).await
    }

    pub(crate) async fn me_view(&self, m: Arc<MemberRecord>) -> AppResult<Me> {
        let now = self.now();
        // The quota as the send rule counts it (rapport_domain::send).
        let limit = self.send_policy().weekly_limit(m.tier == Tier::Premium);
        let window = self
            .store()
            .sent_since(m.id, now.minus(rapport_domain::send::WEEK), limit)
            .await?;
        let used = window.count.min(u64::from(u32::MAX)) as u32;
        let next_available_at = window
            .oldest
            .and_then(|oldest| rapport_domain::send::next_send_at(limit, used, Some(oldest), now))
            .map(Timestamp::to_rfc3339);
        Ok(Me {
            id: m.id.to_string(),
            relationship: Relationship {
                state: "self",
                degree: None,
                mutual_connections: 0,
                invitation_id: None,
            },
            email: m.email.clone(),
            tier: m.tier.as_str().to_owned(),
            role: m.role.as_str().to_owned(),
            status: m.status.as_str().to_owned(),
            settings: Settings {
                invitations_from: m.invitations_from.as_str().to_owned(),
                notifications: notifications::settings_view(&m.notification_prefs),
            },
            quota: Quota {
                weekly_limit: limit,
                used,
                remaining: limit.saturating_sub(used),
                next_available_at,
            },
            restriction: self
                .store()
                .active_restriction(m.id, now)
                .await?
                .map(|r| Restriction {
                    reason: r.reason.explain().to_owned(),
                    until: r.until.to_rfc3339(),
                    level: r.level,
                }),
            created_at: m.created_at.to_rfc3339(),
            name: m.name.clone(),
            headline: m.headline.clone(),
            company: m.company.clone(),
            location: m.location.clone(),
        })
    }

    /// The member's own invitation history: totals and the last twelve weeks.
    pub async fn stats(&self, id: MemberId) -> AppResult<Stats> {
        let sent = self.store().all_sent(id).await?;
        Ok(stats::compute(&sent, self.now()))
    }

    /// Everything about the member, as they may see it.
    pub async fn export(&self, id: MemberId) -> AppResult<Export> {
        let profile = self.me(id).await?;
        let sent = self.store().all_sent(id).await?;
        let received = self.store().all_received(id).await?;
        let invitations_sent = self.invitation_views(id, sent).await?;
        let invitations_received = self.invitation_views(id, received).await?;
        let mut connections = Vec::new();
        let mut page = PageRequest {
            cursor: None,
            limit: Some(100),
        };
        loop {
            let p = self.connections(id, None, page.clone()).await?;
            connections.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let blocks = self.blocks(id).await?.items;
        Ok(Export {
            exported_at: self.now().to_rfc3339(),
            profile,
            invitations_sent,
            invitations_received,
            connections,
            blocks,
        })
    }

    /// Hides the member: pending invitations both ways are cancelled silently, connections are kept
    /// for their return, tokens stop working. Signing in again reactivates.
    pub async fn deactivate(&self, id: MemberId) -> AppResult<()> {
        self.store()
            .set_status(id, AccountStatus::Deactivated, self.now())
            .await?;
        self.inner.tokens.forget_member(id);
        tracing::info!(member = %id, "account deactivated");
        Ok(())
    }

    /// Refuses with `429 rate_limited` while `client` has failed too often (for `email`, or for
    /// any email); holds the attempt back a moment while `email` has failed too often from
    /// elsewhere.
    async fn password_attempts_allowed(
        &self,
        email: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> AppResult<()> {
        let failures = self.login_failures(email, client, now).await?;
        let (blocked, delay) = self.inner.logins.judge(&failures);
        if let Some(retry_at) = blocked {
            return Err(rate_limited(retry_at, now));
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }

    /// Refuses with `invalid_credentials` unless `password` is the member's. Failures count
    /// towards the same limit as failed sign-ins, so a stolen token cannot guess the password.
    async fn confirm_password(
        &self,
        id: MemberId,
        password: &str,
        client: IpAddr,
    ) -> AppResult<()> {
        let m = self
            .store()
            .member(id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let now = self.now();
        self.password_attempts_allowed(&m.email, client, now)
            .await?;
        let email = Email::parse(&m.email)?;
        let (_, hash) = self
            .store()
            .login_lookup(&email)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let password = password.to_owned();
        if !self
            .inner
            .hashing
            .run(self.now(), move || auth::verify_password(&password, &hash))
            .await?
        {
            self.login_failed(&m.email, client, now).await?;
            return Err(RuleError::InvalidCredentials.into());
        }
        Ok(())
    }

    /// Changes the password once the current one confirms it. Every session and token of the
    /// member stops working; the new token returned is the only one.
    pub async fn change_password(
        &self,
        id: MemberId,
        current: &str,
        new: &str,
        client: IpAddr,
    ) -> AppResult<String> {
        let new = Password::parse(new).map_err(|_| {
            RuleError::validation("new_password", "must be between 10 and 256 characters")
        })?;
        if !self.has_password(id).await? {
            return Err(AppError::Refused(
                "your account signs in through your community's provider: it has no password to change"
                    .into(),
            ));
        }
        self.confirm_password(id, current, client).await?;
        let hash = self.hash_password(new).await?;
        self.store().set_password(id, hash, self.now()).await?;
        self.inner.tokens.forget_member(id);
        tracing::info!(member = %id, "password changed; every other session signed out");
        self.issue_token(id).await
    }

    /// Closes the account for good, once the password confirms it; a member without a password
    /// (they sign in through the community's provider) confirms it by having signed in within
    /// the last ten minutes with `token`, the request's session.
    pub async fn close(
        &self,
        id: MemberId,
        password: &str,
        token: Option<&str>,
        client: IpAddr,
    ) -> AppResult<()> {
        if self.has_password(id).await? {
            self.confirm_password(id, password, client).await?;
        } else {
            self.confirm_recent_sign_in(id, token).await?;
        }
        self.store().close_member(id, self.now()).await?;
        self.inner.tokens.forget_member(id);
        tracing::info!(member = %id, "account closed");
        Ok(())
    }
}

/// How recent a sign-in confirms closing the account of a member without a password.
const RECENT_SIGN_IN: std::time::Duration = std::time::Duration::from_secs(600);

impl App {
    /// Does the member sign in with a password (or only through a provider)?
    async fn has_password(&self, id: MemberId) -> AppResult<bool> {
        let m = self
            .store()
            .member(id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let email = Email::parse(&m.email)?;
        Ok(self
            .store()
            .login_lookup(&email)
            .await?
            .is_some_and(|(_, hash)| !hash.is_empty()))
    }

    /// Refuses unless `token` is a session of the member's that began within ten minutes.
    async fn confirm_recent_sign_in(&self, id: MemberId, token: Option<&str>) -> AppResult<()> {
        let issued = match token {
            Some(t) => self.store().token(auth::token_hash(t)).await?,
            None => None,
        }
        .filter(|t| t.member == id)
        .map(|t| t.created_at);
        match issued {
            Some(at) if self.now().minus(RECENT_SIGN_IN) <= at => Ok(()),
            _ => Err(AppError::Refused(
                "to close your account, sign in again through your community's provider, then close it within ten minutes"
                    .into(),
            )),
        }
    }
}

/// `429 rate_limited` until `retry_at`.
pub(crate) fn rate_limited(retry_at: Timestamp, now: Timestamp) -> AppError {
    AppError::RateLimited {
        retry_at,
        retry_after: ((retry_at.0 - now.0).max(1000) as u64).div_ceil(1000),
    }
}

/// The refusal of a password sign-in or sign-up when `RAPPORT_PASSWORD_SIGN_IN=false`.
pub(crate) fn password_sign_in_off(config: &crate::Config) -> AppError {
    let with = config
        .oidc
        .first()
        .map_or("your community's provider", |p| p.name.as_str());
    AppError::Refused(format!(
        "this network signs members in with {with}, not with a password"
    ))
}

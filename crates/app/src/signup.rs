//! Signing up: at once, or through a link mailed to the address
//! (`RAPPORT_SIGNUP_CONFIRMATION=email`).
//!
//! With confirmation, every well-formed sign-up gets the same answer whether its address is new or
//! already a member's, and does the same work (the password hashed, a waiting sign-up written, one
//! mail sent), so that sign-up cannot be used to learn who is registered. A new address is mailed
//! a link that creates the account within a day; the owner of a taken address is told that someone
//! tried, with no link. The sign-up waits in the store (`pending_signups`), not in the link: no
//! password hash ever travels in a mail or a URL, and the link is a random token kept only as its
//! hash, like a sign-in token.

use crate::accounts::rate_limited;
use crate::config::SignupConfirmation;
use crate::views::Me;
use crate::{auth, optional_field, App, AppResult};
use rapport_domain::{Email, Password, ProfileField};
use rapport_store::NewMember;
use std::net::IpAddr;
use std::time::Duration;

/// How long a mailed sign-up link works.
pub const SIGNUP_LINK_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a member gives at signup.
#[derive(Debug, Clone, Default)]
pub struct SignupInput {
    pub email: String,
    pub password: String,
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

/// What a sign-up led to.
#[derive(Debug)]
pub enum SignedUp {
    /// The new member, signed in with this token.
    In { me: Box<Me>, token: String },
    /// A mail went to the address; an account exists once its link is followed.
    CheckMail,
}

impl App {
    /// Signs a new member up, from `client` (at most `RAPPORT_SIGNUPS_PER_ADDRESS` an hour each):
    /// at once, or by mail (see the module's doc).
    pub async fn signup(&self, input: SignupInput, client: IpAddr) -> AppResult<SignedUp> {
        if !self.inner.config.password_sign_in {
            return Err(crate::accounts::password_sign_in_off(&self.inner.config));
        }
        let now = self.now();
        if let Some(retry_at) = self.inner.signups.attempt(client, now) {
            return Err(rate_limited(retry_at, now));
        }
        let new = self.new_member(input).await?;
        if self.inner.config.signup_confirmation == SignupConfirmation::None {
            let record = self.store().create_member(new).await?;
            let token = self.issue_token(record.id).await?;
            tracing::info!(member = %record.id, "member signed up");
            let me = Box::new(self.me_view(record).await?);
            return Ok(SignedUp::In { me, token });
        }
        let taken = self.store().member_by_email(&new.email).await?.is_some();
        let link = auth::new_token();
        let (to, name) = (new.email.as_str().to_owned(), new.name.clone());
        // Written for a taken address too (it can never be confirmed: nobody gets its link), so
        // that both take the same work.
        self.store()
            .put_pending_signup(auth::token_hash(&link), new)
            .await?;
        let base = &self.inner.config.base_url;
        let (subject, text) = if taken {
            (
                "Someone tried to sign up to Rapport with your address",
                format!(
                    "Hello,\n\nSomeone tried to sign up to Rapport with this address, which already has an account.\n\n\
                     If it was you, sign in instead: {base}/login\n\n\
                     If it was not you, nothing changed and there is nothing to do.\n"
                ),
            )
        } else {
            (
                "Confirm your address to finish signing up to Rapport",
                format!(
                    "Hello {name},\n\nTo finish signing up to Rapport, open this link within 24 hours:\n\n\
                     {base}/signup/confirm?token={link}\n\n\
                     If you did not sign up, ignore this mail: no account is made without the link.\n"
                ),
            )
        };
        self.send_now(&to, subject, text).await?;
        tracing::info!("sign-up waiting for its address to be confirmed");
        Ok(SignedUp::CheckMail)
    }

    /// Follows a mailed sign-up link: the account is created and signed in. `NotFound` for a link
    /// that is unknown, used, or older than [`SIGNUP_LINK_LIFETIME`]; `EmailTaken` when the
    /// address became a member's meanwhile.
    pub async fn confirm_signup(&self, link: &str) -> AppResult<(Me, String)> {
        let now = self.now();
        let record = self
            .store()
            .confirm_signup(
                auth::token_hash(link.trim()),
                now.minus(SIGNUP_LINK_LIFETIME),
                now,
            )
            .await??;
        let token = self.issue_token(record.id).await?;
        tracing::info!(member = %record.id, "member signed up, address confirmed");
        Ok((self.me_view(record).await?, token))
    }

    /// The member a sign-up asks for, checked, with its password hashed.
    async fn new_member(&self, input: SignupInput) -> AppResult<NewMember> {
        let email = Email::parse(&input.email)?;
        let password = Password::parse(&input.password)?;
        let name = ProfileField::name(&input.name)?.into_string();
        let headline =
            optional_field("headline", input.headline.as_deref(), 200)?.unwrap_or_default();
        let company = optional_field("company", input.company.as_deref(), 100)?.unwrap_or_default();
        let location =
            optional_field("location", input.location.as_deref(), 100)?.unwrap_or_default();
        let password_hash = self.hash_password(password).await?;
        Ok(NewMember {
            email,
            password_hash,
            name,
            headline,
            company,
            location,
            at: self.now(),
        })
    }
}

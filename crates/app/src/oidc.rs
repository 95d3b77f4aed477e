//! Signing in through the community's OpenID provider: the authorization code flow with PKCE
//! (`openidconnect`, a maintained and certified-against implementation of the relying party).
//!
//! `GET /auth/oidc/start` sends the browser to the provider with a fresh state, nonce and PKCE
//! challenge, kept in a short-lived cookie signed under the server's secret (nothing is stored,
//! so any replica can finish the flow). `GET /auth/oidc/callback` checks the state against the
//! cookie, exchanges the code with the PKCE verifier, and validates the ID token: issuer,
//! audience (this client only), expiry against the server's clock, the nonce, and the signature
//! against the provider's published keys. The discovery document and keys are
//! cached for an hour; a token signed by a key they do not hold makes Rapport read them again
//! once (the provider rotated its keys) before it is refused.
//!
//! The member is found by the provider's subject (kept as an external identity), else by the
//! community id equal to that subject (a member provisioned by the provider's ids; only when
//! there is one provider), else by a verified email address of a member who has no password and
//! is not an administrator; else created from the claims (`RAPPORT_OIDC_ON_FIRST_SIGN_IN=create`)
//! or refused (`link`).

use crate::config::{FirstSignIn, OidcSettings};
use crate::{App, AppError, AppResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};
use rapport_domain::identity::COMMUNITY;
use rapport_domain::{AccountStatus, Email, MemberId, ProfileField, RuleError, Timestamp};
use rapport_store::{MemberRecord, NewMember};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a sign-in at the provider may take, from start to callback.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(600);
/// How long the provider's discovery document and keys are kept before they are read again.
const METADATA_LIFETIME: Duration = Duration::from_secs(3600);
/// A client built from discovery: authorization and token endpoints known, user info maybe.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the flow cookie is signed for.
const FLOW: &str = "oidc-flow";

/// One provider: its settings and its discovery document (with its keys), as last read.
pub(crate) struct Provider {
    settings: OidcSettings,
    metadata: Mutex<Option<(CoreProviderMetadata, Timestamp)>>,
}

impl Provider {
    pub(crate) fn new(settings: OidcSettings) -> Provider {
        Provider {
            settings,
            metadata: Mutex::new(None),
        }
    }
}

/// What the flow cookie carries between start and callback.
#[derive(Serialize, Deserialize)]
struct Flow {
    /// Which provider (its index in the settings).
    p: usize,
    state: String,
    nonce: String,
    verifier: String,
    /// Until when (ms since the epoch).
    until: i64,
    /// Where to go once signed in (a path of this site).
    next: String,
}

/// A sign-in started: where to send the browser, and the cookie to set with it.
pub struct Started {
    pub url: String,
    pub cookie: String,
}

/// A sign-in finished: the member, a fresh session token for them, and where to go.
pub struct SignedIn {
    pub member: MemberId,
    pub token: String,
    pub next: String,
}

/// The claims Rapport uses, validated.
struct Identity {
    issuer: String,
    subject: String,
    /// Only when the provider says it is verified.
    verified_email: Option<String>,
    name: Option<String>,
}

fn refused(why: impl Into<String>) -> AppError {
    AppError::Refused(why.into())
}

fn unreachable_provider(e: impl std::fmt::Display) -> AppError {
    AppError::Unavailable(format!("the sign-in provider cannot be reached: {e}"))
}

impl App {
    /// The providers members may sign in with, for the pages' buttons.
    pub fn oidc_providers(&self) -> &[OidcSettings] {
        &self.inner.config.oidc
    }

    fn provider(&self, index: usize) -> AppResult<&Provider> {
        self.inner.oidc.get(index).ok_or(RuleError::NotFound.into())
    }

    /// The provider's discovery document and keys: as cached, or read again when older than an
    /// hour or when `fresh`.
    async fn metadata(&self, p: &Provider, fresh: bool) -> AppResult<CoreProviderMetadata> {
        let mut cached = p.metadata.lock().await;
        let now = self.now();
        if let Some((m, at)) = cached.as_ref() {
            if !fresh && now.minus(METADATA_LIFETIME) < *at {
                return Ok(m.clone());
            }
        }
        let issuer = IssuerUrl::new(p.settings.issuer.clone())
            .map_err(|e| AppError::Internal(format!("issuer URL: {e}")))?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.inner.oidc_http)
            .await
            .map_err(unreachable_provider)?;
        *cached = Some((m.clone(), now));
        Ok(m)
    }

    /// This server as `p`'s client, from the provider's discovery document.
    fn client(&self, p: &Provider, metadata: CoreProviderMetadata) -> AppResult<Client> {
        let redirect =
            RedirectUrl::new(format!("{}/auth/oidc/callback", self.inner.config.base_url))
                .map_err(|e| AppError::Internal(format!("redirect URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(p.settings.client_id.clone()),
            Some(ClientSecret::new(p.settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts signing in with provider `index`; `next` is where to go after (a checked path).
    pub async fn oidc_start(&self, index: usize, next: &str) -> AppResult<Started> {
        let p = self.provider(index)?;
        let metadata = self.metadata(p, false).await?;
        let client = self.client(p, metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in p.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let flow = Flow {
            p: index,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            until: self.now().plus(FLOW_LIFETIME).0,
            next: next.to_owned(),
        };
        let payload = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&flow).map_err(|e| AppError::Internal(e.to_string()))?);
        let signature = self.signer().sign(FLOW, &payload);
        Ok(Started {
            url: url.to_string(),
            cookie: format!("{payload}.{signature}"),
        })
    }

    /// Finishes signing in: `cookie` is the flow cookie, `code` and `state` what the provider sent
    /// back. Every failure is refused with a sentence saying to start again.
    pub async fn oidc_finish(
        &self,
        cookie: Option<&str>,
        code: &str,
        state: &str,
    ) -> AppResult<SignedIn> {
        let flow = self.flow(cookie)?;
        if !bool::from(subtle_eq(flow.state.as_bytes(), state.as_bytes())) {
            return Err(refused(
                "this sign-in answer is not for the sign-in this browser started; sign in again",
            ));
        }
        let p = self.provider(flow.p)?;
        let identity = self.validated(p, &flow, code).await?;
        let member = self.oidc_member(p, &identity).await?;
        let member = if member.status == AccountStatus::Deactivated {
            tracing::info!(member = %member.id, "account reactivated");
            self.store()
                .set_status(member.id, AccountStatus::Active, self.now())
                .await?
        } else {
            member
        };
        let token = self.issue_token(member.id).await?;
        tracing::info!(member = %member.id, issuer = %identity.issuer, "signed in through the provider");
        Ok(SignedIn {
            member: member.id,
            token,
            next: flow.next,
        })
    }

    /// The flow the cookie carries, when it is this server's and not expired.
    fn flow(&self, cookie: Option<&str>) -> AppResult<Flow> {
        let again = || {
            refused("this sign-in took too long or was started in another browser; sign in again")
        };
        let (payload, signature) = cookie.and_then(|c| c.split_once('.')).ok_or_else(again)?;
        if !self.signer().verify(FLOW, payload, signature) {
            return Err(again());
        }
        let flow: Flow = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(again)?;
        if flow.until < self.now().0 {
            return Err(again());
        }
        Ok(flow)
    }

    /// Exchanges the code and validates the ID token (reading the provider's keys again once
    /// when the token's key is not among them).
    async fn validated(&self, p: &Provider, flow: &Flow, code: &str) -> AppResult<Identity> {
        let mut fresh = false;
        let metadata = self.metadata(p, false).await?;
        let client = self.client(p, metadata)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| AppError::Internal(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&self.inner.oidc_http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::Request(e) => unreachable_provider(e),
                other => refused(format!(
                    "the provider did not accept this sign-in ({other}); sign in again"
                )),
            })?;
        let token = response
            .id_token()
            .ok_or_else(|| refused("the provider sent no ID token; sign in again"))?
            .clone();
        let nonce = Nonce::new(flow.nonce.clone());
        loop {
            let metadata = self.metadata(p, fresh).await?;
            let client = self.client(p, metadata)?;
            let clock = self.inner.clock.clone();
            let verifier = client.id_token_verifier().set_time_fn(move || {
                chrono::DateTime::from_timestamp_millis(clock.now().0).unwrap_or_default()
            });
            match token.claims(&verifier, &nonce) {
                Ok(claims) => return Ok(identity(claims)),
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if !fresh => fresh = true,
                Err(e) => {
                    tracing::warn!(error = %e, issuer = %p.settings.issuer, "ID token refused");
                    return Err(refused(format!(
                        "the provider's answer could not be verified ({e}); sign in again"
                    )));
                }
            }
        }
    }

    /// The member this identity signs in as (see the module's doc).
    async fn oidc_member(&self, p: &Provider, id: &Identity) -> AppResult<Arc<MemberRecord>> {
        let store = self.store();
        let now = self.now();
        let known = match store.external_member(&id.issuer, &id.subject).await? {
            Some(m) => Some(m),
            None => {
                // The community's ids are its provider's subjects only when there is one
                // provider: with several, a subject of one could be another's community id.
                let provisioned = if self.inner.oidc.len() == 1 {
                    store.external_member(COMMUNITY, &id.subject).await?
                } else {
                    None
                };
                // By address, only a member with neither a password nor an administrator's
                // role: someone who signed up with a password, or an administrator, is not handed
                // to whoever the provider vouches for at that address (an address registered
                // first by someone else, or recycled by the provider).
                let by_email = match (&provisioned, &id.verified_email) {
                    (None, Some(email)) => match Email::parse(email) {
                        Ok(e) => match store.login_lookup(&e).await? {
                            Some((m, hash)) if hash.is_empty() => store
                                .member(m)
                                .await?
                                .filter(|m| !m.is_admin())
                                .map(|m| m.id),
                            _ => None,
                        },
                        Err(_) => None,
                    },
                    _ => None,
                };
                match provisioned.or(by_email) {
                    Some(m) => Some(self.link(&id.issuer, &id.subject, m, now).await?),
                    None => None,
                }
            }
        };
        let id_member = match known {
            Some(m) => m,
            None => self.oidc_create(p, id, now).await?,
        };
        let m = store.member(id_member).await?.ok_or(RuleError::NotFound)?;
        if !m.status.may_sign_in() {
            return Err(refused("this account cannot sign in"));
        }
        Ok(m)
    }

    /// Links an identity to `m`; the member it names in the end (another sign-in may have linked
    /// it meanwhile). Refused when it names nobody (the account was closed meanwhile).
    async fn link(
        &self,
        issuer: &str,
        subject: &str,
        m: MemberId,
        at: Timestamp,
    ) -> AppResult<MemberId> {
        if self.store().link_identity(issuer, subject, m, at).await? {
            return Ok(m);
        }
        self.store()
            .external_member(issuer, subject)
            .await?
            .ok_or_else(|| refused("this account cannot sign in"))
    }

    async fn oidc_create(
        &self,
        p: &Provider,
        id: &Identity,
        now: Timestamp,
    ) -> AppResult<MemberId> {
        let held = match id.verified_email.as_deref().map(Email::parse) {
            Some(Ok(e)) => self.store().member_by_email(&e).await?.is_some(),
            _ => false,
        };
        if held {
            return Err(refused(
                "an account with your address signs in with a password here: sign in with it",
            ));
        }
        if p.settings.on_first_sign_in == FirstSignIn::Link {
            return Err(refused(
                "no member of this community has your address yet: ask an administrator to add you",
            ));
        }
        let email = id.verified_email.as_deref().ok_or_else(|| {
            refused(
                "your provider did not share a verified email address, which a new member needs",
            )
        })?;
        let email = Email::parse(email)?;
        let name = id
            .name
            .as_deref()
            .and_then(|n| ProfileField::name(n).ok())
            .map(ProfileField::into_string)
            .unwrap_or_else(|| {
                email
                    .as_str()
                    .split('@')
                    .next()
                    .unwrap_or("Member")
                    .to_owned()
            });
        let created = match self
            .store()
            .create_member(NewMember {
                email,
                password_hash: String::new(),
                name,
                headline: String::new(),
                company: String::new(),
                location: String::new(),
                at: now,
            })
            .await
        {
            Err(rapport_store::StoreError::Rule(RuleError::EmailTaken)) => {
                return Err(refused(
                    "an account with your address signs in with a password here: sign in with it",
                ))
            }
            other => other?,
        };
        let linked = self.link(&id.issuer, &id.subject, created.id, now).await?;
        tracing::info!(member = %created.id, "member created at their first sign-in through the provider");
        Ok(linked)
    }
}

fn identity(c: &CoreIdTokenClaims) -> Identity {
    Identity {
        issuer: c.issuer().as_str().to_owned(),
        subject: c.subject().as_str().to_owned(),
        verified_email: c
            .email()
            .filter(|_| c.email_verified() == Some(true))
            .map(|e| e.as_str().to_owned()),
        name: c
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
    }
}

/// Constant-time comparison of two byte strings (the state is a secret of the flow).
fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    if a.len() != b.len() {
        return subtle::Choice::from(0);
    }
    a.ct_eq(b)
}

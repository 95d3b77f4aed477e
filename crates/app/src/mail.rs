//! Mail: what the outbox queued for each member's inbox, sent at once or gathered into daily and
//! weekly digests, through real SMTP (`RAPPORT_SMTP_URL`) or as `.eml` files in
//! `<data dir>/outbox/`.
//!
//! A mail about an invitation is checked again just before it goes out: one withdrawn (or gone
//! any other way) in the meantime is never mailed. A queued item is deleted only once its mail
//! was handed to the transport, so a restart never loses one; a crash between the hand-over and
//! the deletion can send it twice, which the stable `Message-ID` lets mail clients fold away.

use crate::{App, AppError, AppResult, Config};
use askama::Template;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rapport_domain::{EmailCadence, InvitationState, MailList, MemberId, NotificationKind};
use rapport_store::MailItem;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// How often the mailer looks for due mail.
const TICK: Duration = Duration::from_secs(1);

pub(crate) enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    pub(crate) fn from_config(c: &Config) -> AppResult<Transport> {
        match &c.smtp_url {
            Some(url) => {
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| {
                        AppError::Internal(format!(
                            "RAPPORT_SMTP_URL is not an SMTP URL such as smtp://host:25 or smtps://user:pass@host: {e}"
                        ))
                    })?
                    .timeout(Some(Duration::from_secs(10)))
                    .build();
                Ok(Transport::Smtp(t))
            }
            None => {
                let dir = c.data_dir.join("outbox");
                std::fs::create_dir_all(&dir).map_err(|e| {
                    AppError::Internal(format!("cannot create {}: {e}", dir.display()))
                })?;
                Ok(Transport::Files(AsyncFileTransport::new(dir)))
            }
        }
    }

    async fn send(&self, m: Message) -> Result<(), String> {
        match self {
            Transport::Smtp(t) => t.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
            Transport::Files(t) => t.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

/// `List-Unsubscribe` (RFC 2369): the signed link that stops this kind of mail (or this digest)
/// for this member, in one click (see `App::unsubscribe`).
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post` (RFC 8058): the `List-Unsubscribe` link takes a one-click POST.
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

struct Line {
    text: String,
    url: String,
}

#[derive(Template)]
#[template(path = "mail/mail.txt")]
struct TextMail<'a> {
    name: &'a str,
    intro: &'a str,
    lines: &'a [Line],
    settings_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/mail.html")]
struct HtmlMail<'a> {
    subject: &'a str,
    name: &'a str,
    intro: &'a str,
    lines: &'a [Line],
    settings_url: &'a str,
}

/// One mail to write: a single item, or every waiting item of a digest.
struct Outgoing {
    member: MemberId,
    cadence: EmailCadence,
    items: Vec<MailItem>,
}

/// One mail per immediate item; one per member and cadence for digest items.
fn group(items: Vec<MailItem>) -> Vec<Outgoing> {
    let mut out: Vec<Outgoing> = Vec::new();
    let mut digests: BTreeMap<(MemberId, &'static str), usize> = BTreeMap::new();
    for item in items {
        let digest =
            (item.cadence != EmailCadence::Immediate).then(|| (item.member, item.cadence.as_str()));
        if let Some(&i) = digest.and_then(|key| digests.get(&key)) {
            out[i].items.push(item);
            continue;
        }
        if let Some(key) = digest {
            digests.insert(key, out.len());
        }
        out.push(Outgoing {
            member: item.member,
            cadence: item.cadence,
            items: vec![item],
        });
    }
    out
}

impl App {
    /// One pass of the mailer: sends what is due. Returns how many mails went out.
    pub async fn deliver_mail(&self) -> AppResult<usize> {
        let now = self.now();
        let items = self.store().due_mail(now, 200).await?;
        if items.is_empty() {
            return Ok(0);
        }
        let mut done = Vec::new();
        let mut sent = 0;
        for mail in group(items) {
            let ids: Vec<i64> = mail.items.iter().map(|i| i.id).collect();
            match self.compose(&mail).await? {
                None => done.extend(ids),
                Some(message) => match self.inner.mail.send(message).await {
                    Ok(()) => {
                        done.extend(ids);
                        sent += 1;
                        metrics::counter!("rapport_mail_sent_total", "cadence" => mail.cadence.as_str())
                            .increment(1);
                    }
                    Err(e) => {
                        metrics::counter!("rapport_mail_failures_total").increment(1);
                        tracing::warn!(error = %e, "mail could not be sent; will try again");
                        break;
                    }
                },
            }
        }
        self.store().mail_done(done).await?;
        Ok(sent)
    }

    /// The mail for a group of items, or `None` when nothing in it still needs saying.
    async fn compose(&self, mail: &Outgoing) -> AppResult<Option<Message>> {
        let Some(member) = self.store().member(mail.member).await? else {
            return Ok(None);
        };
        if !member.is_active() {
            return Ok(None);
        }
        let base = &self.inner.config.base_url;
        let hidden = self.hidden(member.id).await?;
        // Every actor of the mail in one look-up, not one per line of a digest.
        let mut ids: Vec<MemberId> = mail.items.iter().filter_map(|i| i.actor).collect();
        ids.sort_unstable();
        ids.dedup();
        let actors: std::collections::HashMap<MemberId, _> = self
            .store()
            .members(&ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut lines = Vec::new();
        for item in &mail.items {
            if item.kind.about_pending_invitation() {
                let still_pending = match item.invitation {
                    Some(id) => self
                        .store()
                        .invitation(id)
                        .await?
                        .is_some_and(|i| i.state == InvitationState::Pending),
                    None => false,
                };
                if !still_pending {
                    continue;
                }
            }
            let actor = match item.actor {
                Some(a) if hidden.contains(&a) => continue,
                Some(a) => match actors.get(&a) {
                    Some(m) if m.is_active() => Some(m),
                    _ => continue,
                },
                None => None,
            };
            let who = actor.as_ref().map_or("Someone", |m| m.name.as_str());
            let (text, url) = match item.kind {
                NotificationKind::InvitationReceived => (
                    format!("{who} invited you to connect"),
                    format!("{base}/invitations"),
                ),
                NotificationKind::InvitationReminder => (
                    format!("{who}'s invitation is waiting for your answer"),
                    format!("{base}/invitations"),
                ),
                NotificationKind::InvitationAccepted => (
                    format!("{who} accepted your invitation: you are now connected"),
                    actor.as_ref().map_or_else(
                        || format!("{base}/network"),
                        |m| format!("{base}/in/{}", m.id),
                    ),
                ),
                NotificationKind::InvitationWithdrawn => (
                    format!("{who} withdrew their invitation"),
                    format!("{base}/invitations"),
                ),
                NotificationKind::RestrictionApplied => (
                    "Sending invitations is restricted for your account for a while: see why"
                        .to_owned(),
                    format!("{base}/settings"),
                ),
                NotificationKind::RestrictionLifted => (
                    "You can send invitations again".to_owned(),
                    format!("{base}/network"),
                ),
            };
            lines.push(Line { text, url });
        }
        if lines.is_empty() {
            return Ok(None);
        }
        let (subject, intro) = match mail.cadence {
            EmailCadence::Daily | EmailCadence::Weekly => {
                let period = if mail.cadence == EmailCadence::Daily {
                    "day"
                } else {
                    "week"
                };
                (
                    format!(
                        "Your Rapport digest: {} update{}",
                        lines.len(),
                        if lines.len() == 1 { "" } else { "s" }
                    ),
                    format!("Here is what happened in your network this {period}:"),
                )
            }
            EmailCadence::Off | EmailCadence::Immediate => (
                lines[0].text.clone(),
                "There is news in your network:".to_owned(),
            ),
        };
        let unsubscribe =
            self.unsubscribe_url(mail.member, MailList::of(mail.items[0].kind, mail.cadence));
        let settings_url = format!("{base}/settings");
        let text = TextMail {
            name: &member.name,
            intro: &intro,
            lines: &lines,
            settings_url: &settings_url,
        }
        .render()
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let html = HtmlMail {
            subject: &subject,
            name: &member.name,
            intro: &intro,
            lines: &lines,
            settings_url: &settings_url,
        }
        .render()
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let from = self.mail_from()?;
        let to = match member.email.parse() {
            Ok(address) => Mailbox::new(Some(member.name.clone()), address),
            Err(_) => return Ok(None),
        };
        let host = base
            .split("://")
            .nth(1)
            .unwrap_or("rapport")
            .split(['/', ':'])
            .next()
            .unwrap_or("rapport");
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<mail-{}@{host}>", mail.items[0].id)))
            .header(ListUnsubscribe(format!("<{unsubscribe}>")))
            .header(ListUnsubscribePost)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Some(message))
    }

    /// The `From` of every mail (`RAPPORT_MAIL_FROM`, checked when the configuration is read).
    fn mail_from(&self) -> AppResult<Mailbox> {
        self.inner
            .config
            .mail_from
            .parse()
            .map_err(|e| AppError::Internal(format!("mail_from: {e}")))
    }

    /// Sends one plain-text mail at once, not through the queue (a sign-up link: there is no
    /// member to queue it for yet). `Unavailable` when the mail server does not take it.
    pub(crate) async fn send_now(&self, to: &str, subject: &str, text: String) -> AppResult<()> {
        let from = self.mail_from()?;
        let to: Mailbox = to
            .parse()
            .map_err(|e| AppError::Internal(format!("a sign-up address: {e}")))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        match self.inner.mail.send(message).await {
            Ok(()) => {
                metrics::counter!("rapport_mail_sent_total", "cadence" => "now").increment(1);
                Ok(())
            }
            Err(e) => {
                metrics::counter!("rapport_mail_failures_total").increment(1);
                tracing::warn!(error = %e, "a sign-up mail could not be sent");
                Err(AppError::Unavailable(
                    "the mail server did not take the mail; try again in a minute".into(),
                ))
            }
        }
    }

    /// Sends due mail every second until `stop`.
    pub(crate) async fn run_mailer(&self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if !self.leads() {
                if !crate::workers::pause(&mut stop, TICK).await {
                    break;
                }
                continue;
            }
            if let Err(e) = self.deliver_mail().await {
                tracing::warn!(error = %e, "mail pass failed; will try again");
            }
            if let Ok(depth) = self.store().mail_queue_depth().await {
                metrics::gauge!("rapport_mail_queue_depth").set(depth as f64);
            }
            if !crate::workers::pause(&mut stop, TICK).await {
                break;
            }
        }
    }
}

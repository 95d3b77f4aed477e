//! The settings' parsing, checked one rule at a time.

use super::*;

#[test]
fn defaults_match_the_product_rules() {
    let c = Config::defaults();
    assert_eq!(c.weekly_invitation_limit, 100);
    assert_eq!(c.premium_weekly_invitation_limit, 200);
    assert_eq!(c.note_max_chars, 300);
    assert_eq!(c.reinvite_cooldown, Duration::from_secs(21 * 86_400));
    assert_eq!(
        c.reminders,
        vec![
            Duration::from_secs(7 * 86_400),
            Duration::from_secs(21 * 86_400)
        ]
    );
    assert_eq!(
        c.database,
        Database::Sqlite(PathBuf::from("./rapport-data/rapport.db"))
    );
    assert_eq!(c.withdrawal_notice, WithdrawalNotice::Silent);
    assert_eq!(
        c.token_lifetime,
        TokenLifetime {
            absolute: Duration::from_secs(30 * 86_400),
            idle: Duration::from_secs(7 * 86_400),
        }
    );
    assert_eq!(c.idempotency_keys_per_member, 10_000);
}

#[test]
fn token_lifetimes_must_make_sense_together() {
    let check = |absolute: &str, idle: &str| {
        RawConfig {
            token_lifetime: absolute.into(),
            token_idle_lifetime: idle.into(),
            ..Default::default()
        }
        .check()
        .map(|c| c.token_lifetime)
        .map_err(|e| e.to_string())
    };
    assert!(check("12h", "1h").is_ok());
    let err = check("1h", "12h").unwrap_err();
    assert!(err.contains("RAPPORT_TOKEN_LIFETIME"), "{err}");
    let err = check("30d", "30s").unwrap_err();
    assert!(err.contains("RAPPORT_TOKEN_IDLE_LIFETIME"), "{err}");
    let err = check("forever", "7d").unwrap_err();
    assert!(err.contains("RAPPORT_TOKEN_LIFETIME"), "{err}");
}

#[test]
fn bad_values_name_the_setting() {
    let raw = RawConfig {
        reinvite_cooldown: "soon".into(),
        ..Default::default()
    };
    let err = raw.check().unwrap_err().to_string();
    assert!(err.contains("RAPPORT_REINVITE_COOLDOWN"), "{err}");
    let raw = RawConfig {
        database_url: Some("mysql://x".into()),
        ..Default::default()
    };
    assert!(raw
        .check()
        .unwrap_err()
        .to_string()
        .contains("RAPPORT_DATABASE_URL"));
    let raw = RawConfig {
        weekly_invitation_limit: 0,
        ..Default::default()
    };
    assert!(raw.check().is_err());
}

#[test]
fn the_sqlite_max_size_is_written_in_bytes_or_with_a_unit() {
    let size = |v: &str| {
        RawConfig {
            sqlite_max_size: Some(RawSize::Written(v.into())),
            ..Default::default()
        }
        .check()
        .map(|c| c.sqlite_max_size)
        .map_err(|e| e.to_string())
    };
    assert_eq!(Config::defaults().sqlite_max_size, None);
    assert_eq!(size(""), Ok(None));
    assert_eq!(size("2000000"), Ok(Some(2_000_000)));
    assert_eq!(size("10MB"), Ok(Some(10_000_000)));
    assert_eq!(size("2 GiB"), Ok(Some(2 << 30)));
    for bad in ["lots", "-5MB", "10 parsecs", "1KB"] {
        let err = size(bad).unwrap_err();
        assert!(err.contains("RAPPORT_SQLITE_MAX_SIZE"), "{bad}: {err}");
    }
    let on_postgres = RawConfig {
        sqlite_max_size: Some(RawSize::Written("10MB".into())),
        database_url: Some("postgres://db/rapport".into()),
        ..Default::default()
    };
    let err = on_postgres.check().unwrap_err().to_string();
    assert!(err.contains("PostgreSQL"), "{err}");
}

#[test]
fn a_base_url_loses_its_trailing_slash_but_not_its_host() {
    let base = |url: &str| {
        RawConfig {
            base_url: Some(url.into()),
            ..Default::default()
        }
        .check()
        .map(|c| c.base_url)
        .map_err(|e| e.to_string())
    };
    assert_eq!(
        base("https://rapport.example.com/"),
        Ok("https://rapport.example.com".into())
    );
    for bad in ["https:///", "http://", "rapport.example.com"] {
        let err = base(bad).unwrap_err();
        assert!(err.contains("RAPPORT_BASE_URL"), "{bad}: {err}");
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment's test jail returns its own error type
fn environment_wins_over_the_file() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "rapport.toml",
            "weekly_invitation_limit = 5\nnote_max_chars = 50",
        )?;
        jail.set_env("RAPPORT_WEEKLY_INVITATION_LIMIT", "7");
        // A plain number of bytes reads as a number from the environment: taken all the same.
        jail.set_env("RAPPORT_SQLITE_MAX_SIZE", "5000000");
        let c = Config::load(Path::new("rapport.toml")).expect("loads");
        assert_eq!(c.weekly_invitation_limit, 7);
        assert_eq!(c.sqlite_max_size, Some(5_000_000));
        assert_eq!(c.note_max_chars, 50);
        Ok(())
    });
}

#[test]
fn a_wrong_database_url_is_named_without_its_password() {
    for raw in [
        RawConfig {
            database_url: Some("mysql://app:s3cret@db/rapport".into()),
            ..RawConfig::default()
        },
        RawConfig {
            database_read_url: Some("postgres://app:s3cret@replica/rapport".into()),
            ..RawConfig::default()
        },
        RawConfig {
            database_url: Some("postgres://app@db/rapport".into()),
            database_read_url: Some("mysql://app:s3cret@replica/rapport?password=s3cret".into()),
            ..RawConfig::default()
        },
    ] {
        let message = raw.check().expect_err("refused").to_string();
        assert!(!message.contains("s3cret"), "{message}");
        assert!(message.contains("app:***@"), "{message}");
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment's test jail returns its own error type
fn providers_come_from_the_environment_and_from_the_files_list() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "rapport.toml",
            r#"
[[oidc_providers]]
issuer = "https://staff.example.org"
client_id = "rapport"
client_secret = "s"
name = "Staff"
on_first_sign_in = "link"
"#,
        )?;
        jail.set_env("RAPPORT_OIDC_ISSUER", "https://id.example.org");
        jail.set_env("RAPPORT_OIDC_CLIENT_ID", "rapport");
        jail.set_env("RAPPORT_OIDC_CLIENT_SECRET", "secret");
        jail.set_env("RAPPORT_OIDC_NAME", "Alumni");
        jail.set_env("RAPPORT_PASSWORD_SIGN_IN", "false");
        let c = Config::load(Path::new("rapport.toml")).expect("loads");
        let names: Vec<&str> = c.oidc.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Alumni", "Staff"]);
        assert_eq!(c.oidc[0].on_first_sign_in, FirstSignIn::Create);
        assert_eq!(c.oidc[1].on_first_sign_in, FirstSignIn::Link);
        assert_eq!(c.oidc[1].scopes, ["openid", "email", "profile"]);
        assert!(!c.password_sign_in);
        assert!(
            !format!("{:?}", c.oidc).contains("secret\""),
            "no secret in Debug"
        );
        Ok(())
    });
}

#[test]
fn provider_settings_are_checked() {
    let with = |f: &dyn Fn(&mut RawConfig)| {
        let mut raw = RawConfig {
            oidc_issuer: Some("https://id.example.org".into()),
            oidc_client_id: Some("rapport".into()),
            oidc_client_secret: Some("secret".into()),
            ..Default::default()
        };
        f(&mut raw);
        raw.check().map(|_| ()).map_err(|e| e.to_string())
    };
    assert_eq!(with(&|_| {}), Ok(()));
    for (bad, named) in [
        (
            &(|r: &mut RawConfig| r.oidc_issuer = Some("id.example.org".into()))
                as &dyn Fn(&mut RawConfig),
            "RAPPORT_OIDC_ISSUER",
        ),
        (
            &|r: &mut RawConfig| r.oidc_client_secret = None,
            "RAPPORT_OIDC_CLIENT_SECRET",
        ),
        (
            &|r: &mut RawConfig| r.oidc_scopes = "email".into(),
            "RAPPORT_OIDC_SCOPES",
        ),
        (
            &|r: &mut RawConfig| r.oidc_on_first_sign_in = "maybe".into(),
            "RAPPORT_OIDC_ON_FIRST_SIGN_IN",
        ),
        (
            &|r: &mut RawConfig| {
                r.oidc_issuer = None;
                r.password_sign_in = false;
            },
            "RAPPORT_PASSWORD_SIGN_IN",
        ),
    ] {
        let err = with(bad).expect_err("refused");
        assert!(err.contains(named), "{named}: {err}");
    }
}

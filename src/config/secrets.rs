//! The service's own secrets (payment, platform, moderation, RTMP tier): read once at start from a file
//! when one is named, else from the environment, and never printed.

use std::path::Path;

use super::{
    ConfigError, ServiceConfig, MODERATION_SECRET_ENV, NGINX_SECRET_ENV, PAYMENT_SECRET_ENV, PLATFORM_SECRET_ENV,
};

impl ServiceConfig {
    /// The payment, platform, moderation and RTMP tier secrets: from their files when set, else
    /// from the environment.
    pub fn secrets(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Secrets, ConfigError> {
        Ok(Secrets {
            payment: secret("payment_secret_file", self.payment_secret_file.as_deref(), env(PAYMENT_SECRET_ENV))?,
            platform: secret("platform_secret_file", self.platform_secret_file.as_deref(), env(PLATFORM_SECRET_ENV))?,
            moderation: secret(
                "moderation_secret_file",
                self.moderation_secret_file.as_deref(),
                env(MODERATION_SECRET_ENV),
            )?,
            nginx: secret("nginx_secret_file", self.nginx_secret_file.as_deref(), env(NGINX_SECRET_ENV))?,
        })
    }

    /// The effective configuration as TOML, with where each secret comes from (never its value).
    pub fn print(&self, secrets: &Secrets) -> String {
        let db = crate::store::describe(&self.db_url());
        let masked = ServiceConfig { db: db.into(), ..self.clone() };
        let mut out = toml::to_string(&masked).unwrap_or_default();
        for (name, s, env, file) in [
            ("payment", &secrets.payment, PAYMENT_SECRET_ENV, &self.payment_secret_file),
            ("platform", &secrets.platform, PLATFORM_SECRET_ENV, &self.platform_secret_file),
            ("moderation", &secrets.moderation, MODERATION_SECRET_ENV, &self.moderation_secret_file),
            ("nginx", &secrets.nginx, NGINX_SECRET_ENV, &self.nginx_secret_file),
        ] {
            let from = match (s, file) {
                (None, _) => "not set".to_string(),
                (Some(_), Some(_)) => format!("set (from {name}_secret_file)"),
                (Some(_), None) => format!("set (from {env})"),
            };
            out.push_str(&format!("# {name} secret: {from}\n"));
        }
        out
    }
}

/// The service's secrets, read once at start.
#[derive(Clone, Default)]
pub struct Secrets {
    pub payment: Option<String>,
    pub platform: Option<String>,
    pub moderation: Option<String>,
    /// What the RTMP tier's callbacks carry.
    pub nginx: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |s: &Option<String>| if s.is_some() { "set" } else { "not set" };
        write!(
            f,
            "Secrets {{ payment: {}, platform: {}, moderation: {}, nginx: {} }}",
            shown(&self.payment),
            shown(&self.platform),
            shown(&self.moderation),
            shown(&self.nginx)
        )
    }
}

fn secret(key: &'static str, file: Option<&Path>, env: Option<String>) -> Result<Option<String>, ConfigError> {
    let value = match file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| ConfigError::Secret { key, path: p.to_path_buf(), why: e.to_string() })?
            .trim()
            .to_string(),
        None => env.unwrap_or_default(),
    };
    Ok(Some(value).filter(|v| !v.is_empty()))
}
